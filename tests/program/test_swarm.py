"""Program tests of the Swarm component (components/swarm) under mocks, in preview and up mode.

A small project (its own ``__main__.py``, ``services/``, a build context) instantiates :class:`Swarm` alone on
provisioned hosts that are plain values, the way ``components/hive.py`` will wire it after the provisioner.
Proven here: providers (TLS to the first hive and the repository server, no daemon check in preview,
``depends_on`` the swarm/registry being ready), networks, image builds only where the stage builds (and the
service runs the pushed digest), stage filtering, every service attribute reaching ``docker.Service`` in the
engine's (camelCase) form, the default logging, DRBD volume steps (resource file on stdin, env, ordering: the
format host after every other hive, growfs after it, services after their volumes), conntrack flushes only
for UDP services, the component outputs, no secret in clear text, and every input valid against the SDK.
"""

from __future__ import annotations

import json
import re
import textwrap
from pathlib import Path
from typing import Any

import pytest
import yaml

from components.inventory.allocation import Allocations
from components.inventory.services import parse_catalog
from components.inventory.site import resolve_site
from components.inventory.stage import ConfigValue, parse_stage
from components.swarm.networks import site_vxlan_ids
from tests.harness import BaseMocks, assert_valid_inputs, is_unknown, run_program

SERVICE = "docker:index/service:Service"
IMAGE = "docker:index/image:Image"
NETWORK = "docker:index/network:Network"
COMMAND = "command:remote:Command"
COPY = "command:remote:CopyToRemote"
DOCKER_PROVIDER = "pulumi:providers:docker"
FOUR = ["192.168.0.10", "192.168.0.11", "192.168.0.12", "192.168.0.13"]
CONFIG: dict[str, Any] = {
    "hive:name": "pdns",
    "hive:provider": "prepared",
    "hive:cidr": "192.168.0.0/24",
    "hive:ip_address_list": FOUR,
    "hive:ssh_private_key": "[secret]",
    "hive:internal_cidr": "10.254.0.0/16",
}
SECRET_CONFIG = ["hive:ssh_private_key"]  # set with --secret, as the program requires
CA_PEM = "-----BEGIN CERTIFICATE-----\nFAKECA\n-----END CERTIFICATE-----\n"
CLIENT_CERT = "-----BEGIN CERTIFICATE-----\nFAKECLIENT\n-----END CERTIFICATE-----\n"
CLIENT_KEY = "-----BEGIN PRIVATE KEY-----\nclient-key-secret-material\n-----END PRIVATE KEY-----\n"
REGISTRY_PASSWORD = "registry-password-secret"
SSH_KEY = "-----BEGIN OPENSSH PRIVATE KEY-----\nssh-key-secret-material\n-----END OPENSSH PRIVATE KEY-----\n"

SERVICES: dict[str, Any] = {
    "plugin": "hive_services",
    "networks": {"front": {"ipam": {"config": [{"subnet": "10.200.0.0/24"}]}}},
    "services": {
        "db": {
            "image": "mariadb:11.4",
            "environment": {"MARIADB_DATABASE": "pdns"},
            "volumes": [
                {
                    "source": "db_data",
                    "target": "/var/lib/mysql",
                    "drbd": {"fstype": "xfs", "size": "1G", "diskless": ["s-hive1"]},
                }
            ],
            "healthcheck": {"test": ["CMD", "healthcheck.sh", "--connect"], "interval": "10s", "retries": 5},
            "restart_config": {"condition": "any", "delay": "5s"},
        },
        "dns": {
            "image": {"from": "powerdns/pdns-auth-49:4.9.4", "env": {"A": "1"}, "stop_signal": "SIGTERM"},
            "command": ["--launch=gmysql"],
            "ports": ["53:53/tcp", "53:53/udp", "8081"],
            "mode": "global",
            "placement": {"constraints": ["node.labels.hives == true"]},
        },
        "web": {
            "image": {"context": "web", "args": {"V": "1.27"}},
            "ports": [{"target": 80, "published": 8080, "protocol": "tcp", "mode": "host"}],
            "replicas": 2,
            "networks": ["front"],
            "entrypoint": ["/entry.sh"],
            "user": "nginx",
            "working_dir": "/srv",
            "dns": ["10.0.0.2"],
            "hosts": {"api.example": "10.9.9.9"},
            "labels": {"tier": "web"},
            "logging": {"driver": "json-file", "options": {"max-size": "10m"}},
            "placement": {"preferences": [{"spread": "node.labels.az"}], "max_replicas": 1},
            "stop_grace_period": "20s",
            "cap_add": ["NET_ADMIN"],
            "cap_drop": ["MKNOD"],
            "sysctls": {"net.core.somaxconn": "1024"},
            "cpu_limit": 0.5,
            "mem_limit": "256M",
            "endpoint_mode": "vip",
            "volumes": [
                {"source": "certs", "target": "/certs", "driver": "local", "driver_opts": {"type": "tmpfs"}},
                {"source": "/etc/localtime", "target": "/etc/localtime", "readonly": True},
                {"target": "/tmp", "type": "tmpfs"},
            ],
        },
        "pulled": {"image": {"from": "alpine:3.20", "pull_on": ["staging"], "pull_from": "alpine:3.20"}},
        "prodonly": {"image": "busybox:1.36", "available_on": ["production"]},
        "system": {"image": "debian:13", "standalone": True},
    },
}

