"""AWS cloud layer: the program's resources under mocks, in up and preview, for staging- and production-like stages."""

from __future__ import annotations

import dataclasses
import ipaddress

import pulumi
import pytest

from components.infra.aws import DEBIAN_OWNER, MIRRORED_DEVICE_NAME
from components.infra.cloud import has_mirrored_disk
from components.infra.firewall_policy import policy
from tests.harness import ProgramRun, assert_valid_inputs, is_unknown
from tests.program.infra_support import (
    AWS,
    CONFIGS,
    cached_run,
    check_machines_match_inventory,
    check_outputs,
    check_preview_graph,
    check_protect,
    expected_site,
    in_site,
    run,
    sample_config,
    world_port_problems,
)

SG_INGRESS = "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"
SG_EGRESS = "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule"
UNTAGGABLE = {
    "aws:ec2/route:Route",
    "aws:ec2/routeTableAssociation:RouteTableAssociation",
    "aws:ec2/eipAssociation:EipAssociation",
    "aws:ec2/volumeAttachment:VolumeAttachment",
}
TAGGED = {
    "aws:ec2/vpc:Vpc",
    "aws:ec2/subnet:Subnet",
    "aws:ec2/internetGateway:InternetGateway",
    "aws:ec2/routeTable:RouteTable",
    "aws:ec2/securityGroup:SecurityGroup",
    SG_INGRESS,
    SG_EGRESS,
    "aws:ec2/keyPair:KeyPair",
    "aws:ec2/instance:Instance",
    "aws:ec2/eip:Eip",
    "aws:ebs/volume:Volume",
}

# The runs are cached per process: keep this module on one xdist worker (``--dist loadgroup``).
pytestmark = pytest.mark.xdist_group("infra-aws")


@pytest.fixture
def program(stack: str, preview: bool) -> ProgramRun:
    return cached_run("aws", stack, preview)


@pytest.fixture
def site(program: ProgramRun):
    return expected_site(program)


def aws_world_rule_problems(program: ProgramRun, site) -> list[str]:
    """Every ingress rule reachable from outside the site: one protocol, ports below 10000."""
    problems = []
    for rule in program.of_type(SG_INGRESS):
        inputs = rule.inputs
        if "referencedSecurityGroupId" in inputs:
            continue  # from the group itself
        source = inputs.get("cidrIpv4") or inputs.get("cidrIpv6") or inputs.get("prefixListId") or "?"
        if in_site(source, site):
            continue
        ports = [f"{inputs['fromPort']}-{inputs['toPort']}"] if "fromPort" in inputs and "toPort" in inputs else []
        problems += world_port_problems(f"{rule.name} from {source}", inputs.get("ipProtocol", "-1"), ports)
    for group in program.of_type("aws:ec2/securityGroup:SecurityGroup"):
        if group.inputs.get("ingress"):
            problems.append(f"{group.name}: inline ingress rules (the policy lives in separate rule resources)")
    return problems


# -- the whole graph -----------------------------------------------------------------------------------------


def test_every_input_is_valid_for_the_sdk(program):
    assert_valid_inputs(program)


def test_preview_builds_the_same_graph_with_unknown_addresses(stack):
    check_preview_graph(cached_run("aws", stack, True), cached_run("aws", stack, False), AWS)


