"""The local provider (the ``private`` stage): host containers on the operator's engine, nothing in a cloud,
the same provisioning as any other host, DRBD replaced by local volumes with a warning."""

from __future__ import annotations

import functools
import platform
from typing import Any

import pytest

from components.infra import local
from components.infra.local_caps import ENGINE_MAY_REJECT, container_capabilities, read_proc_status
from tests.harness import ProgramRun, RecordedResource, assert_valid_inputs, is_unknown
from tests.program.infra_support import expected_site, run, sample_config

CONTAINER = "docker:index/container:Container"
NETWORK = "docker:index/network:Network"
VOLUME = "docker:index/volume:Volume"
IMAGE = "docker:index/remoteImage:RemoteImage"
COMMAND = "command:remote:Command"
COPY = "command:remote:CopyToRemote"
CLOUD_PREFIXES = ("aws:", "gcp:", "azure-native:", "pulumi:providers:aws", "pulumi:providers:gcp")
DRBD_WARNING = "DRBD cannot run inside the local provider's containers"
FAKE_KEY = (
    "-----BEGIN OPENSSH PRIVATE KEY-----\n"
    "b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW\n"
    "-----END OPENSSH PRIVATE KEY-----\n"
)

# The runs are cached per process: keep this module on one xdist worker (``--dist loadgroup``).
pytestmark = pytest.mark.xdist_group("infra-local")


@functools.cache
def local_run(preview: bool) -> ProgramRun:
    """The project's own Pulumi.private.yaml, as ``pulumi up -s private`` / ``pulumi preview`` would run it."""
    return run("private", sample_config("private"), preview=preview)


@pytest.fixture
def program(preview: bool) -> ProgramRun:
    return local_run(preview)


def hosts_of(program: ProgramRun) -> dict[str, Any]:
    return {h.hostname: h for h in expected_site(program).hosts}


def of_local(program: ProgramRun, type_: str) -> list[RecordedResource]:
    """Resources of ``type_`` the local provider component made (the swarm layer has docker resources too)."""
    return [r for r in program.descendants(program.one("hive:infra:Local")) if r.type == type_]


def engine_provider(program: ProgramRun) -> RecordedResource:
    (provider,) = of_local(program, "pulumi:providers:docker")
    return provider


def host_steps(program: ProgramRun, type_: str) -> list[RecordedResource]:
    """The host provisioner's commands or copies (not the swarm layer's own commands)."""
    return [r for r in program.of_type(type_) if program.parent_of(r).type == "hive:provision:Host"]


# -- the machines ----------------------------------------------------------------------------------------


def test_one_container_per_host_on_one_network(program):
    site = expected_site(program)
    containers = {c.name: c for c in of_local(program, CONTAINER)}
    assert set(containers) == {h.hostname for h in site.hosts}
    assert containers == {c.name: c for c in program.of_type(CONTAINER)}
    (network,) = of_local(program, NETWORK)
    assert network.inputs["name"] == f"p-{site.stage.name}-net"
    assert network.inputs["driver"] == "bridge"
    assert network.inputs["ipamConfigs"] == [{"subnet": "10.199.56.0/24", "gateway": "10.199.56.1"}]
    assert network.delete_before_replace
    for host in site.hosts:
        c = containers[host.hostname]
        assert c.inputs["name"] == host.fqdn
        assert c.inputs["hostname"] == host.hostname
        assert c.inputs["networksAdvanced"] == [{"name": network.inputs["name"], "ipv4Address": host.private_ip}]
        assert c.delete_before_replace
        assert c.ignore_changes == ["image"]
        assert {"label": "host", "value": host.fqdn} in c.inputs["labels"]
        assert {"label": "stage", "value": "private"} in c.inputs["labels"]
    volumes = {v.name: v for v in of_local(program, VOLUME)}
    assert set(volumes) == {f"{h.hostname}-docker" for h in site.hosts}
    for host in site.hosts:
        mounts = containers[host.hostname].inputs["mounts"]
        assert {"type": "volume", "source": f"{host.fqdn}-docker", "target": "/var/lib/docker"} in mounts


def test_every_docker_resource_goes_through_the_engine_provider(program):
    component = program.one("hive:infra:Local")
    provider = engine_provider(program)
    assert provider.parent == component.urn and provider.name == "engine"
    # never pings the engine: a preview contacts nothing, and the input does not flap between preview and up
    assert provider.inputs["disableDockerDaemonCheck"] == "true"
    local_docker = [r for r in program.children(component) if r.type.startswith("docker:")]
    assert {r.type for r in local_docker} == {CONTAINER, NETWORK, VOLUME, IMAGE}
    for r in local_docker:
        assert r.provider_urn == provider.urn, r
    # and nothing else is created on the operator's engine (the swarm layer talks to the hosts' daemons)
    others = [r for r in program.resources if r.type.startswith("docker:") and r not in local_docker]
    assert [r for r in others if r.provider_urn == provider.urn] == []


def test_no_cloud_resource_at_all(program):
    assert [r for r in program.resources if r.type.startswith(CLOUD_PREFIXES)] == []
    assert [i.token for i in program.invokes] == []