MAIN = '''
"""Test program: the Swarm component alone, on provisioned hosts that are plain values."""
from pathlib import Path

import pulumi
import pulumi_command as command

from components.infra.types import ProvisionedHost
from components.program_site import load_program_site
from components.swarm import Swarm, SwarmArgs

here = Path(__file__).resolve().parent
program = load_program_site(here)
site = program.site
hosts = [
    ProvisionedHost(
        spec=h, public_ip=None, address=h.private_ip, ssh_port=22, machine=None,
        machine_id=f"machine-{h.hostname}", mirrored_device_hint=None,
        host_key=f"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI{h.index:043d}",
    )
    for h in site.hosts
]
swarm_ready = command.local.Command("swarm-ready", create="true")
registry_ready = command.local.Command("registry-ready", create="true")
drbd_ready = command.local.Command("drbd-ready", create="true")
swarm = Swarm(
    "swarm",
    SwarmArgs(
        program=program,
        hosts=hosts,
        ca_pem=CA,
        client_cert_pem=CERT,
        client_key_pem=pulumi.Output.secret(KEY),
        registry_password=pulumi.Output.secret(PASSWORD),
        ssh_private_key=pulumi.Output.secret(SSH),
        swarm_ready=[swarm_ready],
        registry_ready=[registry_ready],
        drbd_ready=[drbd_ready],
        project_dir=here,
    ),
)
pulumi.export("services", swarm.services_output)
pulumi.export("volumes", swarm.volumes_output)
pulumi.export("registry", swarm.registry)
'''


def write_project(root: Path, services: dict[str, Any]) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "Pulumi.yaml").write_text(yaml.safe_dump({"name": "hive", "runtime": "python"}))
    (root / "services" / "web").mkdir(parents=True, exist_ok=True)
    (root / "services" / "web" / "Dockerfile").write_text("ARG V\nFROM nginx:${V}\n")
    (root / "services" / "site.yml").write_text(yaml.safe_dump(services, sort_keys=False))
    constants = (
        f"CA = {CA_PEM!r}\nCERT = {CLIENT_CERT!r}\nKEY = {CLIENT_KEY!r}\n"
        f"PASSWORD = {REGISTRY_PASSWORD!r}\nSSH = {SSH_KEY!r}\n"
    )
    main = MAIN.replace('"""\nfrom pathlib', '"""\n' + constants + "from pathlib", 1)
    (root / "__main__.py").write_text(textwrap.dedent(main))
    return root


def run(project: Path, preview: bool, stack: str = "staging", **config: Any):
    return run_program(
        project, stack, {**CONFIG, **config}, preview=preview, mocks=BaseMocks(), secret_config=SECRET_CONFIG
    )


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_project(tmp_path_factory.mktemp("swarm-project"), SERVICES)


@pytest.fixture(scope="module", params=[False, True], ids=["up", "preview"])
def both(project: Path, request: pytest.FixtureRequest):
    return run(project, request.param)


