"""Program tests of the PKI and host provisioning wiring: the real program for a `prepared` stage under mocks.

What is proven here (DESIGN §6, issue 4): every host gets exactly its steps; the repository is no swarm member
when separate_repository is true; triggers carry the script hashes and the machine identity; secrets (registry
password, TLS keys) travel only on stdin and never in a command line or a plain value, and the swarm join
token not through the program at all; secret steps log nothing; each host's files arrive in one command;
steps wait for each other only where they must (the graph is asserted exactly); every input is valid against
the SDK's own types.
"""

from __future__ import annotations

import base64
import hashlib
import io
import tarfile
from pathlib import Path
from typing import Any

import pytest

from components.provision import steps as catalogue
from tests.harness import BaseMocks, check_inputs, is_unknown, run_program

ROOT = Path(__file__).resolve().parents[2]
HOSTSETUP = ROOT / "hostsetup"
COMMAND = "command:remote:Command"
COPY = "command:remote:CopyToRemote"
SSH_KEY = (
    "-----BEGIN OPENSSH PRIVATE KEY-----\n"
    "b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW\n"
    "QyNTUxOQAAACBfakeFAKEfakeFAKEfakeFAKEfakeFAKEfakeFAKEfakeFAKEAAAAJhive\n"
    "-----END OPENSSH PRIVATE KEY-----\n"
)
FOUR = ["192.168.0.10", "192.168.0.11", "192.168.0.12", "192.168.0.13"]
HOST_KEYS = {  # the operator's pinned keys (hive:host_keys), so every connection is known in a preview too
    "s-hive0": "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIIqI4910CfGV/VLbLTy6XXLKZwm/HZQSG/N0iAG0D29c",
    "s-hive1": "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIIE5dw6ofRdfVqNUZsNMfszLjYqRtO43ol32D1uPybOU",
    "s-hive2": "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIO1JKMYo0cLG6ukDOJBZlWEpWSc6XGP5NjbBRhSshzfR",
    "s-hive3": "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIMqTrBcFGHBx1nuDx/8O/oEI6OxFMFdddyaHkzPb2r58",
}
BASE_CONFIG: dict[str, Any] = {
    "hive:name": "pdns",
    "hive:domain": "example.com",
    "hive:provider": "prepared",
    "hive:cidr": "192.168.0.0/24",
    "hive:ip_address_list": FOUR,
    "hive:separate_repository": True,
    "hive:ssh_private_key": SSH_KEY,
    "hive:host_keys": HOST_KEYS,
}
SHARED_CONFIG = {
    **BASE_CONFIG,
    "hive:ip_address_list": FOUR[:3],
    "hive:separate_repository": False,
    "hive:host_keys": {h: k for h, k in HOST_KEYS.items() if h != "s-hive3"},
}
COMMON = ["wait-ready", "packages", "base", "firewall", "monitoring-node", "docker"]
REPOSITORY = ["registry", "log-collector", "backup", "monitoring-errors", "monitoring-server"]
DRBD = ["drbd-install", "drbd-pool"]  # the sample site has a drbd volume
SECRET_STEPS = {"docker", "registry", "registry-login", "backup", "monitoring-server", "swarm-join"}
ASSETS = {  # files a step ships besides its script
    "firewall": ["hive-firewall"],
    "log-collector": ["hive-service-log-writer"],
    "backup": ["hive-backup"],
    "monitoring-node": ["hive-metrics"],
    "monitoring-server": list(catalogue.MONITORING_RULES),
}
MY_TYPES = (COMMAND, COPY, "tls:", "random:")


class Mocks(BaseMocks):
    """The harness's fakes, plus: a first run has no previous stack outputs."""

    def outputs_for(self, args):
        if args.typ == "pulumi:pulumi:StackReference":
            return {"outputs": {}, "secretOutputNames": []}
        return None


def run(config: dict[str, Any], preview: bool):
    return run_program(ROOT, "staging", config, preview=preview, mocks=Mocks(), secret_config=["hive:ssh_private_key"])


@pytest.fixture(scope="module", params=[True, False], ids=["preview", "up"])
def separate(request):
    return run(BASE_CONFIG, request.param)


@pytest.fixture(scope="module")
def separate_up():
    return run(BASE_CONFIG, False)


@pytest.fixture(scope="module", params=[True, False], ids=["preview", "up"])
def shared(request):
    return run(SHARED_CONFIG, request.param)


# --- helpers ----------------------------------------------------------------------------------------------


