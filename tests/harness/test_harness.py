"""The harness proves itself on tiny throwaway programs written to tmp_path."""

from __future__ import annotations

import ipaddress
import textwrap
import threading
from pathlib import Path

import pytest

from tests.harness import (
    UNKNOWN,
    BaseMocks,
    assert_valid_inputs,
    check_inputs,
    check_run,
    is_unknown,
    run_program,
)
from tests.harness.fake_values import UnknownInvokeError


def write_program(tmp_path: Path, source: str, **modules: str) -> Path:
    (tmp_path / "__main__.py").write_text(textwrap.dedent(source))
    for name, text in modules.items():
        path = tmp_path / (name.replace(".", "/") + ".py")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))
    return tmp_path


SG_PROGRAM = """
    import pulumi_aws as aws

    vpc = aws.ec2.Vpc("vpc", cidr_block="10.0.0.0/16")
    aws.ec2.SecurityGroup("good", vpc_id=vpc.id,
        ingress=[{"from_port": 22, "to_port": 22, "protocol": "tcp", "cidr_blocks": ["0.0.0.0/0"]}],
        egress=[aws.ec2.SecurityGroupEgressArgs(from_port=0, to_port=0, protocol="-1", cidr_blocks=["0.0.0.0/0"])])
    aws.ec2.SecurityGroup("typo", vpc_id=vpc.id,
        ingress=[{"fromPorts": 22, "to_port": 22, "protocol": "tcp", "cidr_blocks": ["0.0.0.0/0"]}])
    aws.ec2.SecurityGroup("noproto", vpc_id=vpc.id,
        ingress=[{"from_port": 80, "to_port": 80, "cidr_blocks": ["0.0.0.0/0"]}])
"""


# ---------------------------------------------------------------------------------------------
# SDK type checks
# ---------------------------------------------------------------------------------------------


def test_misspelt_nested_key_and_missing_nested_required_are_reported(tmp_path):
    run = run_program(write_program(tmp_path, SG_PROGRAM), "staging", preview=False)
    typo = run.one("aws:ec2/securityGroup:SecurityGroup", "typo")
    assert typo.inputs["ingress"][0]["fromPorts"] == 22  # the SDK passed the typo through

    assert check_inputs(typo.type, run.one(name="good").inputs) == []
    problems = check_inputs(typo.type, typo.inputs)
    assert any("$.ingress[0]: unknown property 'fromPorts'" in p and "fromPort" in p for p in problems), problems
    assert any("missing required property 'fromPort'" in p for p in problems), problems
    noproto = check_inputs(typo.type, run.one(name="noproto").inputs)
    want = "$.ingress[0]: missing required property 'protocol' (SecurityGroupIngressArgs)"
    assert noproto == [f"aws:ec2/securityGroup:SecurityGroup {want}"]

    all_problems = check_run(run)
    assert all(("'typo'" in p or "'noproto'" in p) for p in all_problems), all_problems
    assert any("__main__.py:" in p for p in all_problems)  # points at the constructor call
    with pytest.raises(AssertionError, match="fromPorts"):
        assert_valid_inputs(run)