@pytest.fixture(scope="module")
def up(project: Path):
    return run(project, False)


def expected_site(stack: str = "staging", **config: Any):
    values = {**CONFIG, **config}
    secret = set(SECRET_CONFIG)
    config_values = {k: ConfigValue(v, f"Pulumi.{stack}.yaml", secret=k in secret) for k, v in values.items()}
    stage = parse_stage(config_values, stack)
    return resolve_site(stage, parse_catalog([("services/site.yml", SERVICES)]), Allocations.empty())


def service(run_, name: str):
    return run_.one(SERVICE, f"service-{name}")


def named(run_, type_: str, prefix: str):
    return sorted((r for r in run_.of_type(type_) if r.name.startswith(prefix)), key=lambda r: r.name)


# --- the whole run --------------------------------------------------------------------------------------------


def test_inputs_are_valid_against_the_sdk(both) -> None:
    assert_valid_inputs(both)


def strings(value: Any, path: str = ""):
    if isinstance(value, str):
        yield path, value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from strings(item, f"{path}.{key}" if path else key)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from strings(item, f"{path}[{index}]")


def test_no_secret_in_clear_text(both) -> None:
    secrets = ("client-key-secret-material", REGISTRY_PASSWORD, "ssh-key-secret-material")
    for r in both.resources:
        for path, value in strings(r.inputs):
            if any(secret in value for secret in secrets):
                assert r.is_secret_input(path), f"a secret in plain input {r.name}.{path}"
        for path, value in strings(r.outputs):
            if any(secret in value for secret in secrets):
                assert r.is_secret_output(path), f"a secret in plain output {r.name}.{path}"
    for path, value in strings(both.outputs):
        assert not any(secret in value for secret in secrets), path
    for provider in both.of_type(DOCKER_PROVIDER):  # a preview's endpoint has no TLS material (docker_endpoint.py)
        assert provider.is_secret_input("keyMaterial") or (both.preview and provider.input("keyMaterial") is None)
    for image in both.of_type(IMAGE):
        assert image.is_secret_input("registry.password")
    for svc in both.of_type(SERVICE):
        if svc.input("auth") is not None:
            assert svc.is_secret_input("auth.password")


def test_resource_counts(both) -> None:
    types = both.types
    assert types[SERVICE] == 5, "db, dns, web, pulled, system: prodonly is not on staging"
    assert types[IMAGE] == 2, "dns (generated Dockerfile) and web (context): pulled is pulled on staging"
    assert types[NETWORK] == 2
    assert types[DOCKER_PROVIDER] == 2
    # drbd: volume + growfs per hive; conntrack: dns on every hive; converge-services: one; image-digests: one
    # for the three tag images (db, pulled, system); images: pull and prune per hive. No copies: the scripts
    # travel in the hives' bundles (provision steps.swarm_files)
    assert types[COMMAND] == 3 + 3 + 3 + 1 + 1 + 2 * 3
    assert COPY not in types
    assert {r.type for r in both.components} >= {"hive:swarm:Swarm"}


# --- providers -------------------------------------------------------------------------------------------------


def test_providers(up) -> None:
    swarm = up.one(DOCKER_PROVIDER, "swarm")
    repository = up.one(DOCKER_PROVIDER, "repository")
    assert swarm.input("host") == "tcp://192.168.0.10:2376"
    assert repository.input("host") == "tcp://192.168.0.13:2376"
    for provider in (swarm, repository):
        assert provider.input("caMaterial") == CA_PEM and provider.input("certMaterial") == CLIENT_CERT
        assert provider.input("keyMaterial") == CLIENT_KEY


def test_providers_wait_for_their_host_and_serve_their_resources(both) -> None:
    swarm = both.one(DOCKER_PROVIDER, "swarm")
    repository = both.one(DOCKER_PROVIDER, "repository")
    for provider, ready in ((swarm, "swarm-ready"), (repository, "registry-ready")):
        assert provider.input("disableDockerDaemonCheck") in (True, "true")
        assert provider.depends_on(both.one("command:local:Command", ready))
    for svc in both.of_type(SERVICE):
        assert svc.provider_urn == swarm.urn
    for image in both.of_type(IMAGE):
        assert image.provider_urn == repository.urn