def test_resource_counts(program, site):
    subnets = 3  # configured (production) or derived from cidr (staging): one per zone
    mirrored = sum(has_mirrored_disk(site, h) for h in site.hosts)
    rules = policy(site)
    ingress = sum(1 if r.internal else len(r.sources) * len(r.ports) for r in rules)
    counts = {
        "aws:ec2/vpc:Vpc": 1,
        "aws:ec2/subnet:Subnet": subnets,
        "aws:ec2/internetGateway:InternetGateway": 1,
        "aws:ec2/routeTable:RouteTable": 1,
        "aws:ec2/route:Route": 1,
        "aws:ec2/routeTableAssociation:RouteTableAssociation": subnets,
        "aws:ec2/securityGroup:SecurityGroup": 1,
        SG_INGRESS: ingress,
        SG_EGRESS: 1,
        "aws:ec2/keyPair:KeyPair": 1,
        "aws:ec2/instance:Instance": len(site.hosts),
        "aws:ec2/eip:Eip": len(site.hosts),
        "aws:ec2/eipAssociation:EipAssociation": len(site.hosts),
        "aws:ebs/volume:Volume": mirrored,
        "aws:ec2/volumeAttachment:VolumeAttachment": mirrored,
    }
    actual: dict[str, int] = {}
    for r in AWS.resources(program):
        actual[r.type] = actual.get(r.type, 0) + 1
    assert actual == {k: v for k, v in counts.items() if v}
    assert len(program.of_type(AWS.component)) == 1


def test_sample_counts_are_what_an_operator_expects():
    """Spelled out once: staging = 3 hosts all mirrored; the sample catalog publishes tcp 53, 80 and udp 53."""
    program = cached_run("aws", "staging", False)
    assert len(program.of_type("aws:ec2/instance:Instance")) == 3
    assert len(program.of_type("aws:ebs/volume:Volume")) == 3
    # internal + 22 and 2376 from two admin CIDRs + tcp 53, 80 + udp 53
    assert len(program.of_type(SG_INGRESS)) == 1 + 2 * 2 + 2 + 1


# -- placement and addresses ---------------------------------------------------------------------------------


def test_hosts_are_where_the_inventory_says(program, site):
    check_machines_match_inventory(
        program, site, AWS, lambda m: m.inputs["privateIp"], lambda m: m.inputs["availabilityZone"]
    )


def test_instances_sit_in_the_subnet_of_their_zone(program, site):
    subnets = {r.name: r for r in program.of_type("aws:ec2/subnet:Subnet")}
    for host in site.hosts:
        subnet = subnets[f"subnet-{host.subnet}"]
        assert subnet.inputs["availabilityZone"] == host.az
        assert ipaddress.ip_address(host.private_ip) in ipaddress.ip_network(subnet.inputs["cidrBlock"])
        if not program.preview:
            machine = AWS.machines(program)[host.hostname]
            assert machine.inputs["subnetId"] == subnet.id


def test_subnets_are_zonal_and_private_by_default(program):
    subnets = program.of_type("aws:ec2/subnet:Subnet")
    assert len({s.inputs["availabilityZone"] for s in subnets}) == 3
    for subnet in subnets:
        assert subnet.inputs["mapPublicIpOnLaunch"] is False


def test_configured_subnets_are_used_as_given():
    program = cached_run("aws", "production", False)
    given = {s["name"]: s for s in CONFIGS["aws"]["production"]["hive:subnets"]}
    subnets = {r.name.removeprefix("subnet-"): r for r in program.of_type("aws:ec2/subnet:Subnet")}
    assert set(subnets) == set(given)
    for name, subnet in subnets.items():
        assert subnet.inputs["cidrBlock"] == given[name]["cidr"]
        assert subnet.inputs["availabilityZone"] == given[name]["available_zone"]


def test_default_route_goes_to_the_internet_gateway(program):
    route = program.one("aws:ec2/route:Route")
    assert route.inputs["destinationCidrBlock"] == "0.0.0.0/0"
    gateway = program.one("aws:ec2/internetGateway:InternetGateway")
    assert route.depends_on(gateway)
    associations = program.of_type("aws:ec2/routeTableAssociation:RouteTableAssociation")
    table = program.one("aws:ec2/routeTable:RouteTable")
    assert all(a.depends_on(table) for a in associations)