def test_valid_graph_has_no_problems_docker_service_nested(tmp_path):
    program = write_program(
        tmp_path,
        """
        import pulumi
        import pulumi_docker as docker

        p = docker.Provider("site", host="ssh://admin@10.0.0.1", ssh_opts=["-o", "BatchMode=yes"],
            registry_auth=[{"address": "repo.example:5000", "username": "hive", "password": "pw"}])
        o = pulumi.ResourceOptions(provider=p)
        net = docker.Network("net", driver="overlay", attachable=True, opts=o)
        img = docker.RemoteImage("img", name="registry:2", keep_locally=True, opts=o)
        docker.Service("web", name="web",
            task_spec={
                "container_spec": {
                    "image": img.repo_digest,
                    "env": {"A": "b"},
                    "mounts": [{"target": "/data", "source": "web-data", "type": "volume"}],
                    "healthcheck": {"tests": ["CMD", "true"], "interval": "10s"},
                },
                "placement": {"constraints": ["node.labels.az==a"], "prefs": ["spread=node.labels.az"]},
                "networks_advanceds": [{"name": net.id, "aliases": ["web"]}],
                "restart_policy": {"condition": "any", "max_attempts": 3},
                "resources": {"limits": {"memory_bytes": 512 * 1024 * 1024}},
            },
            mode={"replicated": {"replicas": 3}},
            endpoint_spec={"ports": [{"target_port": 80, "published_port": 8080, "publish_mode": "host"}]},
            labels=[{"label": "hive.service", "value": "web"}],
            opts=o)
        """,
    )
    for preview in (False, True):
        run = run_program(program, "staging", preview=preview)
        assert run.types == {
            "docker:index/network:Network": 1,
            "docker:index/remoteImage:RemoteImage": 1,
            "docker:index/service:Service": 1,
            "pulumi:providers:docker": 1,
        }
        assert_valid_inputs(run)
    svc = run.one("docker:index/service:Service")
    assert svc.input("taskSpec.containerSpec.mounts[0].target") == "/data"
    assert svc.provider_urn == run.one("pulumi:providers:docker").urn


def test_check_inputs_top_level_required_types_azure_and_providers():
    assert check_inputs("aws:ec2/subnet:Subnet", {"cidrBlock": "10.0.1.0/24"}) == [
        "aws:ec2/subnet:Subnet $: missing required property 'vpcId' (SubnetArgs)"
    ]
    assert check_inputs("aws:ec2/subnet:Subnet", {"cidrBlock": "10.0.1.0/24", "vpcId": "vpc-1"}) == []
    wrong = check_inputs("aws:ec2/subnet:Subnet", {"vpcId": "vpc-1", "mapPublicIpOnLaunch": "yes"})
    assert wrong == ["aws:ec2/subnet:Subnet $.mapPublicIpOnLaunch: expected bool, got string 'yes'"]

    # azure-native: the Args class is NetworkSecurityGroupInitArgs (a nested type took the name).
    nsg = "azure-native:network:NetworkSecurityGroup"
    rule = {
        "name": "ssh",
        "priority": 100,
        "direction": "Inbound",
        "access": "Allow",
        "protocol": "Tcp",
        "sourcePortRange": "*",
        "destinationPortRange": "22",
        "sourceAddressPrefix": "*",
        "destinationAddressPrefix": "*",
    }
    assert check_inputs(nsg, {"resourceGroupName": "rg", "securityRules": [rule]}) == []
    bad = check_inputs(nsg, {"resourceGroupName": "rg", "securityRules": [{**rule, "destPortRange": "22"}]})
    assert any("$.securityRules[0]: unknown property 'destPortRange'" in p for p in bad), bad

    # Provider resources: object-valued properties travel as JSON strings.
    ok = {"host": "ssh://a@b", "registryAuth": '[{"address": "r:5000", "username": "u", "password": "p"}]'}
    assert check_inputs("pulumi:providers:docker", ok) == []
    bad = check_inputs("pulumi:providers:docker", {**ok, "registryAuth": '[{"adress": "r:5000"}]'})
    assert any("unknown property 'adress'" in p for p in bad) and any("'address'" in p for p in bad), bad

    # Components and unknown types
    assert check_inputs("hive:infra:Aws", {"anything": 1}) == []
    assert check_inputs("aws:ec2/nope:Nope", {}) == [
        "aws:ec2/nope:Nope: no such resource type in pulumi_aws (module 'ec2/nope')"
    ]
    # Unknown values (preview) are not judged, but unknown keys still are.
    assert check_inputs("aws:ec2/subnet:Subnet", {"vpcId": UNKNOWN, "cidrBlock": UNKNOWN}) == []


def test_missing_top_level_required_property_is_the_sdk_type_error(tmp_path):
    program = write_program(
        tmp_path,
        """
        import pulumi_aws as aws
        aws.ec2.Subnet("s", cidr_block="10.0.0.0/24")
    """,
    )
    with pytest.raises(TypeError, match="Missing required property 'vpc_id'"):
        run_program(program, "staging", preview=True)


# ---------------------------------------------------------------------------------------------
# Secrets
# ---------------------------------------------------------------------------------------------