# --- networks and images ---------------------------------------------------------------------------------------


def test_networks(both) -> None:
    default = both.one(NETWORK, "network-hive_default_network")
    assert default.inputs["name"] == "hive_default_network"
    assert default.inputs["driver"] == "overlay" and default.inputs["attachable"] is True
    assert default.inputs["ipamConfigs"] == [{"subnet": "10.254.0.0/18", "gateway": "10.254.0.1"}]
    vni = site_vxlan_ids(expected_site())["hive_default_network"]
    assert default.inputs["options"] == {
        "com.docker.network.driver.mtu": "1450",
        "com.docker.network.driver.overlay.vxlanid_list": str(vni[0]),
    }
    assert default.delete_before_replace is True
    front = both.one(NETWORK, "network-front")
    assert front.inputs["ipamConfigs"] == [{"subnet": "10.200.0.0/24", "gateway": "10.200.0.1"}], (
        "named: it is read back"
    )


def test_images_build_on_the_repository_and_push(both, project: Path) -> None:
    dns = both.one(IMAGE, "image-dns")
    assert dns.inputs["imageName"] == "s-hive3.pdns:5000/image_dns:latest"
    assert dns.inputs["build"] == {
        "context": ".hive/build/dns",
        "dockerfile": ".hive/build/dns/Dockerfile",
        "platform": "linux/amd64",
        "args": {"HIVE_REPOSITORY_MACHINE": "machine-s-hive3#generation-0"},
    }
    assert (project / ".hive/build/dns/Dockerfile").read_text() == (
        'FROM powerdns/pdns-auth-49:4.9.4\nENV A="1"\nSTOPSIGNAL SIGTERM\n'
    )
    assert dns.inputs["registry"] == {
        "server": "s-hive3.pdns:5000",
        "username": "hive",
        "password": REGISTRY_PASSWORD,
    }
    web = both.one(IMAGE, "image-web")
    assert web.inputs["build"] == {
        "context": "services/web",
        "dockerfile": "services/web/Dockerfile",
        "platform": "linux/amd64",
        "args": {"V": "1.27", "HIVE_REPOSITORY_MACHINE": "machine-s-hive3#generation-0"},
    }
    assert not web.inputs.get("buildOnPreview"), "preview never builds"


def test_services_run_the_pushed_digest(both) -> None:
    for name in ("dns", "web"):
        image = both.one(IMAGE, f"image-{name}")
        spec_image = service(both, name).input("taskSpec.containerSpec.image")
        if both.preview:
            assert is_unknown(spec_image)
        else:
            assert spec_image == image.outputs["repoDigest"]
            assert spec_image.startswith(f"s-hive3.pdns:5000/image_{name}@sha256:")
        assert service(both, name).input("auth") == {
            "serverAddress": "s-hive3.pdns:5000",
            "username": "hive",
            "password": REGISTRY_PASSWORD,
        }
    assert service(both, "db").input("auth") is None


def test_tag_images_run_the_digest_resolved_on_the_first_hive(both) -> None:
    step = both.one(COMMAND, "image-digests")
    assert step.input("connection.host") == "192.168.0.10", "the first hive"
    script = (Path(__file__).resolve().parents[2] / "components/swarm/image-digest.sh").read_text()
    assert step.input("stdin") == script + "alpine:3.20\ndebian:13\nmariadb:11.4\n", "each distinct tag once, sorted"
    for name, tag in (("pulled", "alpine:3.20"), ("db", "mariadb:11.4")):
        spec_image = service(both, name).input("taskSpec.containerSpec.image")
        if both.preview:
            assert is_unknown(spec_image)  # no state under the mocks: a real preview shows the last up's digest
        else:
            digest = dict(line.split() for line in step.outputs["stdout"].splitlines())[tag]
            assert spec_image == f"{tag}@{digest}"
            assert re.fullmatch(re.escape(tag) + r"@sha256:[0-9a-f]{64}", spec_image)