def test_one_elastic_ip_per_host_associated_with_its_instance(program, site):
    eips = {r.name: r for r in program.of_type(AWS.static_ip)}
    associations = {r.name: r for r in program.of_type("aws:ec2/eipAssociation:EipAssociation")}
    machines = AWS.machines(program)
    for host in site.hosts:
        eip = eips[f"{host.hostname}-ip"]
        assert eip.inputs["domain"] == "vpc"
        association = associations[f"{host.hostname}-ip"]
        assert association.depends_on(eip) and association.depends_on(machines[host.hostname])
        assert machines[host.hostname].inputs["associatePublicIpAddress"] is False


# -- machines ------------------------------------------------------------------------------------------------


def test_instance_types_and_root_disks(program, site):
    machines = AWS.machines(program)
    for host in site.hosts:
        inputs = machines[host.hostname].inputs
        expected_type = site.stage.repository_instance_type if host.is_repository else site.stage.instance_type
        expected_size = site.stage.repository_disk_size if host.is_repository else site.stage.disk_size
        assert inputs["instanceType"] == expected_type
        root = inputs["rootBlockDevice"]
        assert root["volumeSize"] == expected_size
        assert root["volumeType"] == "gp3" and root["encrypted"] is True
        assert inputs["metadataOptions"]["httpTokens"] == "required"
    if program.stack == "production":
        assert machines["hive3"].inputs["instanceType"] == "m6i.xlarge"
        assert machines["hive3"].inputs["rootBlockDevice"]["volumeSize"] == 100
        assert machines["hive0"].inputs["rootBlockDevice"]["volumeSize"] == 30


def test_mirrored_disks(program, site):
    volumes = {r.name: r for r in program.of_type(AWS.mirrored_disk)}
    attachments = {r.name: r for r in program.of_type("aws:ec2/volumeAttachment:VolumeAttachment")}
    machines = AWS.machines(program)
    for host in site.hosts:
        name = f"{host.hostname}-drbd"
        if not has_mirrored_disk(site, host):
            assert name not in volumes and name not in attachments
            continue
        volume = volumes[name]
        assert volume.inputs["size"] == site.stage.mirrored_disk_size
        assert volume.inputs["type"] == "gp3" and volume.inputs["encrypted"] is True
        assert volume.inputs["availabilityZone"] == host.az
        attachment = attachments[name]
        assert attachment.inputs["deviceName"] == MIRRORED_DEVICE_NAME
        assert attachment.depends_on(volume) and attachment.depends_on(machines[host.hostname])
    if program.stack == "production":
        assert "hive3-drbd" not in volumes  # no_mirrored_device: [3]


def test_drbd_volumes_without_a_mirrored_disk_size_are_refused():
    # The sample site has a DRBD volume: without mirrored_disk_size there is no disk for it (issue 15).
    config = {k: v for k, v in CONFIGS["aws"]["staging"].items() if k != "hive:mirrored_disk_size"}
    with pytest.raises(pulumi.RunError, match=r"hive:mirrored_disk_size: is not set, but this stage has DRBD"):
        run("staging", config, preview=True)


def test_ami_is_looked_up_by_owner_and_name_and_never_replaces_an_instance(program):
    lookups = program.invokes_of("aws:ec2/getAmi:getAmi")
    assert len(lookups) == 1
    args = lookups[0].args
    assert args["owners"] == [DEBIAN_OWNER]
    assert args["mostRecent"] is True
    assert {"name": "name", "values": ["debian-13-amd64-*"]} in args["filters"]
    for machine in AWS.machines(program).values():
        assert "ami" in machine.ignore_changes
        assert machine.delete_before_replace is True  # the fixed private IP must be free first
        if not program.preview:
            assert machine.inputs["ami"] == lookups[0].result["id"]


def test_an_ami_id_is_used_as_is():
    program = run("staging", {**CONFIGS["aws"]["staging"], "hive:image_name": "ami-0123456789abcdef0"}, preview=True)
    assert program.invokes_of("aws:ec2/getAmi:getAmi") == []
    assert {m.inputs["ami"] for m in AWS.machines(program).values()} == {"ami-0123456789abcdef0"}


