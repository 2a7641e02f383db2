"""Issue 12's acceptance on real Debian 13 hosts: the real program provisions a site (as test_provisioning.py
does, with a services catalog that watches errors), then Prometheus scrapes every host, a failed unit, a full
file system, a service below its replicas and a logged error each fire their alert in Alertmanager within a
bounded time, ``./hive doctor`` reports each with its runbook section, and a healthy site gives it exit 0.

The swarm layer is not applied here (rehearsed by test_swarm_layer.py): the service below its replicas is
created with the docker CLI on the first hive, the logged lines come from a container using docker's syslog
driver with the service's name as its tag, as the services' default logging does.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import yaml

from tests.rehearsal import lab as hivelab
from tests.rehearsal.site import PROJECT, RehearsalSite
from tests.rehearsal.test_provisioning import import_busybox

pytestmark = pytest.mark.rehearsal

SERVICES = {"web": {"image": "nginx:1", "monitor_error": ["Fatal"], "ignore_error": ["harmless"]}}
SYSLOG_PORT = 10514
ALERT_TIMEOUT = 240  # s: the longest rule waits 2 minutes (`for: 2m`) after a 15 s scrape and a 15 s metrics run


@pytest.fixture(scope="module")
def site(lab_engine: Any, host_image: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RehearsalSite]:
    root = tmp_path_factory.mktemp("monitoring-project")
    for name in ("__main__.py", "Pulumi.yaml"):
        shutil.copy(PROJECT / name, root / name)
    for name in ("components", "hostsetup"):
        (root / name).symlink_to(PROJECT / name)
    (root / "services").mkdir()
    document = {"plugin": "hive_services", "services": SERVICES}
    (root / "services" / "site.yml").write_text(yaml.safe_dump(document, sort_keys=False))
    lab = hivelab.Lab(f"hr{os.getpid():x}-monitoring", client=lab_engine, image=host_image)
    try:
        rehearsal = RehearsalSite(lab, tmp_path_factory.mktemp("rehearsal-state"), project_dir=root)
        rehearsal.start()
        started = time.monotonic()
        rehearsal.up()
        print(f"site provisioned in {time.monotonic() - started:.0f} s")
        yield rehearsal
    finally:
        lab.close()


@pytest.fixture(scope="module")
def doctor(site: RehearsalSite, tmp_path_factory: pytest.TempPathFactory) -> Callable[..., tuple[int, str]]:
    """``python -m components.doctor`` with an ssh_config and hosts file as ``./hive doctor`` builds them."""
    work = tmp_path_factory.mktemp("doctor")
    key = work / "key"
    key.touch(mode=0o600)
    key.write_text(site.lab.private_key_pem)
    config = work / "ssh_config"
    config.write_text(
        "".join(
            f"Host {h.fqdn} {h.hostname}\n  HostName {h.ip}\n  User admin\n  IdentityFile {key}\n"
            "  StrictHostKeyChecking no\n  UserKnownHostsFile /dev/null\n  LogLevel ERROR\n"
            for h in site.hosts
        )
    )
    hosts = work / "hosts.json"
    hosts.write_text(json.dumps({h.fqdn: {"role": "hive" if h.is_hive else "repository", "is_hive": h.is_hive}
                                 for h in site.hosts}))  # fmt: skip

    def run(*args: str) -> tuple[int, str]:
        argv = [sys.executable, "-m", "components.doctor", "--ssh-config", str(config), "--hosts", str(hosts),
                "--registry", site.registry, *args]  # fmt: skip
        done = subprocess.run(argv, cwd=PROJECT, capture_output=True, text=True, timeout=300, check=False)
        return done.returncode, done.stdout + done.stderr

    return run


def active_alerts(site: RehearsalSite) -> list[dict]:
    out = site.ok(site.repository.hostname, "curl -sf 'http://127.0.0.1:9093/api/v2/alerts?active=true'")
    return json.loads(out)


def wait_for_alert(site: RehearsalSite, alertname: str, /, **labels: str) -> float:
    """Seconds until Alertmanager holds the alert ``alertname`` with ``labels``; fails after ALERT_TIMEOUT."""
    started = time.monotonic()
    seen: list[str] = []
    while time.monotonic() - started < ALERT_TIMEOUT:
        alerts = active_alerts(site)
        seen = sorted({a["labels"]["alertname"] for a in alerts})
        if any(a["labels"]["alertname"] == alertname and labels.items() <= a["labels"].items() for a in alerts):
            return time.monotonic() - started
        time.sleep(5)
    raise AssertionError(f"{alertname} {labels} did not fire within {ALERT_TIMEOUT} s (active: {seen})")


def test_prometheus_scrapes_every_host(site: RehearsalSite) -> None:
    expected = {(job, h.fqdn) for h in site.hosts for job in ("node", "docker")}
    started = time.monotonic()
    while True:
        targets = json.loads(site.ok(site.repository.hostname, "curl -sf http://127.0.0.1:9090/api/v1/targets"))
        up = {(t["labels"]["job"], t["labels"]["instance"]) for t in targets["data"]["activeTargets"]
              if t["health"] == "up"}  # fmt: skip
        if expected <= up or time.monotonic() - started > 90:
            break
        time.sleep(5)
    assert expected - up == set()
    print(f"all {len(expected)} targets up after {time.monotonic() - started:.0f} s")


def test_a_healthy_site_gives_doctor_exit_status_0(site: RehearsalSite, doctor) -> None:
    # Units that failed in the lab's host containers before any test (seen here: systemd-ask-password-*.path
    # on a loaded machine) are the lab's, not the site's: the runbook's remedy for a unit the system does not
    # need, then the alerts they raised must resolve. They are printed, never hidden.
    for host in site.hosts:
        failed = site.ok(host.hostname, "systemctl list-units --failed --no-legend --no-pager --plain")
        if failed.strip():
            print(f"{host.hostname}: lab units failed before the checks, reset: {failed.strip()}")
            site.ok(host.hostname, "sudo systemctl reset-failed")
    started = time.monotonic()
    while active_alerts(site) and time.monotonic() - started < 120:
        time.sleep(5)
    assert active_alerts(site) == []
    rc, out = doctor()
    assert rc == 0, out
    assert "ACTION" not in out


def test_a_failed_unit_fires_and_the_doctor_names_its_runbook_section(site: RehearsalSite, doctor) -> None:
    hive = site.hives[1]
    unit = "hive-rehearsal-broken.service"
    unit_file = "[Service]\nType=oneshot\nExecStart=/bin/false\n"
    site.ok(hive.hostname, f"sudo tee /etc/systemd/system/{unit} >/dev/null && sudo systemctl daemon-reload && "
            f"(sudo systemctl start {unit} || true)", stdin=unit_file)  # fmt: skip
    try:
        seconds = wait_for_alert(site, "HostServiceFailed", instance=hive.fqdn, name=unit)
        print(f"HostServiceFailed after {seconds:.0f} s")
        rc, out = doctor()
        assert rc == 1
        assert f"ACTION  {hive.fqdn} units: {unit} failed" in out
        assert "→ monitoring/runbook.md#host-service-failed (A service on a host failed)" in out
    finally:
        site.ok(hive.hostname, f"sudo rm -f /etc/systemd/system/{unit} && sudo systemctl daemon-reload && "
                f"sudo systemctl reset-failed {unit} || true")  # fmt: skip


def test_a_file_system_above_80_percent_fires_and_the_doctor_shows_what_fills_it(site, doctor) -> None:
    hive = site.hives[2]
    site.ok(hive.hostname, "sudo mkdir -p /srv/hive-fill && sudo mount -t tmpfs -o size=10m tmpfs /srv/hive-fill && "
            "sudo dd if=/dev/zero of=/srv/hive-fill/blob bs=1M count=9 status=none")  # fmt: skip
    try:
        seconds = wait_for_alert(site, "ServerDiskSpaceLow", instance=hive.fqdn, mountpoint="/srv/hive-fill")
        print(f"ServerDiskSpaceLow after {seconds:.0f} s")
        rc, out = doctor()
        assert rc == 1
        assert f"ACTION  {hive.fqdn} disk: file system /srv/hive-fill (tmpfs) 9" in out
        assert "biggest: /srv/hive-fill/blob 9.0 MiB → monitoring/runbook.md#server-disk-space" in out
    finally:
        site.ok(hive.hostname, "sudo umount /srv/hive-fill")


def test_a_service_below_its_replicas_fires_and_the_doctor_says_why(site: RehearsalSite, doctor) -> None:
    first = site.first_hive.hostname
    image = f"rehearsal/monitoring-probe:{uuid.uuid4().hex[:8]}"
    import_busybox(site, first, image, "unused")
    site.ok(first, f"docker service create -d --name unplaceable --replicas 1 "
            f"--constraint node.labels.nowhere==true {image} /bin/busybox sleep 3600 >/dev/null")  # fmt: skip
    try:
        seconds = wait_for_alert(site, "ServiceReplicasMissing", service="unplaceable")
        print(f"ServiceReplicasMissing after {seconds:.0f} s")
        rc, out = doctor()
        assert rc == 1
        assert f"ACTION  {site.first_hive.fqdn} services: unplaceable runs 0/1 tasks: no suitable node" in out
        assert "→ monitoring/runbook.md#service-restarting (A service keeps restarting)" in out
    finally:
        site.ok(first, "docker service rm unplaceable >/dev/null")


def test_a_line_matching_monitor_error_fires_and_one_matching_ignore_error_is_not_copied(site, doctor) -> None:
    hive = site.hives[0].hostname
    image = f"rehearsal/monitoring-log:{uuid.uuid4().hex[:8]}"
    import_busybox(site, hive, image, "unused")
    marker = uuid.uuid4().hex
    for line in (f"Fatal: backend gone {marker}", f"Fatal but harmless {marker}", f"all fine {marker}"):
        site.ok(hive, "docker run --rm --log-driver syslog "
                f"--log-opt syslog-address=udp://{site.repository.fqdn}:{SYSLOG_PORT} --log-opt tag=web "
                f"{image} /bin/busybox echo {shlex.quote(line)}")  # fmt: skip
    seconds = wait_for_alert(site, "ServiceErrorLogged", service="web")
    print(f"ServiceErrorLogged after {seconds:.0f} s")
    errors = [line for line in site.ok(site.repository.hostname, "sudo cat /var/log/service-error.log").splitlines()
              if marker in line]  # fmt: skip
    assert len(errors) == 1 and f"Fatal: backend gone {marker}" in errors[0]
    service_log = site.ok(site.repository.hostname, "sudo cat /var/log/services/web.log")
    assert service_log.count(marker) == 3  # every line still reaches the service's own log
    rc, out = doctor()
    assert rc == 1
    assert "alerts: firing ServiceErrorLogged: service web logged 1 line(s) matching its monitor_error" in out