def test_host_image_is_built_from_hostsetup(program):
    site = expected_site(program)
    (image,) = of_local(program, IMAGE)
    assert image.inputs["name"] == f"hive-host:p-{site.stage.name}"
    assert image.inputs["build"]["context"] == "hostsetup/local-host"
    assert image.inputs["build"]["buildArgs"] == {"user": site.stage.ssh_user}
    assert image.inputs["triggers"] == {"context": local.context_digest(local.IMAGE_CONTEXT)}
    assert image.inputs["keepLocally"] is True
    for c in program.of_type(CONTAINER):
        assert c.depends_on(image)
        if not program.preview:
            assert c.inputs["image"] == image.outputs["imageId"]


def test_container_settings_for_systemd_and_a_nested_dockerd(program):
    expected_caps = container_capabilities(read_proc_status())
    for c in program.of_type(CONTAINER):
        inputs = c.inputs
        assert "privileged" not in inputs
        assert inputs["capabilities"] == {"adds": expected_caps}
        assert not set(inputs["capabilities"]["adds"]) & ENGINE_MAY_REJECT
        assert {"SYS_ADMIN", "NET_ADMIN", "MKNOD"} <= set(inputs["capabilities"]["adds"])
        assert inputs["securityOpts"] == ["seccomp=unconfined", "apparmor=unconfined"]
        assert inputs["cgroupnsMode"] == "private"
        assert set(inputs["tmpfs"]) == {"/run", "/run/lock"}
        assert inputs["stopSignal"] == "SIGRTMIN+3"
        assert inputs["restart"] == "unless-stopped"


def test_authorized_key_is_the_programs_key(program):
    key = program.one("tls:index/privateKey:PrivateKey", "ssh-key")
    for c in program.of_type(CONTAINER):
        upload = c.inputs["uploads"][0]
        assert upload["file"] == "/home/admin/.ssh/authorized_keys"
        assert upload["permissions"] == "0644"  # root-owned: sshd's StrictModes accepts it, the user reads it
        if program.preview:
            assert is_unknown(upload["content"])
        else:
            assert upload["content"] == key.outputs["publicKeyOpenssh"].strip() + "\n"


def test_every_input_is_valid_for_the_sdk(program):
    assert_valid_inputs(program)


# -- reaching the hosts ------------------------------------------------------------------------------------


def connections(program: ProgramRun) -> dict[str, tuple[Any, Any]]:
    """host name → (connection host, port) of its step commands (all the same per host); in an update only
    (in a preview the whole connection is unknown: it holds the key, which does not exist yet)."""
    assert not program.preview
    out: dict[str, set[tuple[Any, Any]]] = {}
    for cmd in host_steps(program, COMMAND):
        parent = program.parent_of(cmd)
        conn = cmd.inputs["connection"]
        out.setdefault(parent.name, set()).add((conn["host"], conn["port"]))
    assert all(len(v) == 1 for v in out.values()), out
    return {k: next(iter(v)) for k, v in out.items()}


@pytest.mark.skipif(platform.system() != "Linux", reason="the program chooses by the platform it runs on")
def test_on_linux_hosts_are_reached_at_their_private_address(program):
    for c in program.of_type(CONTAINER):
        assert "ports" not in c.inputs
    if not program.preview:
        hosts = hosts_of(program)
        assert connections(program) == {name: (h.private_ip, 22) for name, h in hosts.items()}
        assert "HostName 10.199.56.4\n  Port 22\n" in program.outputs["ssh_config"]


@functools.cache
def desktop_run(preview: bool) -> ProgramRun:
    original = platform.system
    platform.system = lambda: "Darwin"
    try:
        return run("private", sample_config("private"), preview=preview)
    finally:
        platform.system = original


def test_on_docker_desktop_ssh_and_docker_api_are_published_on_loopback(preview):
    program = desktop_run(preview)
    hosts = hosts_of(program)
    for c in program.of_type(CONTAINER):
        index = hosts[c.name].index
        assert c.inputs["ports"] == [
            {"internal": 22, "external": 22200 + index, "ip": "127.0.0.1", "protocol": "tcp"},
            {"internal": 2376, "external": 23760 + index, "ip": "127.0.0.1", "protocol": "tcp"},
        ]
        # the bridge address stays the inventory's (swarm and DRBD-free volumes use it between the hosts)
        assert c.inputs["networksAdvanced"][0]["ipv4Address"] == hosts[c.name].private_ip
    if not preview:
        assert connections(program) == {name: ("127.0.0.1", 22200 + h.index) for name, h in hosts.items()}
        config = program.outputs["ssh_config"]
        for h in hosts.values():
            assert f"Host {h.fqdn} {h.hostname}\n  HostName 127.0.0.1\n  Port {22200 + h.index}\n" in config
        (swarm,) = [p for p in program.of_type("pulumi:providers:docker") if p.name == "swarm"]
        first = next(h for h in hosts.values() if h.first_hive)
        assert swarm.inputs["host"] == f"tcp://127.0.0.1:{23760 + first.index}"
    assert_valid_inputs(program)