def test_user_data_only_creates_the_admin_user_and_key(program, site):
    key_pair = program.one("aws:ec2/keyPair:KeyPair")
    for machine in AWS.machines(program).values():
        assert machine.inputs["userDataReplaceOnChange"] is False
        assert machine.depends_on(key_pair)
        if program.preview:
            continue
        user_data = machine.inputs["userData"]
        assert user_data.startswith("#cloud-config\n")
        assert f"- name: {site.stage.ssh_user}\n" in user_data
        assert key_pair.inputs["publicKey"] in user_data
        for forbidden in ("runcmd", "packages", "write_files", "bootcmd"):
            assert forbidden not in user_data
    if not program.preview:
        assert key_pair.inputs["publicKey"].startswith("ssh-ed25519 ") and "\n" not in key_pair.inputs["publicKey"]


def test_user_data_installs_the_generated_host_key_and_is_secret(program, site):
    for host in site.hosts:
        machine = AWS.machines(program)[host.hostname]
        host_key = program.one("tls:index/privateKey:PrivateKey", f"{host.hostname}-host-key")
        assert host_key.inputs["algorithm"] == "ED25519"
        assert machine.is_secret_input("userData")
        assert machine.inputs["metadataOptions"]["httpPutResponseHopLimit"] == 1  # no container reads it
        if program.preview:
            continue
        user_data = machine.inputs["userData"]
        assert "ssh_deletekeys: true\nssh_genkeytypes: []\nssh_keys:\n  ed25519_private: |\n" in user_data
        private = host_key.outputs["privateKeyOpenssh"].strip()
        assert "\n".join(f"    {line}" for line in private.splitlines()) in user_data
        assert f"  ed25519_public: {host_key.outputs['publicKeyOpenssh'].strip()}\n" in user_data


# -- firewall ------------------------------------------------------------------------------------------------


def test_world_open_rules_never_reach_high_ports_or_all_protocols(program, site):
    assert aws_world_rule_problems(program, site) == []


def test_the_firewall_check_would_catch_a_wide_rule(program, site):
    """The check above is not vacuous: an all-protocol or a high-port rule from anywhere fails it."""
    template = program.of_type(SG_INGRESS)[0]
    wide = {"ipProtocol": "-1", "cidrIpv4": "0.0.0.0/0"}
    high = {"ipProtocol": "tcp", "fromPort": 61001, "toPort": 61001, "cidrIpv4": "0.0.0.0/0"}
    for inputs, expected in ((wide, "all protocols"), (high, ">= 10000")):
        bad = dataclasses.replace(template, name="oops", inputs=inputs)
        tampered = dataclasses.replace(program, resources=[*program.resources, bad])
        assert any(expected in p for p in aws_world_rule_problems(tampered, site))


def test_security_group_carries_the_policy(program, site):
    group = program.one("aws:ec2/securityGroup:SecurityGroup")
    rules = program.of_type(SG_INGRESS)
    internal = [r for r in rules if "referencedSecurityGroupId" in r.inputs]
    assert len(internal) == 1 and internal[0].inputs["ipProtocol"] == "-1"
    if not program.preview:
        assert internal[0].inputs["referencedSecurityGroupId"] == internal[0].inputs["securityGroupId"]
    admin = {(r.inputs["cidrIpv4"], r.inputs["fromPort"]) for r in rules if r.name.startswith("hosts-admin")}
    assert admin == {(c, p) for c in site.stage.admin_cidrs for p in (22, 2376)}
    published = {(r.inputs["ipProtocol"], r.inputs["fromPort"]) for r in rules if r.name.startswith("hosts-published")}
    assert published == {("tcp", 53), ("tcp", 80), ("udp", 53)}
    assert all(r.depends_on(group) for r in rules)
    egress = program.one(SG_EGRESS)
    assert egress.inputs["ipProtocol"] == "-1" and egress.inputs["cidrIpv4"] == "0.0.0.0/0"
    for machine in AWS.machines(program).values():
        assert machine.depends_on(group)


