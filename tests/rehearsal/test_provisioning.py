"""Issue 4's acceptance, proven on real Debian 13 hosts: the real program provisions a bare site over SSH; and
issue 16's "package work survives a crash": hosts powered off while dpkg runs converge on the next up.

The module's site (``rehearsal_site``, conftest.py) is provisioned once: four bare lab hosts — three hives and a
separate repository server — and an outsider on the same network, then one ``up`` of the real ``__main__.py``
for a ``prepared`` stage, targeted at the provisioner (see tests/rehearsal/site.py: the swarm layer and the DRBD
host steps are not executed here). The tests read the result off the hosts. The last
tests change the site (a second ``up``, then a hive replaced behind Pulumi's back), so they come last; each
also holds when run alone.

Secrets (the registry password, the client key) are read from the run's state and only ever go to stdin or a
0600 file; no assertion message shows them.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import socket
import ssl
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.harness.program import RecordedResource
from tests.rehearsal.engine import COMMAND, COPY, SAME, SKIP, RunRecord, step_of_command
from tests.rehearsal.lab import Lab
from tests.rehearsal.site import OUTSIDER, RehearsalSite

pytestmark = pytest.mark.rehearsal

HIVES = ("s-hive0", "s-hive1", "s-hive2")
REPLACED = "s-hive1"
DOCKER_API_PORT = 2376
SWARM_TCP_PORTS = (2377, 7946)
DRBD_PORTS = (7000, 7999)
REGISTRY_PORT = 5000
SYSLOG_PORT = 10514
PROBE_TIMEOUT = 3

# `probe TARGET PORT...`: one line per port — open (connected), refused (RST: the firewall let it through and
# nothing listens) or timeout (dropped). In parallel, so a dropped port costs PROBE_TIMEOUT once.
PROBE = f"""
target=$1; shift
for port in "$@"; do
    (
        if timeout {PROBE_TIMEOUT} bash -c "</dev/tcp/$target/$port" 2>/dev/null; then echo "$port open"
        elif [ $? -eq 124 ]; then echo "$port timeout"
        else echo "$port refused"; fi
    ) &
done
wait
"""

# A tiny image from the host's own busybox (nothing is pulled from the internet).
IMPORT_BUSYBOX = """
set -e
if ! [ -x /bin/busybox ]; then
    export DEBIAN_FRONTEND=noninteractive
    sudo -E apt-get install -y -q busybox-static >/dev/null 2>&1 ||
        { sudo apt-get update -q >/dev/null && sudo -E apt-get install -y -q busybox-static >/dev/null; }