SECRETS_PROGRAM = """
    import pulumi
    import pulumi_aws as aws
    import pulumi_command as command
    import pulumi_tls as tls

    cfg = pulumi.Config("hive")
    key = tls.PrivateKey("admin", algorithm="ED25519")
    token = cfg.require_secret("token")
    cmd = command.remote.Command("setup",
        connection=command.remote.ConnectionArgs(host="10.0.0.1", user="admin", private_key=key.private_key_openssh),
        create="sudo bash ~/.hive/hostsetup/registry.sh",
        stdin=token)
    pulumi.export("private_key", key.private_key_openssh)
    pulumi.export("public_key", key.public_key_openssh)
    pulumi.export("stdout", cmd.stdout)
    host = aws.ec2.Instance("host", ami="ami-1", instance_type="t3.micro")
    command.remote.Command("on-host", create="true",
        connection=command.remote.ConnectionArgs(host=host.public_ip, private_key=key.private_key_openssh))
    pulumi.export("host_ip", host.public_ip)  # secret inside `connection` (SDK), but not a secret
    if cfg.get_bool("leak"):
        pulumi.export("oops", pulumi.Output.unsecret(key.private_key_pem).apply(lambda k: "key=" + k))
"""


def test_secrets_are_recorded_and_propagated(tmp_path):
    program = write_program(tmp_path, SECRETS_PROGRAM)
    run = run_program(program, "staging", {"token": "hunter2-token"}, secret_config=["token"], preview=False)

    cmd = run.one("command:remote:Command", "setup")
    assert cmd.is_secret_input("stdin") and cmd.inputs["stdin"] == "hunter2-token"
    assert cmd.is_secret_input("connection.privateKey")  # the SDK makes the whole connection secret
    assert not cmd.is_secret_input("create")
    assert {"stdin", "connection"} <= cmd.secret_outputs

    key = run.one("tls:index/privateKey:PrivateKey")
    assert set(key.additional_secret_outputs) >= {"privateKeyPem", "privateKeyOpenssh"}
    assert {"privateKeyPem", "privateKeyOpenssh"} <= key.secret_outputs
    assert "publicKeyOpenssh" not in key.secret_outputs
    assert key.outputs["privateKeyOpenssh"].startswith("-----BEGIN OPENSSH PRIVATE KEY-----")
    assert key.outputs["publicKeyOpenssh"].startswith("ssh-ed25519 ")

    assert run.secret_outputs == {"private_key"}
    assert run.outputs["private_key"] == key.outputs["privateKeyOpenssh"]
    assert "hunter2-token" in run.secret_values() and key.outputs["privateKeyPem"] in run.secret_values()
    assert "10.0.0.1" not in run.secret_values()  # secret only as part of the whole `connection`
    host_ip = run.one("aws:ec2/instance:Instance").outputs["publicIp"]
    assert run.one("command:remote:Command", "on-host").is_secret_input("connection.host")
    assert run.outputs["host_ip"] == host_ip and host_ip not in run.secret_values()
    assert run.find_leaks() == []

    leaky = run_program(
        program, "staging", {"token": "hunter2-token", "leak": True}, secret_config=["token"], preview=False
    )
    leaks = leaky.find_leaks()
    assert leaks == ["stack output oops contains a secret in plain text"], leaks


# ---------------------------------------------------------------------------------------------
# Preview and unknowns
# ---------------------------------------------------------------------------------------------

GRAPH_PROGRAM = """
    import pulumi
    import pulumi_aws as aws
    import pulumi_docker as docker

    azs = aws.get_availability_zones(state="available")
    ami = aws.ec2.get_ami(most_recent=True, owners=["136693071363"],
                          filters=[{"name": "name", "values": ["debian-13-amd64-*"]}])
    vpc = aws.ec2.Vpc("vpc", cidr_block="10.0.0.0/16")
    hosts = []
    for i, az in enumerate(azs.names):
        subnet = aws.ec2.Subnet(f"subnet-{i}", vpc_id=vpc.id, cidr_block=f"10.0.{i}.0/24", availability_zone=az)
        hosts.append(aws.ec2.Instance(f"hive{i}", ami=ami.id, instance_type="t3.small", subnet_id=subnet.id,
                                      private_ip=f"10.0.{i}.10"))
    p = docker.Provider("swarm", host=hosts[0].public_ip.apply(lambda ip: f"ssh://admin@{ip}"))
    docker.Network("ingress-net", driver="overlay", opts=pulumi.ResourceOptions(provider=p))
    pulumi.export("public_ips", [h.public_ip for h in hosts])
    pulumi.export("private_ips", [h.private_ip for h in hosts])
    pulumi.export("azs", azs.names)
"""