def provisioned(program, type_: str) -> list:
    """The provisioner's own resources of ``type_`` (the swarm layer runs remote commands too)."""
    (site,) = program.of_type("hive:provision:Site")
    return [r for r in program.descendants(site) if r.type == type_]


def hostnames(program) -> list[str]:
    return sorted(r.name.removesuffix("-files") for r in provisioned(program, COMMAND) if r.name.endswith("-files"))


def split_name(name: str, hosts: list[str]) -> tuple[str, str]:
    """``s-hive1-swarm-join`` → (``s-hive1``, ``swarm-join``)."""
    (host,) = [h for h in hosts if name.startswith(h + "-")]
    return host, name[len(host) + 1 :]


def steps_by_host(program) -> dict[str, list[str]]:
    """Each host's steps (not its files command), in the order they were registered."""
    hosts = hostnames(program)
    result: dict[str, list[str]] = {h: [] for h in hosts}
    for r in provisioned(program, COMMAND):
        host, step = split_name(r.name, hosts)
        if step != "files":
            result[host].append(step)
    return result


def command_edges(program) -> set[tuple[str, str, str, str]]:
    """(host, step) → (host, step) for every command that waits for another command."""
    hosts = hostnames(program)
    by_urn = {r.urn: split_name(r.name, hosts) for r in provisioned(program, COMMAND)}
    return {(*by_urn[r.urn], *by_urn[d]) for r in provisioned(program, COMMAND) for d in r.dependencies if d in by_urn}


# Same-host waits: what each step needs on its own host (when that step runs there).
NEEDS = {
    "wait-ready": (),
    "packages": ("wait-ready",),
    "base": ("packages",),
    "firewall": ("packages",),
    "monitoring-node": ("packages",),
    "docker": ("packages", "base", "monitoring-node"),
    "registry": ("docker",),
    "log-collector": ("packages",),
    "backup": ("packages",),
    "monitoring-errors": ("packages", "log-collector"),
    "monitoring-server": ("packages",),
    "log-relay": ("packages",),
    "swarm-init": ("docker", "firewall"),
    "swarm-join": ("docker", "firewall", "swarm-init"),
    "node-labels": ("swarm-init", "swarm-join"),
    "registry-login": ("base", "docker", "registry"),
    "drbd-install": ("packages", "base"),
    "drbd-pool": ("drbd-install",),
}


def expected_edges(by_host: dict[str, list[str]], first: str, repository: str) -> set[tuple[str, str, str, str]]:
    edges = {(h, step, h, "files") for h, steps in by_host.items() for step in steps}
    for host, steps in by_host.items():
        edges |= {(host, step, host, need) for step in steps for need in NEEDS[step] if need in steps}
        if "swarm-join" in steps:
            edges.add((host, "swarm-join", first, "swarm-init"))
        if host != repository:
            edges.add((host, "registry-login", repository, "registry"))
    return edges


def sha256(file: str) -> str:
    return hashlib.sha256((HOSTSETUP / file).read_bytes()).hexdigest()


def strings(value: Any, path: str = ""):
    if isinstance(value, str):
        yield path, value
    elif isinstance(value, dict):
        for k, v in value.items():
            yield from strings(v, f"{path}.{k}" if path else k)
    elif isinstance(value, list | tuple):
        for i, v in enumerate(value):
            yield from strings(v, f"{path}[{i}]")


def marker(pem: str) -> str:
    """A distinctive piece of a PEM's body (finds it inside concatenations too)."""
    return pem.strip().splitlines()[1]


# --- steps per host ---------------------------------------------------------------------------------------


def test_each_host_gets_its_steps(separate):
    assert {h: sorted(s) for h, s in steps_by_host(separate).items()} == {
        "s-hive0": sorted([*COMMON, "log-relay", "swarm-init", "swarm-join", "node-labels", "registry-login", *DRBD]),
        "s-hive1": sorted([*COMMON, "log-relay", "swarm-join", "node-labels", "registry-login", *DRBD]),
        "s-hive2": sorted([*COMMON, "log-relay", "swarm-join", "node-labels", "registry-login", *DRBD]),
        "s-hive3": sorted([*COMMON, *REPOSITORY, "registry-login"]),
    }


def test_repository_is_no_swarm_member_when_separate(separate):
    steps = steps_by_host(separate)["s-hive3"]
    assert not {"swarm-init", "swarm-join", "node-labels"} & set(steps)