def test_reach_is_chosen_by_the_platform():
    host = expected_site(local_run(False)).hosts[2]
    assert local.reach(host, "Linux") == local.Reach(host.private_ip, 22, 2376, ())
    assert local.reach(host, "Linux").public_ip is None
    for system in ("Darwin", "Windows"):
        where = local.reach(host, system)
        assert (where.address, where.ssh_port, where.public_ip) == ("127.0.0.1", 22202, "127.0.0.1")
        assert where.published == ((22, 22202), (2376, 23762))


# -- provisioning ------------------------------------------------------------------------------------------


@functools.cache
def prepared_run_of_the_same_shape() -> ProgramRun:
    site = expected_site(local_run(False))
    config = {
        **sample_config("private"),
        "hive:provider": "prepared",
        "hive:ip_address_list": [h.private_ip for h in site.hosts],
        "hive:ssh_private_key": FAKE_KEY,
    }
    return run("private", config, preview=False, secret_config=["hive:ssh_private_key"])


def steps(program: ProgramRun, type_: str, key: str) -> set[tuple[str, str, Any]]:
    """(host, resource name, input ``key``) of every host provisioner command or copy."""
    return {(program.parent_of(r).name, r.name, r.inputs.get(key)) for r in host_steps(program, type_)}


def without_drbd(items: set[tuple[str, str, Any]]) -> set[tuple[str, str, Any]]:
    return {item for item in items if "drbd" not in item[1]}


def test_the_same_provisioner_steps_as_a_prepared_stage():
    """Host for host, the same steps with the same command lines and files — except DRBD's, which the
    prepared stage has because DRBD can run there."""
    local_program, prepared = local_run(False), prepared_run_of_the_same_shape()
    local_commands, prepared_commands = steps(local_program, COMMAND, "create"), steps(prepared, COMMAND, "create")
    assert local_commands == without_drbd(prepared_commands)
    assert {name.removeprefix(f"{host}-") for host, name, _ in prepared_commands - local_commands} == {
        "drbd-install",
        "drbd-pool",
    }
    local_copies, prepared_copies = steps(local_program, COPY, "remotePath"), steps(prepared, COPY, "remotePath")
    assert local_copies == without_drbd(prepared_copies)
    assert len(local_commands) == len(host_steps(local_program, COMMAND)) > 0


def test_a_replaced_container_runs_every_step_again():
    program = local_run(False)
    containers = {c.name: c for c in program.of_type(CONTAINER)}
    for cmd in [*host_steps(program, COMMAND), *host_steps(program, COPY)]:
        host = program.parent_of(cmd).name
        container = containers[host]
        assert f"{container.id}#generation-0" in cmd.inputs["triggers"], cmd
        assert cmd.deleted_with == container.urn


def test_drbd_volumes_fall_back_to_local_volumes_with_a_warning(program):
    warnings = [w for w in program.warnings if DRBD_WARNING in w]
    assert warnings, program.warnings
    assert all("plain local volume" in w for w in warnings)
    site = expected_site(program)
    assert [v.name for v in site.volumes if v.kind == "drbd"] == []
    assert [r.name for r in program.resources if "drbd" in r.name.lower()] == []
    for cmd in program.of_type(COMMAND):
        assert "drbd" not in str(cmd.inputs.get("create", "")).lower()


# -- preview -------------------------------------------------------------------------------------------------


def test_preview_needs_no_engine():
    # An engine address nothing answers on: the program never asks it anything, in a preview or at all.
    # (Named in stack config: an exported DOCKER_HOST would redirect the image builds — components/swarm/images.py.)
    config = {**sample_config("private"), "docker:host": "unix:///nonexistent/docker.sock"}
    program = run("private", config, preview=True)
    assert program.errors == []
    provider = engine_provider(program)
    assert provider.inputs["host"] == "unix:///nonexistent/docker.sock"
    assert provider.inputs["disableDockerDaemonCheck"] == "true"
    for c in program.of_type(CONTAINER):
        assert c.id is None and is_unknown(c.outputs["image"])


def test_preview_registers_what_an_update_does():
    def graph(program: ProgramRun) -> list[tuple[str, str]]:
        return sorted((r.type, r.name) for r in program.resources)

    assert graph(local_run(True)) == graph(local_run(False))


def test_each_container_gets_its_generated_host_key_as_a_secret_upload(program):
    for c in program.of_type(CONTAINER):
        host_key = program.one("tls:index/privateKey:PrivateKey", f"{c.name}-host-key")
        assert host_key.inputs["algorithm"] == "ED25519"
        _, private, public = c.inputs["uploads"]
        assert (private["file"], private["permissions"]) == ("/etc/ssh/ssh_host_ed25519_key", "0600")
        assert (public["file"], public["permissions"]) == ("/etc/ssh/ssh_host_ed25519_key.pub", "0644")
        assert c.is_secret_input("uploads[1].content") and not c.is_secret_input("uploads[0].content")
        if not program.preview:
            assert private["content"] == host_key.outputs["privateKeyOpenssh"]
            assert public["content"] == host_key.outputs["publicKeyOpenssh"]