def test_one_step_checks_every_services_convergence_on_the_first_hive(both) -> None:
    script = (Path(__file__).resolve().parents[2] / "components/swarm/service-converge.sh").read_text()
    assert [c.name for c in named(both, COMMAND, "converge-")] == ["converge-services"]
    wait = both.one(COMMAND, "converge-services")
    assert wait.input("connection.host") == "192.168.0.10", "the first hive (a swarm manager)"
    assert wait.inputs["create"] == "sudo env HIVE_DELAY=7 HIVE_TIMEOUT=180 bash -s"
    services = both.of_type(SERVICE)
    assert all(wait.depends_on(svc) for svc in services), "after every service"
    if both.preview:
        # no service exists yet (their ids are unknown): their lines come at the up (component._converge_line)
        assert wait.inputs["stdin"] == script
        return
    assert wait.inputs["stdin"].startswith(script)
    lines = [line.split() for line in wait.inputs["stdin"].removeprefix(script).splitlines()]
    assert [line[0] for line in lines] == sorted(svc.inputs["name"] for svc in services)
    for name, image, key in lines:
        assert image == service(both, name).input("taskSpec.containerSpec.image")
        assert re.fullmatch(r"[0-9a-f]{64}", key)


def test_converge_keys_change_only_with_the_spec(tmp_path: Path) -> None:
    """Each service's key hashes its id and the spec the program gives it: the same configuration gives the
    same stdin (a no-op up runs nothing), another environment for one service another key for it only."""

    def keys(result: Any) -> dict[str, str]:
        text = result.one(COMMAND, "converge-services").inputs["stdin"]
        return {line.split()[0]: line.split()[2] for line in text.splitlines() if line.count(" ") == 2}

    first, again = (keys(run(write_project(tmp_path / d, SERVICES), False)) for d in ("a", "b"))
    assert first == again and len(set(first.values())) == len(first)
    changed = json.loads(json.dumps(SERVICES))
    changed["services"]["db"]["environment"]["MARIADB_DATABASE"] = "other"
    other = keys(run(write_project(tmp_path / "c", changed), False))
    assert {name for name in first if first[name] != other[name]} == {"db"}


def test_spread_preference_is_the_bare_descriptor(up) -> None:
    # kreuzwerker stringSetToPlacementPrefs sends each string verbatim as SpreadDescriptor
    assert service(up, "web").input("taskSpec.placement.prefs") == ["node.labels.az"]


def test_images_build_for_the_stage_platform(tmp_path: Path) -> None:
    result = run(write_project(tmp_path, SERVICES), False, **{"hive:image_platform": "linux/arm64"})
    assert {i.input("build.platform") for i in result.of_type(IMAGE)} == {"linux/arm64"}


def test_images_follow_the_repository_machine(project: Path) -> None:
    # a new repository machine (here: the operator's host_generation mark) changes the images' inputs
    first = run(project, False)
    replaced = run(project, False, **{"hive:host_generation": {"s-hive3": 1}})
    for name in ("image-dns", "image-web"):
        before = first.one(IMAGE, name).input("build.args.HIVE_REPOSITORY_MACHINE")
        after = replaced.one(IMAGE, name).input("build.args.HIVE_REPOSITORY_MACHINE")
        assert (before, after) == ("machine-s-hive3#generation-0", "machine-s-hive3#generation-1")


def test_networks_name_their_vxlan_ids(both) -> None:
    ids = {n.inputs["name"]: n.inputs["options"]["com.docker.network.driver.overlay.vxlanid_list"] for n in
           both.of_type(NETWORK)}  # fmt: skip
    assert ids == {name: ",".join(map(str, vnis)) for name, vnis in site_vxlan_ids(expected_site()).items()}


@pytest.mark.parametrize("variable", ["DOCKER_HOST", "DOCKER_CERT_PATH", "DOCKER_TLS_VERIFY"])
def test_operator_docker_environment_stops_the_program(
    project: Path, monkeypatch: pytest.MonkeyPatch, variable: str
) -> None:
    monkeypatch.setenv(variable, "tcp://elsewhere:2376" if variable == "DOCKER_HOST" else "1")
    with pytest.raises(Exception, match=rf"^environment: {variable}: set, and pulumi-docker's image builds") as err:
        run(project, True)
    assert "unset DOCKER_HOST DOCKER_CERT_PATH DOCKER_TLS_VERIFY" in str(err.value)