def test_shared_repository_joins_the_swarm(shared):
    assert sorted(steps_by_host(shared)["s-hive2"]) == sorted(
        [*COMMON, *REPOSITORY, "swarm-join", "node-labels", "registry-login", *DRBD]
    )
    labels = shared.one(COMMAND, "s-hive2-node-labels").input("create")
    assert "HIVE_NODE_LABELS='servers=true hives=true repository=true'" in labels


def test_dependency_graph_is_exact(separate):
    chains = steps_by_host(separate)
    assert command_edges(separate) == expected_edges(chains, first="s-hive0", repository="s-hive3")


def test_dependency_graph_is_exact_with_a_shared_repository(shared):
    chains = steps_by_host(shared)
    assert command_edges(shared) == expected_edges(chains, first="s-hive0", repository="s-hive2")


def test_each_host_gets_its_files_in_one_command(separate):
    """One command per host ships every file its steps use (issue 13: one transfer instead of one per file)."""
    assert provisioned(separate, COPY) == []
    for host in hostnames(separate):
        files = separate.one(COMMAND, f"{host}-files")
        ip = FOUR[int(host[-1])]
        assert files.input("triggers") == [f"{host}.pdns@{ip}#generation-0"]
        assert files.input("create").endswith("bash /home/admin/.hive/hostsetup/.incoming/ship.sh")
        assert files.input("connection.host") == ip
        assert files.is_secret_input("connection.privateKey")
        with tarfile.open(fileobj=io.BytesIO(base64.b64decode(files.input("stdin"))), mode="r:gz") as tar:
            shipped = {m.name: tar.extractfile(m).read() for m in tar.getmembers()}
        steps = steps_by_host(separate)[host]
        expected = {"ship.sh", "lib.sh", *(f"{s}.sh" for s in steps), *(a for s in steps for a in ASSETS.get(s, []))}
        # what the swarm layer runs on a hive travels in the same bundle (steps.swarm_files)
        swarm = (
            {"images.sh", "drbd-volume.sh", "drbd-growfs.sh"}
            if "swarm-init" in steps or "swarm-join" in steps
            else set()
        )
        assert set(shipped) == expected | swarm
        assert all(shipped[name] == (HOSTSETUP / name).read_bytes() for name in shipped)


# --- triggers, command lines --------------------------------------------------------------------------------


def test_command_triggers_carry_script_hashes_and_machine(separate):
    hosts = hostnames(separate)
    for r in provisioned(separate, COMMAND):
        host, step = split_name(r.name, hosts)
        if step == "files":
            continue
        files = ["lib.sh", f"{step}.sh", *ASSETS.get(step, [])]
        triggers = r.input("triggers")
        assert triggers[-1] == f"{host}.pdns@{FOUR[int(host[-1])]}#generation-0"
        assert set(triggers[:-1]) == {sha256(f) for f in files}, r.name


def test_command_lines(separate):
    join = separate.one(COMMAND, "s-hive2-swarm-join").input("create")
    assert join == (
        "sudo timeout -k 30 600 env HIVE_ADVERTISE_ADDR=192.168.0.12 HIVE_GWBRIDGE_SUBNET='' "
        "HIVE_MANAGER_ADDRS='192.168.0.10:2377 192.168.0.11:2377' bash /home/admin/.hive/hostsetup/swarm-join.sh"
    )
    for r in provisioned(separate, COMMAND):
        if r.name.endswith("-files"):
            continue
        assert r.input("create").endswith(f"bash /home/admin/.hive/hostsetup/{r.name.split('-', 2)[2]}.sh")
        assert r.input("addPreviousOutputInEnv") is False
        assert "environment" not in r.inputs  # no AcceptEnv needed: the environment is on the command line


def test_dial_settings_for_fresh_machines(separate):
    for r in [*provisioned(separate, COMMAND), *provisioned(separate, COPY)]:
        assert r.input("connection.dialErrorLimit") >= 30
        assert r.input("connection.perDialTimeout") >= 10
        assert r.input("connection.port") == 22


def test_every_ssh_connection_pins_its_hosts_key(separate):
    """Every command and copy over SSH, the provisioner's and the swarm layer's, carries ``hostKey``: the
    provider then checks it with ssh.FixedHostKey instead of ignoring it (components/infra/host_keys.py)."""
    by_ip = {ip: HOST_KEYS[f"s-hive{i}"] for i, ip in enumerate(FOUR)}
    connections = [r for r in separate.custom_resources if r.type in (COMMAND, COPY)]
    assert len(connections) > 40
    for r in connections:
        assert r.input("connection.hostKey") == by_ip[r.input("connection.host")], r.name


