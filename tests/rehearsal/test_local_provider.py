"""The local provider for real: the ``private`` stage's host containers, created on this machine's engine
exactly as the program's recorded ``docker:*`` inputs say (through the Engine API, tests/rehearsal/
docker_apply.py), boot systemd, accept the program's key over ssh as the stage's user, have sudo, and can run
a nested dockerd.

The program runs under harness mocks whose docker resources are applied for real as they are registered (so
the containers' ids, the image id, ... are the engine's); everything else (keys, certificates, the step
commands) keeps the harness fakes — the key pair is a real ed25519 key there. The stage is the project's own
``Pulumi.private.yaml`` with two changes that keep concurrent sessions on one engine apart: the hive name
(``lr<pid>``) and a free /24 as ``cidr``.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.harness import ProgramRun, RecordedResource, run_program
from tests.program.infra_support import PROJECT, PROJECT_CONFIG, expected_site, sample_config
from tests.rehearsal import lab as hivelab
from tests.rehearsal.docker_apply import (
    CONTAINER,
    NETWORK,
    REMOTE_IMAGE,
    VOLUME,
    DockerApplier,
    DockerApplyMocks,
    provide_base_image,
    remove_labelled,
)

pytestmark = pytest.mark.rehearsal

NAME_PREFIX = "lr"
CACHE_TAG = "hive-host:rehearsal-cache"  # keeps the built layers (the apt step) across sessions


@dataclass
class LocalStage:
    program: ProgramRun
    applier: DockerApplier
    private_key: str
    started_in: float


def _stale_names(client: Any) -> set[str]:
    """Hive names of earlier sessions of this test whose process is gone."""
    names = set()
    objects = [
        *(c.labels for c in client.containers.list(all=True, filters={"label": "stage=private"})),
        *(n.attrs.get("Labels") or {} for n in client.networks.list(filters={"label": "stage=private"})),
        *(v.attrs.get("Labels") or {} for v in client.volumes.list(filters={"label": "stage=private"})),
    ]
    for labels in objects:
        match = re.fullmatch(rf"{NAME_PREFIX}([0-9a-f]+)", labels.get("hive", ""))
        if match and not Path(f"/proc/{int(match.group(1), 16)}").exists():
            names.add(match.group(0))
    return names


@pytest.fixture(scope="module")
def local_stage(lab_engine: Any, host_image: str) -> Iterator[LocalStage]:
    client = lab_engine
    for stale in _stale_names(client):
        removed = remove_labelled(client, {"hive": stale, "stage": "private"})
        print(f"removed {removed} leftovers of {stale} (its process is gone)")
    if provide_base_image(client, host_image):
        print(f"tagged {host_image} as debian:trixie (the Dockerfile's FROM, offline)")
    name = f"{NAME_PREFIX}{os.getpid():x}"
    config = {
        **PROJECT_CONFIG,
        **sample_config("private"),
        "hive:name": name,
        "hive:cidr": hivelab.free_subnet(client, base="10.233.0.0/16", seed=name),
    }
    applier = DockerApplier(client, PROJECT)
    started = time.monotonic()
    try:
        program = run_program(
            PROJECT, "private", config, preview=False, mocks=DockerApplyMocks(applier, fake_others=True)
        )
        elapsed = time.monotonic() - started
        (image,) = of_local(program, REMOTE_IMAGE)
        client.images.get(image.outputs["imageId"]).tag(*CACHE_TAG.split(":"))
        print(f"local stage {name} ({config['hive:cidr']}) created in {elapsed:.1f}s")
        yield LocalStage(program, applier, program.outputs["ssh_private_key"], elapsed)
    finally:
        if not os.environ.get("HIVE_REHEARSAL_KEEP"):
            applier.destroy_all(remove_images=True)  # the tag; the layers stay under CACHE_TAG


def of_local(program: ProgramRun, type_: str) -> list[RecordedResource]:
    """What the local provider component made (the swarm layer has docker resources of its own)."""
    return [r for r in program.descendants(program.one("hive:infra:Local")) if r.type == type_]


def host_commands(program: ProgramRun) -> list[RecordedResource]:
    return [r for r in program.of_type("command:remote:Command") if program.parent_of(r).type == "hive:provision:Host"]


def endpoints(program: ProgramRun) -> dict[str, tuple[str, int, str]]:
    """host name → (address, port, user) the program's host steps connect to."""
    out = {}
    for cmd in host_commands(program):
        conn = cmd.inputs["connection"]
        out[program.parent_of(cmd).name] = (conn["host"], int(conn["port"]), conn["user"])
    return out


def ssh(stage: LocalStage, host: str, command: str, timeout: float = 300) -> str:
    address, port, user = endpoints(stage.program)[host]
    rc, out, err = hivelab.ssh_run(address, port, user, stage.private_key, command, timeout=timeout)
    assert rc == 0, f"{host}: {command!r} failed rc={rc}\nstdout:\n{out}\nstderr:\n{err}"
    return out


def containers(program: ProgramRun) -> dict[str, RecordedResource]:
    return {c.name: c for c in of_local(program, CONTAINER)}