def test_preview_builds_the_whole_graph_with_unknowns(tmp_path):
    program = write_program(tmp_path, GRAPH_PROGRAM)
    prev = run_program(program, "staging", {"aws:region": "eu-west-1"}, preview=True)
    up = run_program(program, "staging", {"aws:region": "eu-west-1"}, preview=False)

    assert prev.types == up.types
    assert prev.types["aws:ec2/instance:Instance"] == 3
    assert prev.outputs["azs"] == ["eu-west-1a", "eu-west-1b", "eu-west-1c"]  # invokes answer in preview

    # Preview: computed outputs and ids are unknown, inputs known, dependants see unknown inputs.
    h0 = prev.one("aws:ec2/instance:Instance", "hive0")
    assert h0.id is None and is_unknown(h0.outputs["publicIp"]) and is_unknown(h0.outputs["arn"])
    assert h0.outputs["privateIp"] == "10.0.0.10" and is_unknown(h0.inputs["subnetId"])
    assert is_unknown(prev.one("pulumi:providers:docker").inputs["host"])
    assert all(is_unknown(ip) for ip in prev.outputs["public_ips"])
    assert prev.outputs["private_ips"] == ["10.0.0.10", "10.0.1.10", "10.0.2.10"]
    assert_valid_inputs(prev)

    # Up: everything known and plausible.
    h0 = up.one("aws:ec2/instance:Instance", "hive0")
    assert h0.id.startswith("i-") and h0.outputs["arn"].startswith("arn:aws:ec2:eu-west-1:")
    ips = up.outputs["public_ips"]
    assert len(set(ips)) == 3 and all(ipaddress.ip_address(ip) in ipaddress.ip_network("198.18.0.0/16") for ip in ips)
    assert up.one("pulumi:providers:docker").inputs["host"] == f"ssh://admin@{ips[0]}"
    assert up.one("aws:ec2/subnet:Subnet", "subnet-2").inputs["availabilityZone"] == "eu-west-1c"
    assert up.invokes_of("aws:ec2/getAmi:getAmi")[0].args["owners"] == ["136693071363"]
    assert_valid_inputs(up)


# ---------------------------------------------------------------------------------------------
# Independence, options, errors, logs, hooks
# ---------------------------------------------------------------------------------------------


def test_two_runs_with_different_stacks_are_independent(tmp_path):
    program = write_program(
        tmp_path,
        """
        import pulumi
        import pulumi_random as random
        from lib import state

        state.RUNS.append(pulumi.get_stack())
        cfg = pulumi.Config("hive")
        for i in range(cfg.require_int("count")):
            random.RandomPassword(f"pw{i}", length=16)
        pulumi.export("stack", pulumi.get_stack())
        pulumi.export("runs", list(state.RUNS))
        pulumi.export("cidr", cfg.require_object("net")["cidr"])
        """,
        **{"lib.__init__": "", "lib.state": "RUNS = []\n"},
    )
    a = run_program(program, "staging", {"count": 1, "net": {"cidr": "10.1.0.0/16"}}, preview=False)
    b = run_program(program, "production", {"count": 3, "net": {"cidr": "10.2.0.0/16"}}, preview=True)
    a2 = run_program(program, "staging", {"count": 1, "net": {"cidr": "10.1.0.0/16"}}, preview=False)

    assert a.outputs == {"stack": "staging", "runs": ["staging"], "cidr": "10.1.0.0/16"}
    assert b.outputs == {"stack": "production", "runs": ["production"], "cidr": "10.2.0.0/16"}
    assert len(a.resources) == 1 and len(b.resources) == 3
    assert all(r.urn.startswith("urn:pulumi:production::hive::") for r in b.resources)
    assert a.stack_urn == "urn:pulumi:staging::hive::pulumi:pulumi:Stack::hive-staging"
    # Deterministic fakes.  (The order of run.resources is the order registrations reached the
    # monitor, which can vary between runs; compare sorted.)
    assert sorted((r.urn, str(r.outputs)) for r in a.resources) == sorted((r.urn, str(r.outputs)) for r in a2.resources)


