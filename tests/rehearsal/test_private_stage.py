"""Issue 6's rehearsal acceptance: ``pulumi up -s private`` minus the Pulumi engine, from nothing to the sample
site answering DNS and HTTP.

ONE ``up`` of the real ``__main__.py`` with the project's own ``Pulumi.private.yaml`` and the real services/
sample site, under :class:`~tests.rehearsal.swarm_engine.SwarmRehearsalMocks`, in the order the engine would:

1. the local provider's docker resources (the host image, the bridge network, the hosts' docker volumes and
   the host containers) are created on this machine's engine exactly as the program's inputs say
   (tests/rehearsal/docker_apply.py);
2. the program's own host commands run over SSH on those containers (keys and certificates made for real);
3. the swarm layer goes through the hosts' TLS Docker APIs: four images built from Debian packages on the
   repository server and pushed to the site registry, the overlay network, and the four services, each
   awaited until its tasks run (``converge_config``).

Two changes to the stage keep concurrent sessions on one engine apart: the hive name (``ps<pid>``) and a free
/24 as ``cidr``. The one offline substitute: ``debian:trixie`` is the lab's debootstrap image, on the outer
engine (the host image's FROM) and loaded into the repository server's daemon (the services' FROM).

The heaviest rehearsal (minutes: the builds), so one module-scoped site and a handful of checks on it.
"""

from __future__ import annotations

import os
import random
import socket
import struct
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from tests.harness import ProgramRun
from tests.program.infra_support import PROJECT, PROJECT_CONFIG, sample_config
from tests.rehearsal import lab as hivelab
from tests.rehearsal.docker_apply import CONTAINER, DockerApplier, provide_base_image
from tests.rehearsal.engine import SAME, SKIP, rehearse
from tests.rehearsal.swarm_apply import SERVICE, ProviderClients
from tests.rehearsal.swarm_engine import SwarmRehearsalMocks, seed_base_image, swarm_targets

pytestmark = pytest.mark.rehearsal

SAMPLE_SERVICES = {"pdnsdb", "powerdns", "pdnsadmin", "proxy"}
SECRET_CONFIG = ["hive:ssh_private_key"]


@dataclass
class PrivateStage:
    config: dict[str, Any]
    mocks: SwarmRehearsalMocks
    run: ProgramRun
    seconds: float
    swarm: Any  # Docker client of the first hive (the swarm manager the program's provider talks to)

    def hive_addresses(self) -> list[str]:
        return sorted(c.inputs["networksAdvanced"][0]["ipv4Address"] for c in self.run.of_type(CONTAINER))


def private_config(client: Any, name: str) -> dict[str, Any]:
    return {
        **PROJECT_CONFIG,
        **sample_config("private"),
        "hive:name": name,
        "hive:cidr": hivelab.free_subnet(client, base="10.234.0.0/16", seed=name),
    }


def up(config: dict[str, Any], mocks: SwarmRehearsalMocks) -> ProgramRun:
    return rehearse(PROJECT, "private", config, mocks, secret_config=SECRET_CONFIG)


@pytest.fixture(scope="module")
def private_stage(lab_engine: Any, host_image: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrivateStage]:
    provide_base_image(lab_engine, host_image)
    name = f"ps{os.getpid():x}"
    config = private_config(lab_engine, name)
    applier = DockerApplier(lab_engine, PROJECT)
    mocks = SwarmRehearsalMocks(
        tmp_path_factory.mktemp("private-state") / "state.json",
        base_dir=PROJECT,
        targets=swarm_targets(),
        local_applier=applier,
        base_image_seed=seed_base_image(lab_engine, host_image),
    )
    clients = ProviderClients()
    try:
        started = time.monotonic()
        run = up(config, mocks)
        seconds = time.monotonic() - started
        print(f"private stage {name} ({config['hive:cidr']}): from nothing to the sample site in {seconds:.0f}s")
        provider = run.one("pulumi:providers:docker", "swarm")
        swarm = clients.client_for("swarm", provider.inputs)
        yield PrivateStage(config, mocks, run, seconds, swarm)
    finally:
        mocks.close()
        clients.close()
        if not os.environ.get("HIVE_REHEARSAL_KEEP"):
            applier.destroy_all(remove_images=True)


def test_the_sample_site_services_all_run(private_stage: PrivateStage) -> None:
    assert {s.inputs["name"] for s in private_stage.run.of_type(SERVICE)} == SAMPLE_SERVICES
    for service in SAMPLE_SERVICES:
        tasks = private_stage.swarm.api.tasks(filters={"service": service, "desired-state": "running"})
        assert tasks and {t["Status"]["State"] for t in tasks} == {"running"}, service


def dns_query(address: str, name: str = "example.com", port: int = 53, timeout: float = 5) -> bytes:
    """One UDP DNS query (SOA ``name``); the raw answer."""
    ident = random.randrange(1 << 16)
    question = b"".join(bytes([len(label)]) + label.encode() for label in name.split(".")) + b"\0"
    packet = struct.pack(">HHHHHH", ident, 0x0100, 1, 0, 0, 0) + question + struct.pack(">HH", 6, 1)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(timeout)
        sock.sendto(packet, (address, port))
        answer, _ = sock.recvfrom(4096)
    assert struct.unpack(">H", answer[:2])[0] == ident, "an answer to another query"
    return answer


def test_powerdns_answers_dns_on_every_hive(private_stage: PrivateStage) -> None:
    for address in private_stage.hive_addresses():
        deadline = time.monotonic() + 60
        while True:
            try:
                answer = dns_query(address)
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(2)
        flags = struct.unpack(">H", answer[2:4])[0]
        assert flags & 0x8000, f"{address}: not a DNS response"
        assert flags & 0x000F != 2, f"{address}: SERVFAIL (PowerDNS without its database?)"


def test_proxy_answers_http_on_port_80_through_to_the_admin_ui(private_stage: PrivateStage) -> None:
    address = private_stage.hive_addresses()[0]
    deadline = time.monotonic() + 60
    while True:
        try:
            with urllib.request.urlopen(f"http://{address}/", timeout=10) as response:
                status, body = response.status, response.read().decode(errors="replace")
            break
        except (urllib.error.HTTPError, OSError):
            if time.monotonic() > deadline:
                raise
            time.sleep(2)
    assert status == 200
    assert "Adminer" in body


def test_second_up_changes_nothing(private_stage: PrivateStage) -> None:
    up(private_stage.config, private_stage.mocks)
    record = private_stage.mocks.current
    assert record.executions == []
    assert {d.operation for d in record.decisions} <= {SAME, SKIP}