def test_containers_are_what_the_program_recorded(local_stage: LocalStage, lab_engine: Any) -> None:
    program = local_stage.program
    site = expected_site(program)
    (network,) = of_local(program, NETWORK)
    net = lab_engine.api.inspect_network(network.id)
    assert net["IPAM"]["Config"] == [
        {"Subnet": str(site.stage.cidr), "Gateway": str(site.stage.cidr.network_address + 1)}
    ]
    assert {v.inputs["name"] for v in of_local(program, VOLUME)} == {f"{h.fqdn}-docker" for h in site.hosts}
    recorded = containers(program)
    assert set(recorded) == {h.hostname for h in site.hosts}
    for host in site.hosts:
        rec = recorded[host.hostname]
        attrs = lab_engine.api.inspect_container(rec.id)
        inputs, hc, config = rec.inputs, attrs["HostConfig"], attrs["Config"]
        assert attrs["Name"] == f"/{host.fqdn}" and attrs["State"]["Running"]
        assert attrs["Image"] == inputs["image"] == of_local(program, REMOTE_IMAGE)[0].outputs["imageId"]
        assert config["Hostname"] == inputs["hostname"] == host.hostname
        assert hc["CapAdd"] == inputs["capabilities"]["adds"]
        assert not hc["Privileged"]
        assert hc["SecurityOpt"] == inputs["securityOpts"]
        assert hc["CgroupnsMode"] == inputs["cgroupnsMode"] == "private"
        assert hc["Tmpfs"] == inputs["tmpfs"]
        assert hc["RestartPolicy"]["Name"] == inputs["restart"]
        assert config["StopSignal"] == inputs["stopSignal"]
        assert [(m["Type"], m["Source"], m["Target"]) for m in hc["Mounts"]] == [
            (m["type"], m["source"], m["target"]) for m in inputs["mounts"]
        ]
        assert {k: config["Labels"][k] for k in ("hive", "stage", "host")} == {
            "hive": site.stage.name,
            "stage": "private",
            "host": host.fqdn,
        }
        networks = attrs["NetworkSettings"]["Networks"]
        assert list(networks) == [network.inputs["name"]]
        assert networks[network.inputs["name"]]["IPAddress"] == host.private_ip
        # the machine id every host step is triggered on is the engine's container id
        for cmd in host_commands(program):
            if program.parent_of(cmd).name == host.hostname:
                assert f"{rec.id}#generation-0" in cmd.inputs["triggers"]


def test_hosts_boot_systemd_and_take_the_programs_key(local_stage: LocalStage) -> None:
    site = expected_site(local_stage.program)
    user = site.stage.ssh_user
    for host in site.hosts:
        out = ssh(local_stage, host.hostname, "id -un; hostname; sudo -n id -u; systemctl is-system-running --wait")
        lines = out.split()
        assert lines[:3] == [user, host.hostname, "0"], out
        state = lines[3]
        if state != "running":
            failed = ssh(local_stage, host.hostname, "systemctl --failed --no-legend --plain")
            assert state == "degraded", f"{host.hostname}: systemd is {state}"
            print(f"{host.hostname}: degraded: {failed.strip()}")
        # PID 1 made /proc/sys and the cgroup tree writable; the engine's own ReadonlyPaths are untouched
        mounts = ssh(local_stage, host.hostname, "grep -E ' /proc/sys | /sys/fs/cgroup' /proc/self/mountinfo")
        assert " /proc/sys rw," in mounts, mounts
        keys = ssh(local_stage, host.hostname, "ls /etc/ssh/ssh_host_ed25519_key.pub; cat /etc/machine-id")
        assert len(keys.split()[1]) == 32  # its own machine-id, generated at first boot
    ids = {ssh(local_stage, h.hostname, "cat /etc/machine-id").strip() for h in site.hosts}
    assert len(ids) == len(site.hosts)
    print(f"{len(site.hosts)} hosts created and reachable; stage created in {local_stage.started_in:.1f}s")


def test_a_nested_dockerd_runs_containers(local_stage: LocalStage) -> None:
    host = expected_site(local_stage.program).hosts[0].hostname
    started = time.monotonic()
    ssh(
        local_stage,
        host,
        "sudo env DEBIAN_FRONTEND=noninteractive sh -c 'apt-get update -q >/dev/null "
        "&& apt-get install -y -q --no-install-recommends docker.io docker-cli >/dev/null'",
        timeout=600,
    )
    installed = time.monotonic() - started
    info = ssh(local_stage, host, "sudo docker info -f '{{.Driver}} {{.ServerVersion}}'")
    assert info.split()[0] == "overlay2", info  # the /var/lib/docker volume: not vfs
    # a container on a bridge network: veth + the IPv6/forwarding sysctls a read-only /proc/sys refuses
    out = ssh(
        local_stage,
        host,
        "sudo sh -c 'tar -c -C / bin lib lib64 usr etc 2>/dev/null | docker import - hive-selftest >/dev/null "
        '&& docker run --rm hive-selftest sh -c "ip -4 -o addr show eth0; cat /proc/sys/net/ipv4/ip_forward"\'',
    )
    assert "inet " in out and out.split()[-1] == "1", out
    print(f"{host}: docker.io installed in {installed:.1f}s, {info.strip()}, nested container ran")