def test_resource_options_are_recorded(tmp_path):
    program = write_program(
        tmp_path,
        """
        import pulumi
        import pulumi_aws as aws

        class Site(pulumi.ComponentResource):
            def __init__(self, name, opts=None):
                super().__init__("hive:infra:Site", name, None, opts)
                self.vpc = aws.ec2.Vpc(f"{name}-vpc", cidr_block="10.0.0.0/16",
                                       opts=pulumi.ResourceOptions(parent=self))
                self.register_outputs({"vpcId": self.vpc.id})

        site = Site("site", opts=pulumi.ResourceOptions(protect=True))
        vol = aws.ebs.Volume("data", availability_zone="eu-central-1a", size=20,
            opts=pulumi.ResourceOptions(protect=True, retain_on_delete=True, ignore_changes=["size"],
                                        custom_timeouts=pulumi.CustomTimeouts(create="15m", delete="5m")))
        sg = aws.ec2.SecurityGroup("sg", vpc_id=site.vpc.id,
            opts=pulumi.ResourceOptions(depends_on=[vol], deleted_with=site.vpc,
                                        additional_secret_outputs=["arn"], replace_on_changes=["description"],
                                        delete_before_replace=True, aliases=[pulumi.Alias(name="old-sg")]))
        """,
    )
    run = run_program(program, "staging", preview=False)
    site = run.one("hive:infra:Site")
    vpc = run.one("aws:ec2/vpc:Vpc")
    vol = run.one("aws:ebs/volume:Volume")
    sg = run.one("aws:ec2/securityGroup:SecurityGroup")

    assert not site.custom and site.protect is True and site.parent == run.stack_urn
    assert vpc.parent == site.urn and vpc.protect is True  # inherited from the parent component
    assert run.parent_of(vpc) is site and run.children(site) == [vpc]
    assert site.registered_outputs == {"vpcId": vpc.id}
    assert vol.protect is True and vol.retain_on_delete is True and vol.ignore_changes == ["size"]
    assert vol.custom_timeouts == {"create": "15m", "delete": "5m"}
    assert sg.protect is None and sg.retain_on_delete is None and sg.delete_before_replace is True
    assert sg.depends_on(vol) and sg.depends_on(vpc)
    assert sg.explicit_dependencies == [vol.urn] and sg.property_dependencies["vpcId"] == [vpc.urn]
    assert sg.deleted_with == vpc.urn
    assert sg.additional_secret_outputs == ["arn"] and "arn" in sg.secret_outputs
    assert sg.replace_on_changes == ["description"]
    assert sg.aliases and "old-sg" in str(sg.aliases)
    assert sg.source and sg.source.endswith("__main__.py:16")


def test_program_errors_surface_as_the_exception(tmp_path):
    program = write_program(
        tmp_path,
        """
        import pulumi
        import pulumi_aws as aws
        mode = pulumi.Config("hive").require("mode")
        aws.ec2.Vpc("vpc", cidr_block="10.0.0.0/16")
        if mode == "raise":
            raise ValueError("hive:cidr must be a /16")
        if mode == "apply":
            aws.ec2.Vpc("v2", cidr_block="10.1.0.0/16").id.apply(lambda _: 1 / 0)
        if mode == "invoke":
            aws.get_partition()
        pulumi.log.warn("mode is " + mode)
        """,
    )
    with pytest.raises(ValueError, match="must be a /16") as exc:
        run_program(program, "staging", {"mode": "raise"}, preview=True)
    assert exc.value.harness_run.stack == "staging"
    with pytest.raises(ZeroDivisionError):
        run_program(program, "staging", {"mode": "apply"}, preview=False)
    with pytest.raises(UnknownInvokeError, match="aws:index/getPartition:getPartition"):
        run_program(program, "staging", {"mode": "invoke"}, preview=False)
    run = run_program(program, "staging", {"mode": "ok"}, preview=False)
    assert run.warnings == ["mode is ok"] and run.errors == []