def test_nothing_runs_on_a_host_while_planning(separate):
    """Commands run only in `up` (the engine never runs them in preview); no invoke may reach a host."""
    assert [i.token for i in separate.invokes if i.token.startswith("command:")] == []


def test_timeouts(separate):
    for r in provisioned(separate, COMMAND):
        assert set(r.custom_timeouts) >= {"create", "update"}, r.name


def test_prepared_hosts_have_no_deleted_with(separate):
    assert all(r.deleted_with in (None, "") for r in [*provisioned(separate, COMMAND), *provisioned(separate, COPY)])


# --- secrets ----------------------------------------------------------------------------------------------


def test_secret_steps_log_nothing_and_keep_output_secret(separate):
    hosts = hostnames(separate)
    for r in provisioned(separate, COMMAND):
        _, step = split_name(r.name, hosts)
        if step == "files":
            assert r.input("logging") == "stdoutAndStderr" and not r.is_secret_input("stdin")
            continue
        if step in SECRET_STEPS:
            assert r.input("logging") == "none", r.name
            assert {"stdout", "stderr"} <= set(r.additional_secret_outputs), r.name
            if not separate.preview:
                assert r.is_secret_output("stdout") and r.is_secret_output("stderr"), r.name
        else:
            assert r.input("logging") == "stdoutAndStderr", r.name
            assert "stdin" not in r.inputs, r.name


def test_secret_stdin(separate_up):
    program = separate_up
    password = program.one("random:index/randomPassword:RandomPassword", "provision-registry-password").outputs[
        "result"
    ]
    ca = program.one("tls:index/selfSignedCert:SelfSignedCert", "pki-ca").outputs["certPem"]
    client_ca = program.one("tls:index/selfSignedCert:SelfSignedCert", "pki-client-ca").outputs["certPem"]
    for host in ["s-hive0", "s-hive1", "s-hive2", "s-hive3"]:
        docker = program.one(COMMAND, f"{host}-docker")
        key = program.one("tls:index/privateKey:PrivateKey", f"pki-{host}-key").outputs["privateKeyPem"]
        cert = program.one("tls:index/locallySignedCert:LocallySignedCert", f"pki-{host}-cert").outputs["certPem"]
        blocks = [p if p.endswith("\n") else p + "\n" for p in (key, cert, ca, client_ca)]
        assert docker.input("stdin") == "".join(blocks)
        assert program.one(COMMAND, f"{host}-registry-login").input("stdin") == password
    assert program.one(COMMAND, "s-hive3-registry").input("stdin") == password
    # the join token: read by the program with its own client certificate, a secret on every swarm-join's stdin
    token = program.one("command:local:Command", "provision-swarm-token")
    for host in ["s-hive0", "s-hive1", "s-hive2"]:
        join = program.one(COMMAND, f"{host}-swarm-join")
        assert join.input("stdin") == token.outputs["stdout"] and join.is_secret_input("stdin")
    assert "stdin" not in program.one(COMMAND, "s-hive0-swarm-init").inputs
    for r in provisioned(program, COMMAND):
        if "stdin" in r.inputs and not r.name.endswith("-files"):
            assert r.is_secret_input("stdin"), r.name
    assert len(password) == 24


def test_secrets_appear_only_where_they_belong(separate_up):
    """Registry password, every TLS key and the ssh key: never in a plain value anywhere."""
    program = separate_up
    password = program.one("random:index/randomPassword:RandomPassword", "provision-registry-password").outputs[
        "result"
    ]
    keys = [r.outputs["privateKeyPem"] for r in program.of_type("tls:index/privateKey:PrivateKey")]
    secrets = {"registry password": password, "ssh key": marker(SSH_KEY)}
    secrets |= {f"tls key {i}": marker(k) for i, k in enumerate(keys)}
    assert all(secrets.values()) and not any(is_unknown(v) for v in secrets.values())
    for r in program.resources:
        for path, value in strings(r.inputs):
            for what, secret in secrets.items():
                if secret in value:
                    assert r.is_secret_input(path), f"{what} in plain input {r.name}.{path}"
                    if r.type == COMMAND:
                        allowed = "connection.privateKey" if what == "ssh key" else "stdin"
                        assert path == allowed, f"{what} in {r.name}.{path}"
                    if r.type == COPY:
                        assert (what, path) == ("ssh key", "connection.privateKey"), f"{what} in {r.name}.{path}"
        for path, value in strings(r.outputs):
            for what, secret in secrets.items():
                if secret in value:
                    assert r.is_secret_output(path), f"{what} in plain output {r.name}.{path}"
        for path, value in strings(r.registered_outputs or {}):
            for what, secret in secrets.items():
                if secret in value:
                    assert path.split(".")[0].split("[")[0] in r.registered_secret_outputs or any(
                        p == path or path.startswith(p) for p in r.registered_secret_outputs
                    ), f"{what} in plain registered output {r.name}.{path}"
    for path, value in strings(program.outputs):
        for what, secret in secrets.items():
            if secret in value:
                assert any(path == p or path.startswith(p) for p in program.secret_output_paths), (
                    f"{what} in plain stack output {path}"
                )
    for r in provisioned(program, COMMAND):
        assert not any(secret in r.input("create") for secret in secrets.values()), r.name