def test_the_catalog_has_a_high_published_port_so_the_firewall_tests_mean_something(site):
    ports = [site.published_port(s, i) for s in site.catalog.services for i in range(len(s.ports))]
    assert any(p >= 10000 for p in ports)


# -- tags, names, protection ---------------------------------------------------------------------------------


def test_every_taggable_resource_carries_hive_stage_and_name(program, site):
    for r in AWS.resources(program):
        assert r.type in TAGGED | UNTAGGABLE, f"classify {r.type} in this test"
        if r.type in UNTAGGABLE:
            continue
        tags = r.inputs.get("tags") or {}
        assert tags.get("hive") == "pdns" and tags.get("stage") == program.stack, (r.type, r.name, tags)
        assert tags["Name"].startswith(site.stage.prefix) and "pdns" in tags["Name"], (r.type, tags["Name"])


def test_physical_names_carry_the_stage_prefix(program, site):
    prefix = f"{site.stage.prefix}pdns-"
    assert program.one("aws:ec2/keyPair:KeyPair").inputs["keyName"] == f"{prefix}ssh"
    assert program.one("aws:ec2/securityGroup:SecurityGroup").inputs["name"] == f"{prefix}hosts"
    for host in site.hosts:
        assert AWS.machines(program)[host.hostname].inputs["tags"]["Name"] == host.fqdn


def test_protect_on_production_only(program):
    check_protect(program, AWS)


def test_every_resource_is_a_child_of_the_component(program):
    component = program.one(AWS.component)
    for r in AWS.resources(program):
        assert r.parent == component.urn, r.name


def test_every_resource_is_in_the_stage_region(program, site):
    for r in AWS.resources(program):
        assert r.inputs.get("region") == site.stage.region, (r.type, r.name)


# -- outputs -------------------------------------------------------------------------------------------------


def test_outputs(program, site):
    check_outputs(program, site, AWS.public_ip_of(program))


def test_preview_leaves_addresses_unknown_but_raises_nothing():
    program = cached_run("aws", "production", True)
    assert is_unknown(program.outputs["hosts"]) or all(
        is_unknown(row["public_ip"]) for row in program.outputs["hosts"].values()
    )
    assert program.errors == []


# -- configuration edges -------------------------------------------------------------------------------------


def test_the_sample_staging_stack_builds():
    config = sample_config("staging")
    assert config["hive:provider"] == "aws"
    for preview in (True, False):
        program = run("staging", config, preview=preview)
        site = expected_site(program)
        assert len(AWS.machines(program)) == len(site.hosts)
        assert_valid_inputs(program)


def test_fixed_addresses_without_subnets_land_in_the_zonal_quarter_they_fall_into():
    """ip_address_list without subnets: the derived zonal subnets still hold them, each host in its quarter's
    zone — here all in the first quarter, so one zone, which is warned about."""
    config = {
        **CONFIGS["aws"]["staging"],
        "hive:cidr": "10.1.0.0/24",
        "hive:ip_address_list": ["10.1.0.10", "10.1.0.11", "10.1.0.12"],
    }
    config.pop("hive:subnets", None)
    program = run("staging", config, preview=True)
    zones = {r.input("availabilityZone") for r in program.of_type("aws:ec2/instance:Instance")}
    assert zones == {"ap-northeast-1a"}
    assert any("the hives share availability zones" in w for w in program.warnings)


def test_hives_in_one_zone_are_warned_about():
    config = {
        **CONFIGS["aws"]["staging"],
        "hive:subnets": [{"cidr": "10.1.1.0/24", "name": "only", "available_zone": "ap-northeast-1a"}],
    }
    program = run("staging", config, preview=True)
    assert any("the hives share availability zones" in w for w in program.warnings)
    assert not any("share availability zones" in w for w in cached_run("aws", "staging", True).warnings)