def test_outputs_for_hook_runs_on_the_thread_pool(tmp_path):
    program = write_program(
        tmp_path,
        """
        import pulumi
        import pulumi_command as command
        conn = command.remote.ConnectionArgs(host="10.0.0.1", user="admin")
        cmds = [command.remote.Command(f"c{i}", connection=conn, create=f"echo {i}") for i in range(8)]
        pulumi.export("out", [c.stdout for c in cmds])
        """,
    )

    class EchoMocks(BaseMocks):
        def __init__(self):
            super().__init__()
            self.threads = set()
            self.seen = []

        def outputs_for(self, args):
            if args.typ != "command:remote:Command":
                return None
            with self.lock:
                self.threads.add(threading.get_ident())
                self.seen.append((args.name, args.preview, args.secret_inputs))
            if args.preview:
                return {"stdout": UNKNOWN, "stderr": UNKNOWN}
            return {"stdout": args.inputs["create"].split()[1], "stderr": ""}

    mocks = EchoMocks()
    run = run_program(program, "staging", preview=False, mocks=mocks, parallel=4)
    assert run.outputs["out"] == [str(i) for i in range(8)]
    assert threading.get_ident() not in mocks.threads
    assert sorted(n for n, _, _ in mocks.seen) == sorted(f"c{i}" for i in range(8))
    assert all(s == {"connection"} for _, _, s in mocks.seen)
    prev = run_program(program, "staging", preview=True, mocks=EchoMocks())
    assert all(is_unknown(v) for v in prev.outputs["out"])


def test_fresh_project_modules_and_exception_classes(tmp_path, monkeypatch):
    program = write_program(
        tmp_path,
        """
        import pulumi
        from lib import errors, state
        state.CALLS.append(1)
        if pulumi.Config("hive").get_bool("fail"):
            raise errors.SiteError("hive:nodes: at least one node is required")
        pulumi.export("calls", len(state.CALLS))
        """,
        **{"lib.__init__": "", "lib.errors": "class SiteError(ValueError):\n    pass\n", "lib.state": "CALLS = []\n"},
    )
    monkeypatch.syspath_prepend(str(program))
    import lib.errors  # the test process's own copy, as a test module would import it
    import lib.state

    lib.state.CALLS.append("test")
    assert run_program(program, "staging", preview=False).outputs == {"calls": 1}
    assert run_program(program, "staging", preview=False).outputs == {"calls": 1}
    with pytest.raises(lib.errors.SiteError, match="at least one node"):
        run_program(program, "staging", {"fail": True}, preview=True)
    assert lib.state.CALLS == ["test"]  # the test's modules are untouched


def test_stack_reference_reads_remembered_outputs(tmp_path):
    program = write_program(
        tmp_path,
        """
        import pulumi
        own = f"{pulumi.get_organization()}/{pulumi.get_project()}/{pulumi.get_stack()}"
        ref = pulumi.StackReference("previous", stack_name=own)
        pulumi.export("generation", ref.get_output("generation").apply(lambda g: (g or 0) + 1))
        pulumi.export("token", pulumi.Output.secret("t0ken-value"))
        """,
    )
    mocks = BaseMocks()
    first = run_program(program, "staging", preview=False, mocks=mocks)
    assert first.outputs["generation"] == 1
    assert first.one("pulumi:pulumi:StackReference").kind == "read"
    mocks.remember(first)
    second = run_program(program, "staging", preview=True, mocks=mocks)
    assert second.outputs["generation"] == 2  # stack references are read, hence known, in preview
    assert second.one("pulumi:pulumi:StackReference").outputs["secretOutputNames"] == ["token"]
    assert run_program(program, "production", preview=False, mocks=mocks).outputs["generation"] == 1