def test_private_keys_are_secret_outputs(separate_up):
    for r in separate_up.of_type("tls:index/privateKey:PrivateKey"):
        assert r.is_secret_output("privateKeyPem"), r.name
        assert r.input("algorithm") == "ECDSA" and r.input("ecdsaCurve") == "P384"
    assert separate_up.one(
        "random:index/randomPassword:RandomPassword", "provision-registry-password"
    ).is_secret_output("result")


# --- PKI --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "common_name"), [("pki-ca", "ca.pdns"), ("pki-client-ca", "client-ca.pdns")])
def test_ca(separate, name, common_name):
    ca = separate.one("tls:index/selfSignedCert:SelfSignedCert", name)
    assert ca.input("isCaCertificate") is True
    assert ca.input("subject.commonName") == common_name
    assert ca.input("validityPeriodHours") == 10 * 365 * 24
    assert sorted(ca.input("allowedUses")) == sorted(
        ["cert_signing", "crl_signing", "key_encipherment", "digital_signature"]
    )
    assert ca.is_secret_input("privateKeyPem")
    assert separate.one("tls:index/privateKey:PrivateKey", f"{name}-key").is_secret_output("privateKeyPem")


def test_host_certificates(separate):
    for i, host in enumerate(["s-hive0", "s-hive1", "s-hive2", "s-hive3"]):
        csr = separate.one("tls:index/certRequest:CertRequest", f"pki-{host}-csr")
        assert csr.input("dnsNames") == [f"{host}.pdns", host]
        assert csr.input("ipAddresses") == [FOUR[i], "127.0.0.1"]  # prepared hosts have no public address
        assert csr.input("subject.commonName") == f"{host}.pdns"
        cert = separate.one("tls:index/locallySignedCert:LocallySignedCert", f"pki-{host}-cert")
        # a host's identity is no client identity: no docker API accepts it (issue 15)
        assert sorted(cert.input("allowedUses")) == sorted(["server_auth", "digital_signature", "key_encipherment"])
        assert cert.input("validityPeriodHours") == 5 * 365 * 24
        assert 0 < cert.input("earlyRenewalHours") < cert.input("validityPeriodHours")
        assert cert.is_secret_input("caPrivateKeyPem")


def signer_of(program, cert_name: str) -> str:
    """The CA (by logical name) whose key signs ``cert_name`` — followed through the recorded dependencies."""
    cert = program.one("tls:index/locallySignedCert:LocallySignedCert", cert_name)
    cas = [r for r in program.of_type("tls:index/selfSignedCert:SelfSignedCert") if cert.depends_on(r)]
    (ca,) = cas
    return ca.name


def test_the_client_ca_signs_only_the_programs_and_the_backup_agents_certificates(separate_up):
    """dockerd's tlscacert is the client CA (hostsetup/docker.sh): what it signs is who may call a docker API."""
    program = separate_up
    signed = sorted(
        r.name
        for r in program.of_type("tls:index/locallySignedCert:LocallySignedCert")
        if signer_of(program, r.name) == "pki-client-ca"
    )
    certs = {r.name for r in program.of_type("tls:index/locallySignedCert:LocallySignedCert")}
    agent = ["pki-backup-agent-cert"] if "pki-backup-agent-cert" in certs else []
    assert signed == sorted(["pki-client-cert", *agent])
    for host in ["s-hive0", "s-hive1", "s-hive2", "s-hive3"]:
        assert signer_of(program, f"pki-{host}-cert") == "pki-ca"
    client_ca = program.one("tls:index/selfSignedCert:SelfSignedCert", "pki-client-ca").outputs["certPem"]
    for host in ["s-hive0", "s-hive1", "s-hive2", "s-hive3"]:
        blocks = program.one(COMMAND, f"{host}-docker").input("stdin").split("-----END CERTIFICATE-----")
        assert marker(client_ca) in blocks[2]  # the fourth PEM block: dockerd's tlscacert


