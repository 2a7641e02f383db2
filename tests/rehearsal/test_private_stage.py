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
   awaited until its tasks run (``converge-services`` on the first hive).

Two changes to the stage keep concurrent sessions on one engine apart: the hive name (``ps<pid>``) and a free
/24 as ``cidr``. The one offline substitute: ``debian:trixie`` is the lab's debootstrap image, on the outer
engine (the host image's FROM) and loaded into the repository server's daemon (the services' FROM).

The heaviest rehearsal (minutes: the builds), so one module-scoped site and a handful of checks on it.
"""

from __future__ import annotations

import ipaddress
import json
import os
import random
import re
import shlex
import shutil
import socket
import struct
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
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
SECRET_CONFIG = [
    "hive:ssh_private_key",
    "hive:offsite_backup_password",
    "hive:offsite_backup_credentials",
    "services:pdns_db_password",  # services:pdns_api_key stays unset: generated (services/powerdns.yml)
]
OFFSITE_BUCKET = "hive-backups"


@dataclass
class PrivateStage:
    config: dict[str, Any]
    mocks: SwarmRehearsalMocks
    run: ProgramRun
    seconds: float
    swarm: Any  # Docker client of the first hive (the swarm manager the program's provider talks to)

    def hive_addresses(self) -> list[str]:
        return sorted(c.inputs["networksAdvanced"][0]["ipv4Address"] for c in self.run.of_type(CONTAINER))


def private_config(client: Any, name: str, offsite_port: int) -> dict[str, Any]:
    """The sample private stage, plus off-site backups to the S3-compatible server on this machine (the
    hosts reach it at their network's gateway, an address of this machine)."""
    cidr = hivelab.free_subnet(client, base="10.234.0.0/16", seed=name)
    gateway = ipaddress.ip_network(cidr)[1]
    return {
        **PROJECT_CONFIG,
        **sample_config("private"),
        "hive:name": name,
        "hive:cidr": cidr,
        "hive:offsite_backup": {"repository": f"s3:http://{gateway}:{offsite_port}/{OFFSITE_BUCKET}", "keep_days": 30},
        "hive:offsite_backup_password": f"restic-{random.randrange(1 << 60):x}",
        "hive:offsite_backup_credentials": {"AWS_ACCESS_KEY_ID": "rehearsal", "AWS_SECRET_ACCESS_KEY": "rehearsal-key"},
        "services:pdns_db_password": f"pdns-{random.randrange(1 << 60):x}",
    }


@pytest.fixture(scope="module")
def offsite_store() -> Iterator[int]:
    """An S3-compatible object store on this machine (moto's server), for the off-site backup copies."""
    server = shutil.which("moto_server", path=str(Path(sys.executable).parent))
    if server is None:
        pytest.skip("moto_server is not installed (requirements-dev.txt: moto[server])")
    with socket.socket() as probe:
        probe.bind(("0.0.0.0", 0))
        port = probe.getsockname()[1]
    process = subprocess.Popen(
        [server, "-H", "0.0.0.0", "-p", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1):
                    break
            except OSError:
                assert process.poll() is None, "moto_server exited"
                assert time.monotonic() < deadline, "moto_server does not answer"
                time.sleep(0.3)
        yield port
    finally:
        process.terminate()
        process.wait(timeout=30)


def up(config: dict[str, Any], mocks: SwarmRehearsalMocks) -> ProgramRun:
    return rehearse(PROJECT, "private", config, mocks, secret_config=SECRET_CONFIG)


@pytest.fixture(scope="module")
def private_stage(
    lab_engine: Any, host_image: str, offsite_store: int, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[PrivateStage]:
    provide_base_image(lab_engine, host_image)
    name = f"ps{os.getpid():x}"
    config = private_config(lab_engine, name, offsite_store)
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


def dns_name(name: str) -> bytes:
    """``name`` in DNS wire format without the root label (a final dot is the root, not an empty label)."""
    return b"".join(bytes([len(label)]) + label.encode() for label in name.strip(".").split("."))


def dns_query(address: str, name: str = "example.com", port: int = 53, timeout: float = 5, qtype: int = 6) -> bytes:
    """One UDP DNS query (SOA ``name``, or ``qtype``; ``name`` with or without its final dot); the raw answer."""
    ident = random.randrange(1 << 16)
    question = dns_name(name) + b"\0"
    packet = struct.pack(">HHHHHH", ident, 0x0100, 1, 0, 0, 0) + question + struct.pack(">HH", qtype, 1)
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


def test_powerdns_serves_the_sites_zone_with_the_hives_as_name_servers(private_stage: PrivateStage) -> None:
    """``initialize`` of the sample's pdnsdb made the zone that dns_delegation announces (issue 11)."""
    delegation = private_stage.run.outputs["dns_delegation"]
    zone = delegation["zone"]
    for address in private_stage.hive_addresses():
        deadline = time.monotonic() + 90  # PowerDNS caches a negative answer briefly (negquery-cache-ttl)
        while True:
            soa = dns_query(address, zone)
            flags, _, answers = struct.unpack(">HHH", soa[2:8])
            if (flags & 0x000F == 0 and answers == 1) or time.monotonic() > deadline:
                break
            time.sleep(3)
        assert flags & 0x000F == 0 and flags & 0x0400, f"{address}: rcode {flags & 0xF}, authoritative {flags & 0x400}"
        assert answers == 1, f"{address}: {answers} SOA records for {zone}"
        ns = dns_query(address, zone, qtype=2)
        assert struct.unpack(">H", ns[6:8])[0] == len(delegation["name_servers"])
        for server in delegation["name_servers"]:
            assert dns_name(server.split(".")[0]) in ns, f"{address}: NS {server} missing"
        glue = delegation["glue_records"][0]
        a = dns_query(address, glue["name"], qtype=1)
        assert socket.inet_aton(glue["ipv4"]) in a[-4:], f"{address}: no glue A for {glue['name']}"


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


# --- backups (issue 11): the repository's agent against the sample database ---------------------------------

PROBE_TABLE = "pdns.hive_backup_probe"


def ssh_host(stage: PrivateStage, address: str, command: str, timeout: float = 300) -> tuple[int, str, str]:
    """``command`` over SSH on a site host, with the connection the program's own steps use."""
    conn = next(
        c.inputs["connection"]
        for c in stage.run.of_type("command:remote:Command")
        if c.inputs["connection"]["host"] == address
    )
    return hivelab.ssh_run(
        address, int(conn.get("port") or 22), conn["user"], conn["privateKey"], command, timeout=timeout
    )


def repository_address(stage: PrivateStage) -> str:
    hosts = stage.run.outputs["hosts"]
    (address,) = [h["private_ip"] for h in hosts.values() if h["role"] == "repository"]
    return address


def in_pdnsdb(stage: PrivateStage, sql: str) -> str:
    """Run ``sql`` with the mariadb client inside the running pdnsdb task, on the hive that runs it."""
    (task,) = stage.swarm.api.tasks(filters={"service": "pdnsdb", "desired-state": "running"})
    address = stage.swarm.api.inspect_node(task["NodeID"])["Status"]["Addr"]
    container = task["Status"]["ContainerStatus"]["ContainerID"]
    rc, out, err = ssh_host(stage, address, f"sudo docker exec {container} mariadb -N -B -e {shlex.quote(sql)}")
    assert rc == 0, err
    return out


def on_repository(stage: PrivateStage, command: str) -> tuple[int, str, str]:
    return ssh_host(stage, repository_address(stage), command)


def wait_for_log_line(stage: PrivateStage, text: str, seconds: float = 30) -> None:
    """``text`` arrives in the repository's /var/log/services/pdnsdb.log (syslog over UDP: not at once)."""
    deadline = time.monotonic() + seconds
    while text not in on_repository(stage, "sudo cat /var/log/services/pdnsdb.log")[1]:
        assert time.monotonic() < deadline, f"{text!r} never reached /var/log/services/pdnsdb.log"
        time.sleep(1)


def test_backup_and_restore_bring_a_deleted_row_back(private_stage: PrivateStage) -> None:
    row = f"row-{random.randrange(1 << 30)}"
    in_pdnsdb(
        private_stage,
        f"CREATE TABLE IF NOT EXISTS {PROBE_TABLE} (v varchar(64)); INSERT INTO {PROBE_TABLE} VALUES ('{row}')",
    )

    rc, _, err = on_repository(private_stage, "sudo hive-backup run pdnsdb")
    assert rc == 0, err
    rc, listing, err = on_repository(private_stage, "sudo ls -l /var/backups/hive/pdnsdb/")
    assert rc == 0, err
    assert re.search(r"backup-pdnsdb-\d{14}\.sql", listing), listing
    assert re.search(r"backup-pdnsdb-latest\.sql -> backup-pdnsdb-\d{14}\.sql", listing), listing
    wait_for_log_line(private_stage, "hive-backup: backup pdnsdb:")

    in_pdnsdb(private_stage, f"DELETE FROM {PROBE_TABLE}")
    assert row not in in_pdnsdb(private_stage, f"SELECT v FROM {PROBE_TABLE}")
    rc, _, err = on_repository(private_stage, "sudo hive-backup restore pdnsdb")
    assert rc == 0, err
    assert row in in_pdnsdb(private_stage, f"SELECT v FROM {PROBE_TABLE}")


def test_the_timer_is_armed_for_the_night(private_stage: PrivateStage) -> None:
    rc, out, err = on_repository(
        private_stage, "systemctl show -p NextElapseUSecRealtime,UnitFileState hive-backup.timer"
    )
    assert rc == 0, err
    assert "UnitFileState=enabled" in out
    assert re.search(r"NextElapseUSecRealtime=\w+ \d{4}-\d\d-\d\d 01:00:00", out), out


def test_a_failing_backup_fails_the_unit_and_names_the_service(private_stage: PrivateStage) -> None:
    broken = json.dumps({"pdnsdb": [{"name": "broken", "backup_command": "exit 3", "backup_file": "/nowhere"}]})
    rc, before, _ = on_repository(private_stage, "sudo ls /var/backups/hive/pdnsdb/")
    swap = (
        "sudo cp /etc/hive/backup-services.json /tmp/services.keep && "
        f"printf '%s' {shlex.quote(broken)} | sudo tee /etc/hive/backup-services.json >/dev/null"
    )
    assert on_repository(private_stage, swap)[0] == 0
    try:
        rc, _, _ = on_repository(private_stage, "sudo systemctl start hive-backup.service")
        failed, _, _ = on_repository(private_stage, "systemctl is-failed --quiet hive-backup.service")
        _, journal, _ = on_repository(private_stage, "sudo journalctl -u hive-backup.service --no-pager -n 20")
    finally:
        on_repository(private_stage, "sudo mv /tmp/services.keep /etc/hive/backup-services.json")
        on_repository(private_stage, "sudo systemctl reset-failed hive-backup.service")
    assert rc != 0 and failed == 0
    assert "pdnsdb: run FAILED: backup broken: 'sh -c exit 3' exited 3" in journal or not journal.strip()
    wait_for_log_line(private_stage, "run FAILED: backup broken")
    _, after, _ = on_repository(private_stage, "sudo ls /var/backups/hive/pdnsdb/")
    assert set(before.split()) <= set(after.split())


def test_a_restore_from_the_offsite_copy_works_with_the_local_backups_wiped(private_stage: PrivateStage) -> None:
    row = f"offsite-{random.randrange(1 << 30)}"
    in_pdnsdb(
        private_stage,
        f"CREATE TABLE IF NOT EXISTS {PROBE_TABLE} (v varchar(64)); INSERT INTO {PROBE_TABLE} VALUES ('{row}')",
    )
    rc, _, err = on_repository(private_stage, "sudo hive-backup run pdnsdb")
    assert rc == 0, err
    rc, listing, err = on_repository(private_stage, "sudo hive-backup list pdnsdb")
    assert rc == 0, err
    assert re.search(r"^pdnsdb\toffsite\t", listing, re.MULTILINE), listing

    assert on_repository(private_stage, "sudo rm -rf /var/backups/hive/pdnsdb")[0] == 0
    in_pdnsdb(private_stage, f"DELETE FROM {PROBE_TABLE}")
    rc, _, err = on_repository(private_stage, "sudo hive-backup restore pdnsdb --from-offsite")
    assert rc == 0, err
    assert row in in_pdnsdb(private_stage, f"SELECT v FROM {PROBE_TABLE}")


def running_task(stage: PrivateStage, service: str) -> tuple[str, str]:
    """(address of the hive that runs it, container id) of one running task of ``service``."""
    task = stage.swarm.api.tasks(filters={"service": service, "desired-state": "running"})[0]
    address = stage.swarm.api.inspect_node(task["NodeID"])["Status"]["Addr"]
    return address, task["Status"]["ContainerStatus"]["ContainerID"]


def test_the_database_password_is_a_docker_secret_in_the_task_and_not_in_the_service_spec(
    private_stage: PrivateStage,
) -> None:
    password = private_stage.config["services:pdns_db_password"]
    for service in ("pdnsdb", "powerdns"):
        inspect = json.dumps(private_stage.swarm.api.inspect_service(service))
        assert password not in inspect, f"{service}: the password is in docker service inspect"
        references = private_stage.swarm.api.inspect_service(service)["Spec"]["TaskTemplate"]["ContainerSpec"]
        (reference,) = [r for r in references["Secrets"] if r["File"]["Name"] == "pdns_db_password"]
        assert reference["SecretName"].startswith(f"{service}-pdns_db_password-")
        address, container = running_task(private_stage, service)
        rc, out, err = ssh_host(
            private_stage, address, f"sudo docker exec {container} cat /run/secrets/pdns_db_password"
        )
        assert (rc, out) == (0, password), err
        rc, out, err = ssh_host(private_stage, address, f"sudo docker inspect {container}")
        assert rc == 0 and password not in out, "the password is in the container's configuration"
        rc, out, err = ssh_host(private_stage, address, "sudo ps -eo args")
        assert rc == 0 and password not in out, "the password is on a command line"
    # pdns connects with it: the zone is served from the database (test_powerdns_serves_the_sites_zone...), and
    # the pdns user authenticates with exactly the secret
    assert in_pdnsdb(private_stage, "SELECT COUNT(*) FROM mysql.global_priv WHERE User = 'pdns'").strip() == "1"
    address, container = running_task(private_stage, "pdnsdb")
    login = (  # the password through an option file, as a client should: never on the probe's command line
        'f=$(mktemp); printf "[client]\\npassword=%s\\n" "$(cat /run/secrets/pdns_db_password)" >"$f"; '
        'mariadb --defaults-extra-file="$f" -h 127.0.0.1 -u pdns -N -B -e "SELECT 1" pdns; rc=$?; rm -f "$f"; exit $rc'
    )
    rc, out, err = ssh_host(private_stage, address, f"sudo docker exec {container} sh -c {shlex.quote(login)}")
    assert (rc, out.strip()) == (0, "1"), err