fi
root=$(mktemp -d)
mkdir -p "$root/bin"
cp /bin/busybox "$root/bin/" && ln -s busybox "$root/bin/sh"
printf '%s\\n' "$2" > "$root/probe.txt"
tar -C "$root" -c . | docker import --change 'CMD ["/bin/sh"]' - "$1" >/dev/null
rm -rf "$root"
"""


@pytest.fixture(scope="module")
def site(rehearsal_site: RehearsalSite) -> RehearsalSite:
    return rehearsal_site


def probe(site: RehearsalSite, source: str, target_ip: str, ports: tuple[int, ...]) -> dict[int, str]:
    command = f"bash -c {shlex.quote(PROBE)} probe {target_ip} {' '.join(map(str, ports))}"
    out = site.ok(source, command, timeout=60)
    return {int(port): state for port, state in (line.split() for line in out.splitlines() if line.strip())}


def import_busybox(site: RehearsalSite, hive: str, tag: str, marker: str) -> None:
    site.ok(hive, f"bash -c {shlex.quote(IMPORT_BUSYBOX)} import {shlex.quote(tag)} {shlex.quote(marker)}")


def swarm_nodes(site: RehearsalSite, via: str) -> list[dict]:
    out = site.ok(via, "docker node ls --format '{{json .}}'")
    return [json.loads(line) for line in out.splitlines() if line.strip()]


def node_labels(site: RehearsalSite, via: str, node: str) -> dict[str, str]:
    return json.loads(site.ok(via, f"docker node inspect -f '{{{{json .Spec.Labels}}}}' {node}"))


def docker_login(site: RehearsalSite, hive: str, password: str) -> tuple[int, str]:
    """``docker login`` as user hive with a fresh client config (the provisioned login is not reused)."""
    command = (
        "cfg=$(mktemp -d); trap 'rm -rf \"$cfg\"' EXIT; "
        f"DOCKER_CONFIG=$cfg docker login --username hive --password-stdin {site.registry}"
    )
    rc, out, err = site.ssh(hive, command, stdin=password)
    return rc, out + err


def docker_api_version(site: RehearsalSite, ip: str, tmp_path: Path, *, with_client_cert: bool) -> dict:
    """GET /version on ``ip``:2376 over TLS verified against the hive CA, from this machine."""
    ca = tmp_path / "ca.pem"
    ca.write_text(site.ca_cert_pem)
    context = ssl.create_default_context(cafile=str(ca))
    if with_client_cert:
        cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
        cert.write_text(site.client_cert_pem)
        key.touch(mode=0o600)
        key.write_text(site.client_key_pem)
        context.load_cert_chain(str(cert), str(key))
    with (
        socket.create_connection((ip, DOCKER_API_PORT), timeout=10) as raw,
        context.wrap_socket(raw, server_hostname=ip) as tls,
    ):
        tls.sendall(f"GET /version HTTP/1.1\r\nHost: {ip}\r\nConnection: close\r\n\r\n".encode())
        response = b""
        while chunk := tls.recv(65536):
            response += chunk
    head, _, body = response.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200"), head.decode(errors="replace")
    if b"transfer-encoding: chunked" in head.lower():
        body = _dechunk(body)
    return json.loads(body)


def _dechunk(body: bytes) -> bytes:
    out = b""
    while body:
        size_line, _, rest = body.partition(b"\r\n")
        size = int(size_line, 16)
        if size == 0:
            break
        out += rest[:size]
        body = rest[size + 2 :]
    return out


def steps_of(resources: list[RecordedResource], ip: str) -> set[str]:
    """Names of the command/copy resources among ``resources`` that run on the host at ``ip``."""
    return {r.name for r in resources if r.type in (COMMAND, COPY) and r.inputs["connection"]["host"] == ip}


# ---------------------------------------------------------------------------------------------------------------
# Swarm


def test_three_managers_are_ready(site):
    nodes = swarm_nodes(site, site.first_hive.hostname)
    assert sorted(n["Hostname"] for n in nodes) == list(HIVES)
    assert {n["Hostname"]: n["Status"] for n in nodes} == dict.fromkeys(HIVES, "Ready")
    assert sorted(n["ManagerStatus"] for n in nodes) == ["Leader", "Reachable", "Reachable"]


@pytest.mark.parametrize("hive", HIVES)
def test_hive_has_its_node_labels(site, hive):
    host = site.host(hive)
    expected = {"servers": "true", "hives": "true", "az": host.az}
    if host == site.first_hive:
        expected["first_hive"] = "true"
    assert node_labels(site, site.first_hive.hostname, hive) == expected


def test_repository_server_is_not_a_swarm_member(site):
    repository = site.repository.hostname
    assert site.ok(repository, "docker info -f '{{.Swarm.LocalNodeState}}'").strip() == "inactive"
    assert repository not in {n["Hostname"] for n in swarm_nodes(site, site.first_hive.hostname)}


# ---------------------------------------------------------------------------------------------------------------
# Registry


@pytest.mark.parametrize("hive", HIVES)
def test_docker_login_succeeds_with_the_generated_password(site, hive):
    rc, output = docker_login(site, hive, site.registry_password)
    assert rc == 0, output
    assert "Login Succeeded" in output


@pytest.mark.parametrize("hive", HIVES)
def test_docker_login_fails_with_a_wrong_password(site, hive):
    rc, output = docker_login(site, hive, "not-the-" + uuid.uuid4().hex)
    assert rc != 0
    assert "401 Unauthorized" in output


def test_an_image_pushed_from_one_hive_is_pulled_on_the_others(site):
    pusher, *pullers = HIVES
    tag = f"{site.registry}/rehearsal/probe:{uuid.uuid4().hex[:8]}"
    marker = uuid.uuid4().hex
    import_busybox(site, pusher, tag, marker)
    site.ok(pusher, f"docker push {tag}")
    pushed = site.ok(pusher, f"docker image inspect -f '{{{{json .RepoDigests}}}}' {tag}")
    for hive in pullers:
        site.ok(hive, f"docker pull {tag}")
        assert site.ok(hive, f"docker image inspect -f '{{{{json .RepoDigests}}}}' {tag}") == pushed
        assert site.ok(hive, f"docker run --rm {tag} /bin/busybox cat /probe.txt").strip() == marker


# ---------------------------------------------------------------------------------------------------------------
# Docker API (mutual TLS on 2376)


@pytest.mark.parametrize("hostname", [*HIVES, "s-hive3"])
def test_docker_api_answers_the_client_certificate(site, hostname, tmp_path):
    version = docker_api_version(site, site.host(hostname).ip, tmp_path, with_client_cert=True)
    assert version["ApiVersion"]


def test_docker_api_refuses_a_client_without_a_certificate(site, tmp_path):
    with pytest.raises(ssl.SSLError, match=r"CERTIFICATE_REQUIRED|certificate required|HANDSHAKE_FAILURE"):
        docker_api_version(site, site.first_hive.ip, tmp_path, with_client_cert=False)


# ---------------------------------------------------------------------------------------------------------------
# Firewall (the HIVE-SERVICE chain)


def test_firewall_admits_site_hosts_to_swarm_drbd_registry_and_docker_api_ports(site):
    hive_ports = (DOCKER_API_PORT, *SWARM_TCP_PORTS, *DRBD_PORTS)
    for source in [h.hostname for h in site.hosts if h != site.first_hive]:
        states = probe(site, source, site.first_hive.ip, hive_ports)
        assert "timeout" not in states.values(), f"from {source} to {site.first_hive.hostname}: {states}"
        assert all(states[p] == "open" for p in (DOCKER_API_PORT, *SWARM_TCP_PORTS)), states
    for source in HIVES:
        states = probe(site, source, site.repository.ip, (REGISTRY_PORT,))
        assert states == {REGISTRY_PORT: "open"}, f"from {source} to the registry"


def test_firewall_drops_those_ports_from_an_outsider(site):
    hive_ports = (DOCKER_API_PORT, *SWARM_TCP_PORTS, *DRBD_PORTS)
    assert probe(site, OUTSIDER, site.first_hive.ip, hive_ports) == dict.fromkeys(hive_ports, "timeout")
    assert probe(site, OUTSIDER, site.repository.ip, (REGISTRY_PORT,)) == {REGISTRY_PORT: "timeout"}
    # ssh is not the chain's business: the outsider reaches it (the probe itself proves the host is up)
    assert probe(site, OUTSIDER, site.first_hive.ip, (22,)) == {22: "open"}


def test_ipv6_keeps_the_hive_ports_closed(site):
    """The site speaks IPv4; over IPv6 (the registry and docker API listen on [::] too) nobody gets in."""
    for host in site.hosts:
        chain = site.ok(host.hostname, "sudo ip6tables -S HIVE-SERVICE")
        assert "--dports 2376,2377,7946,5000,2514,9100,9323,7000:7999 -j DROP" in chain, host.hostname
        assert "-s " not in chain  # no address is admitted over IPv6
        site.ok(host.hostname, "sudo ip6tables -C INPUT -j HIVE-SERVICE")


def test_syslog_port_admits_site_hosts_and_drops_an_outsider(site):
    tag = f"rehearsal-fw-{uuid.uuid4().hex[:8]}"
    send = f"echo '<14>{tag}: from '$(hostname) > /dev/udp/{site.repository.ip}/{SYSLOG_PORT}"
    site.ok(site.first_hive.hostname, f"bash -c {shlex.quote(send)}")
    site.ok(OUTSIDER, f"bash -c {shlex.quote(send)}")
    log = f"/var/log/services/{tag}.log"
    content = wait_for_file(site, site.repository.hostname, log)
    assert f"from {site.first_hive.hostname}" in content
    time.sleep(1)  # both datagrams left at the same time; give a late one the chance to show up
    assert OUTSIDER not in site.ok(site.repository.hostname, f"sudo cat {log}")


# ---------------------------------------------------------------------------------------------------------------
# Log collection


def wait_for_file(site: RehearsalSite, hostname: str, path: str, timeout: float = 20) -> str:
    deadline = time.monotonic() + timeout
    while True:
        rc, out, _ = site.ssh(hostname, f"sudo cat {shlex.quote(path)}")
        if rc == 0 and out.strip():
            return out
        assert time.monotonic() < deadline, f"{path} did not appear on {hostname} within {timeout}s"
        time.sleep(0.5)


def test_a_container_logging_to_syslog_lands_in_its_service_log_on_the_repository(site):
    hive = HIVES[2]
    image = f"rehearsal/log-probe:{uuid.uuid4().hex[:8]}"
    import_busybox(site, hive, image, "unused")
    message = f"hello from the rehearsal {uuid.uuid4().hex}"
    site.ok(
        hive,
        "docker run --rm --log-driver syslog "
        f"--log-opt syslog-address=udp://{site.repository.fqdn}:{SYSLOG_PORT} --log-opt tag=rehearsal-svc "
        f"{image} /bin/busybox echo {shlex.quote(message)}",
    )
    content = wait_for_file(site, site.repository.hostname, "/var/log/services/rehearsal-svc.log")
    assert any(message in line and "rehearsal-svc" in line for line in content.splitlines()), content


RELAY_LINES = 20
OUTAGE = 60  # seconds the repository's collector is down
# busybox sh in the probe image: one numbered line every 2 s
LOG_LINES = 'i=1; while [ $i -le {n} ]; do echo "{tag} line $i"; i=$((i+1)); sleep 2; done'


def line_numbers(text: str, tag: str) -> list[int]:
    """The numbers of the ``<tag> line <n>`` lines of a service log, in file order (a relayed line ends with its
    relay's id, ` #<16 hex>`: hostsetup/hive-service-log-writer)."""
    return [int(m.group(1)) for m in re.finditer(rf"{re.escape(tag)} line (\d+)(?: #[0-9A-F]{{16}})?$", text, re.M)]


@pytest.fixture(scope="module")
def outage_log(site: RehearsalSite) -> tuple[list[int], str]:
    """A service on a hive logs to its host's relay (udp 127.0.0.1:10514) one numbered line every 2 s while the
    repository's collector is down for a minute; returns the line numbers that arrived, in file order, and
    the file (or the assertion that a line arrived during the outage)."""
    hive, repository = HIVES[1], site.repository.hostname
    image = f"rehearsal/relay-probe:{uuid.uuid4().hex[:8]}"
    import_busybox(site, hive, image, "unused")
    tag = f"relay-{uuid.uuid4().hex[:8]}"
    log = f"/var/log/services/{tag}.log"
    site.ok(repository, "sudo systemctl stop syslog.socket rsyslog.service")
    try:
        down = time.monotonic()
        script = LOG_LINES.format(n=RELAY_LINES, tag=tag)
        site.ok(
            hive,
            "docker run -d --rm --log-driver syslog --log-opt syslog-address=udp://127.0.0.1:10514 "
            f"--log-opt tag={tag} {image} /bin/sh -c {shlex.quote(script)}",
        )
        time.sleep(max(0.0, OUTAGE - (time.monotonic() - down)))
        rc, _, _ = site.ssh(repository, f"sudo test -e {log}")
        assert rc != 0, "a line arrived while the collector was down"
    finally:
        site.ok(repository, "sudo systemctl start rsyslog.service")
    deadline = time.monotonic() + 120
    while True:
        rc, out, _ = site.ssh(repository, f"sudo cat {log}")
        numbers = line_numbers(out, tag)
        if len(numbers) >= RELAY_LINES or time.monotonic() > deadline:
            time.sleep(5)  # a late duplicate shows up too
            _, out, _ = site.ssh(repository, f"sudo cat {log}")
            _, drops, _ = site.ssh(repository, "sudo cat /var/log/hive-service-log-writer.log")
            print(f"the collector's writer dropped: {[d for d in drops.splitlines() if tag in d]}")
            return line_numbers(out, tag), out
        time.sleep(1)


def test_lines_logged_while_the_collector_is_down_all_arrive_in_order(outage_log):
    """Issue 16: nothing is lost and the order holds across a collector outage."""
    numbers, out = outage_log
    assert list(dict.fromkeys(numbers)) == list(range(1, RELAY_LINES + 1)), out


def test_lines_logged_while_the_collector_is_down_arrive_once(outage_log):
    """The relay still sends the first line after the collector stopped twice (at least once); the collector's
    writer drops the copy by its id (hostsetup/hive-service-log-writer)."""
    numbers, out = outage_log
    assert numbers == list(range(1, RELAY_LINES + 1)), out


def test_relayed_lines_carry_their_id_and_read_like_local_ones(outage_log):
    _, out = outage_log
    lines = [line for line in out.splitlines() if " line " in line]
    assert lines and all(re.search(r": relay-[0-9a-f]{8} line \d+ #[0-9A-F]{16}$", line) for line in lines), out


# ---------------------------------------------------------------------------------------------------------------
# Convergence: a second run changes nothing


def test_a_second_run_executes_nothing(site):
    site.up()
    record = site.mocks.current
    assert record.executions == []
    assert [(d.name, d.operation, d.changed) for d in record.decisions if d.operation not in (SAME, SKIP)] == []
    registered = {
        r.urn
        for r in site.last_run.custom_resources
        if r.kind == "register" and not r.type.startswith("pulumi:providers:")
    }
    assert {d.urn for d in record.decisions} == registered, "every resource was diffed against the state"


def test_every_step_run_again_by_hand_reports_unchanged(site):
    """The scripts themselves converge: each step's exact command line and stdin, run again over SSH, ends
    with ``unchanged: <step>``."""
    commands = sorted((r for r in site.targeted() if r.type == COMMAND), key=lambda r: r.name)
    assert commands, "the rehearsal ran no host step"
    by_host: dict[str, list] = {}
    for command in commands:
        by_host.setdefault(command.inputs["connection"]["host"], []).append(command)

    def rerun(ip: str) -> list[tuple[str, int, str]]:
        results = []
        for command in by_host[ip]:  # one host's steps one after the other, as provisioned
            rc, _, err = site.lab.ssh(ip, command.inputs["create"], stdin=command.inputs.get("stdin"), timeout=600)
            lines = err.rstrip("\n").split("\n")
            results.append((command.name, rc, lines[-1] if rc == 0 else "\n".join(lines[-4:])))
        return results

    with ThreadPoolExecutor(len(by_host)) as pool:
        results = [r for host_results in pool.map(rerun, by_host) for r in host_results]
    step = {c.name: step_of_command(c.inputs["create"]) for c in commands}
    assert [(name, rc, last) for name, rc, last in results if (rc, last) != (0, f"unchanged: {step[name]}")] == []


# ---------------------------------------------------------------------------------------------------------------
# Replacing a hive behind Pulumi's back


@dataclass(frozen=True)
class Replacement:
    preview: RunRecord  # `pulumi preview` with the new host_generation, before the up
    record: RunRecord  # the `up` after the replacement
    old_node_id: str
    targeted: list[RecordedResource]  # the resources of that up that the rehearsal executes


@pytest.fixture(scope="module")
def replacement(site: RehearsalSite) -> Iterator[Replacement]:
    """``s-hive1`` replaced by a fresh machine at the same address, ``hive:host_generation`` bumped, a preview,
    then one ``up``."""
    old = {n["Hostname"]: n["ID"] for n in swarm_nodes(site, site.first_hive.hostname)}
    site.replace(REPLACED)
    site.preview()
    preview = site.mocks.current
    run = site.up()
    yield Replacement(preview, site.mocks.current, old[REPLACED], site.targeted(run))


def test_preview_of_the_replacement_plans_that_hosts_steps_and_runs_nothing(site, replacement):
    planned = {d.name: d.operation for d in replacement.preview.decisions if d.operation not in (SAME, SKIP)}
    # and its SSH host key scanned again (trust on first use, components/infra/host_keys.py)
    assert set(planned) == steps_of(replacement.targeted, site.host(REPLACED).ip) | {f"{REPLACED}-host-key"}
    assert set(planned.values()) == {"replace"}
    assert replacement.preview.executions == []


def test_replacement_runs_every_step_of_the_new_host_and_nothing_else(site, replacement):
    ip = site.host(REPLACED).ip
    executed = {e.name for e in replacement.record.executions}
    remote = [e for e in replacement.record.executions if e.name != f"{REPLACED}-host-key"]
    assert {e.host for e in remote} == {ip}
    assert executed == steps_of(replacement.targeted, ip) | {f"{REPLACED}-host-key"}
    assert all(e.ok and e.operation == "replace" for e in replacement.record.executions)


def test_replaced_hive_rejoins_and_its_stale_node_is_gone(site, replacement):
    nodes = swarm_nodes(site, site.first_hive.hostname)
    assert sorted(n["Hostname"] for n in nodes) == list(HIVES), "exactly one node entry per hive"
    assert {n["Hostname"]: n["Status"] for n in nodes} == dict.fromkeys(HIVES, "Ready")
    assert sorted(n["ManagerStatus"] for n in nodes) == ["Leader", "Reachable", "Reachable"]
    new_id = next(n["ID"] for n in nodes if n["Hostname"] == REPLACED)
    assert new_id != replacement.old_node_id
    raft = json.loads(site.ok(site.first_hive.hostname, "docker info -f '{{json .Swarm}}'"))
    assert (raft["Managers"], raft["Nodes"]) == (3, 3), "the managers' quorum counts only live nodes"


def test_replaced_hive_has_its_labels_and_registry_login_back(site, replacement):
    host = site.host(REPLACED)
    assert node_labels(site, site.first_hive.hostname, REPLACED) == {"servers": "true", "hives": "true", "az": host.az}
    registries = site.ok(REPLACED, "sudo jq -r '.auths | keys[]' /root/.docker/config.json").split()
    assert site.registry in registries


def test_after_the_replacement_a_run_executes_nothing(site, replacement):
    site.up()
    assert site.mocks.current.executions == []


# ---------------------------------------------------------------------------------------------------------------
# A host powered off while dpkg runs (issue 16): the next up repairs and converges, the one after runs nothing

# What `pgrep -f` finds while dpkg unpacks a package / while a maintainer script configures one.
DPKG_MOMENTS = {"s-hive1": r"dpkg .*--unpack", "s-hive2": r"/var/lib/dpkg/info/.*\.postinst configure"}
# ... and what must hold as well for the cut to leave dpkg's work unfinished: dpkg's journal holds updates, or a
# package is half-installed, unpacked or half-configured. (Killed before its first write, dpkg leaves a consistent
# database: then there is nothing to repair, as on a real host.)
DPKG_LEFT_WORK = (
    r"""ls /var/lib/dpkg/updates | grep -q '^[0-9]' || dpkg-query -W -f='${db:Status-Abbrev}\n' | grep -q '^.[HUF]'"""
)
WATCH_TIMEOUT = 900


def power_off_when(site: RehearsalSite, hostname: str, pattern: str, up_done: threading.Event) -> str:
    """Kill the host's container (a power cut: no shutdown) the moment ``pgrep -f pattern`` finds a process in
    it while dpkg has work unfinished (DPKG_LEFT_WORK), then start it again; returns what was running, or ""
    when the moment never came (the up is over and the host's package step no longer runs — it goes on after a
    failed up, as the real command would)."""
    container = site.lab.client.containers.get(site.lab.host(hostname).container)
    deadline = time.monotonic() + WATCH_TIMEOUT
    while time.monotonic() < deadline:
        found = container.exec_run(["pgrep", "-af", pattern])
        if found.exit_code == 0 and container.exec_run(["sh", "-c", DPKG_LEFT_WORK]).exit_code == 0:
            container.kill()
            container.start()
            site.lab._use_machine_resolver(site.lab.host(hostname))  # as at its first start
            drop_ssh_connections(site.host(hostname).ip)
            return found.output.decode(errors="replace").strip()
        if up_done.is_set() and container.exec_run(["pgrep", "-f", "packages.sh"]).exit_code != 0:
            return ""
        time.sleep(0.05)
    return ""


def drop_ssh_connections(ip: str) -> int:
    """End this process's SSH connections to ``ip`` (shut the sockets down). A powered-off peer sends nothing,
    and an idle SSH client without TCP keepalives (paramiko here, x/crypto/ssh in pulumi-command) would wait
    for it until its timeout; this is the connection loss the client sees at last, now."""
    dropped = 0
    for entry in Path("/proc/self/fd").iterdir():
        try:
            sock = socket.socket(fileno=os.dup(int(entry.name)))
        except OSError:
            continue  # not a socket
        try:
            if sock.family == socket.AF_INET and sock.getpeername()[:2] == (ip, 22):
                sock.shutdown(socket.SHUT_RDWR)
                dropped += 1
        except OSError:
            pass
        finally:
            sock.close()
    return dropped


@pytest.fixture(scope="module")
def crashed_site(lab_engine, host_image, tmp_path_factory) -> Iterator[tuple[RehearsalSite, dict[str, str], str]]:
    """A fresh site whose first ``up`` loses s-hive1 during ``dpkg --unpack`` and s-hive2 during a postinst;
    yields the site after the failed up, what was running at each cut and the failed up's error."""
    created = Lab(f"hr{os.getpid():x}-crash", client=lab_engine, image=host_image)
    try:
        site = RehearsalSite(created, tmp_path_factory.mktemp("crash-state"))
        site.start()
        up_done = threading.Event()
        with ThreadPoolExecutor(len(DPKG_MOMENTS)) as pool:
            cuts = {h: pool.submit(power_off_when, site, h, p, up_done) for h, p in DPKG_MOMENTS.items()}
            try:
                site.up()
                error = ""
            except Exception as exc:  # the steps that ran on the powered-off hosts fail
                error = str(exc)
            up_done.set()
            moments = {h: f.result() for h, f in cuts.items()}
        for hostname in DPKG_MOMENTS:
            site.lab.wait_ssh(site.host(hostname).ip)
        yield site, moments, error
    finally:
        created.close()


def test_power_cuts_hit_dpkg_at_work(crashed_site):
    _, moments, error = crashed_site
    assert all(moments.values()), f"a power cut never found dpkg at work: {moments}"
    assert error, "the up during which two hosts lost power succeeded"


def test_the_next_up_repairs_the_interrupted_package_work_and_converges(crashed_site):
    site, moments, _ = crashed_site
    site.up()
    for hostname in DPKG_MOMENTS:
        stderr = site.resource(COMMAND, f"{hostname}-packages").outputs["stderr"]
        assert "changed: repaired interrupted package work" in stderr, (hostname, moments[hostname], stderr[-2000:])
        states = site.ok(hostname, "dpkg-query -W -f='${db:Status-Abbrev}\\n' | sort | uniq -c")
        assert [line.split()[1] for line in states.splitlines()] == ["ii"], states
        assert site.ok(hostname, "systemctl is-active docker").strip() == "active"
    nodes = swarm_nodes(site, site.first_hive.hostname)
    assert {n["Hostname"]: n["Status"] for n in nodes} == dict.fromkeys(HIVES, "Ready")


def test_after_the_repair_an_up_executes_nothing(crashed_site):
    site, _, _ = crashed_site
    site.up()
    assert site.mocks.current.executions == []