def test_client_certificate(separate):
    csr = separate.one("tls:index/certRequest:CertRequest", "pki-client-csr")
    assert csr.input("subject.commonName") == "client.pdns"
    cert = separate.one("tls:index/locallySignedCert:LocallySignedCert", "pki-client-cert")
    assert "client_auth" in cert.input("allowedUses") and "server_auth" not in cert.input("allowedUses")


# --- SDK types --------------------------------------------------------------------------------------------


def test_inputs_valid_against_sdk_types(separate, shared):
    problems = []
    for program in (separate, shared):
        for r in program.resources:
            if r.custom and r.type.startswith(MY_TYPES):
                problems += check_inputs(r.type, r.inputs)
    assert problems == []


# --- a cloud host: the machine resource ---------------------------------------------------------------------

AWS_CONFIG = {
    "hive:name": "pdns",
    "hive:domain": "example.com",
    "hive:provider": "aws",
    "hive:region": "ap-northeast-1",
    "hive:cidr": "10.1.0.0/16",
    "hive:mirrored_disk_size": 20,  # the sample site has a DRBD volume
}


@pytest.fixture(scope="module")
def aws_up():
    return run(AWS_CONFIG, False)


def test_cloud_steps_are_deleted_with_their_machine_and_rerun_on_a_new_one(aws_up):
    hosts = hostnames(aws_up)
    urns = {r.urn: r for r in aws_up.resources}
    machine: dict[str, set[str]] = {h: set() for h in hosts}
    identity: dict[str, set[str]] = {h: set() for h in hosts}
    for r in provisioned(aws_up, COMMAND):
        host = split_name(r.name, hosts)[0]
        assert r.deleted_with in urns, r.name
        assert urns[r.deleted_with].custom
        machine[host].add(r.deleted_with)
        identity[host].add(r.input("triggers")[-1])
    for values in (machine, identity):
        assert all(len(v) == 1 for v in values.values())
        assert len(set.union(*values.values())) == len(hosts)  # one machine per host, all different


def test_cloud_certificates_name_the_public_address(aws_up):
    for r in aws_up.of_type("tls:index/certRequest:CertRequest"):
        if r.name in ("pki-client-csr", "pki-backup-agent-csr"):
            continue
        private, public, loopback = r.input("ipAddresses")
        assert private.startswith("10.1.") and loopback == "127.0.0.1"
        assert public and public != private and not is_unknown(public)


def test_host_generation_reruns_only_that_hosts_steps(separate_up):
    bumped = run({**BASE_CONFIG, "hive:host_generation": {"s-hive1": 1}}, preview=False)

    def triggers(result):
        return {r.name: r.input("triggers") for r in provisioned(result, COMMAND)}

    before, after = triggers(separate_up), triggers(bumped)
    changed = {name for name in before if before[name] != after[name]}
    assert changed and all(name.startswith("s-hive1-") for name in changed)
    assert {name for name in before if name.startswith("s-hive1-")} == changed


def test_the_program_reads_the_join_token_with_its_own_client_certificate(separate_up):
    """A host's certificate is no docker client: the local ``swarm-token`` command reads the token from the
    hives (the first one first) with the program's client key on stdin, after swarm-init, never logged."""
    program = separate_up
    token = program.one("command:local:Command", "provision-swarm-token")
    assert token.input("create") == (
        "python3 components/provision/join_token.py 192.168.0.10:2376 192.168.0.11:2376 192.168.0.12:2376"
    )
    key = program.one("tls:index/privateKey:PrivateKey", "pki-client-key").outputs["privateKeyPem"]
    cert = program.one("tls:index/locallySignedCert:LocallySignedCert", "pki-client-cert").outputs["certPem"]
    ca = program.one("tls:index/selfSignedCert:SelfSignedCert", "pki-ca").outputs["certPem"]
    assert token.input("stdin") == "".join(p if p.endswith("\n") else p + "\n" for p in (key, cert, ca))
    assert token.is_secret_input("stdin") and token.input("logging") == "none"
    assert {"stdout", "stderr"} <= set(token.additional_secret_outputs)
    assert token.depends_on(program.one(COMMAND, "s-hive0-swarm-init"))
    assert token.input("triggers") == [f"s-hive0.pdns@{FOUR[0]}#generation-0"]  # read again for a new first hive
