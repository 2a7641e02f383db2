"""The doctor's checks on captured real outputs: the finding, its severity and the runbook section."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from components.doctor import cli
from components.doctor.checks import (
    HostInfo,
    conntrack_findings,
    drbd_findings,
    drbd_site_findings,
    host_findings,
    published_udp_ports,
    swarm_findings,
)
from components.doctor.findings import Finding, Severity, needs_action, runbook_sections
from components.doctor.sections import Section, split_sections

CAPTURED = Path(__file__).with_name("captured")
HIVE = HostInfo("p-hive0.pdns", is_hive=True, is_repository=True)
CLOCK_OK = (0.02, 0.05)


def sections(name: str) -> dict[str, Section]:
    return split_sections((CAPTURED / name).read_text(encoding="utf-8"))


def drbd(name: str) -> dict[str, Section]:
    return {"drbd": Section("drbd", 0, (CAPTURED / name).read_text(encoding="utf-8"))}


def everything(name: str, consumers: dict[str, str] | None = None) -> list[Finding]:
    s = sections(name)
    return host_findings(HIVE, s, consumers or {}, published_udp_ports(s), CLOCK_OK) + swarm_findings(HIVE.fqdn, s)


def test_a_healthy_host_needs_no_action() -> None:
    findings = everything("collect-p-hive0-healthy.txt")
    assert not needs_action(findings)
    assert [(f.check, f.severity) for f in findings] == [("clock", Severity.WARNING)]  # NTP not synchronised


def test_a_failed_unit_is_a_finding_with_the_runbook_section() -> None:
    [unit] = [f for f in everything("collect-p-hive0.txt") if f.check == "units"]
    assert (unit.severity, unit.runbook) == (Severity.ACTION, "host-service-failed")
    assert "hive-broken.service failed" in unit.message


def test_a_service_below_its_replicas_says_why() -> None:
    found = {f.message for f in everything("collect-p-hive0.txt") if f.check == "services"}
    assert "pinned runs 0/1 tasks: no suitable node (scheduling constraints not satisfied on 1 node)" in found


def test_a_restarting_service_names_its_last_error() -> None:
    [tasks] = [f for f in everything("collect-p-hive0.txt") if f.check == "tasks"]
    assert tasks.message == 'crashing restarted: 4 task(s) ended within the hour, last error "task: non-zero exit (3)"'
    assert tasks.runbook == "service-restarting"


def test_overlay_networks_above_underlay_minus_50_are_findings() -> None:
    mtu = [f.message for f in everything("collect-p-hive0.txt") if f.check == "mtu"]
    assert mtu == ["overlay network ingress MTU 1500 > 1450 (eth0 MTU 1500 − 50 VXLAN)",
                   "overlay network wide MTU 1500 > 1450 (eth0 MTU 1500 − 50 VXLAN)"]  # fmt: skip


def test_unreachable_registry_and_alertmanager_need_action() -> None:
    by_check = {f.check: f for f in everything("collect-p-hive0.txt")}
    assert by_check["registry"].runbook == "registry-unreachable"
    assert "Failed to connect to 127.0.0.1 port 5000" in by_check["registry"].message
    assert by_check["alerts"].message.startswith("Alertmanager does not answer")


def test_published_udp_ports_are_the_running_tasks_ports() -> None:
    assert published_udp_ports(sections("collect-p-hive0.txt")) == {20514, 20516}


def test_translated_udp_flows_are_not_stale() -> None:
    s = sections("collect-p-hive0.txt")
    assert conntrack_findings(HIVE.fqdn, s, {20514, 20516}) == []


def test_an_untranslated_flow_to_a_published_port_is_stale() -> None:
    flows = {"conntrack-udp": Section("conntrack-udp", 0, (CAPTURED / "conntrack-udp.txt").read_text(encoding="utf-8"))}
    [stale] = conntrack_findings(HIVE.fqdn, flows, {20514, 20516, 20517})
    assert stale.runbook == "udp-conntrack"
    assert stale.message.startswith("2 stale UDP conntrack entries for published port 20517")
    assert "sudo conntrack -D -p udp --dport 20517" in stale.message


def test_a_full_file_system_lists_its_biggest_consumers() -> None:
    du = (CAPTURED / "du-srv-fill.txt").read_text(encoding="utf-8")
    [disk] = [f for f in everything("collect-p-hive0-sick.txt", {"/srv/fill": du}) if f.check == "disk"]
    assert disk.message == (
        "file system /srv/fill (tmpfs) 93% used > 80%, 724.0 KiB free;"
        " biggest: /srv/fill/blob 9.0 MiB, /srv/fill/sub 300.0 KiB"
    )
    assert disk.runbook == "server-disk-space"


def test_a_firing_alert_points_at_its_own_runbook_section() -> None:
    [alert] = [f for f in everything("collect-p-hive0-sick.txt") if f.check == "alerts"]
    assert alert.message == "firing HostServiceFailed: hive-broken.service on p-hive0.pdns is in a failed state"
    assert alert.runbook == "host-service-failed"


def test_clock_skew_beyond_the_round_trip_needs_action() -> None:
    s = sections("collect-p-hive0-healthy.txt")
    skewed = host_findings(HIVE, s, {}, set(), (3.5, 0.2))
    assert any(f.check == "clock" and f.severity is Severity.ACTION and f.runbook == "clock-skew" for f in skewed)
    assert not needs_action(host_findings(HIVE, s, {}, set(), (1.1, 0.5)))


def test_drbd_healthy_view_from_the_runbook_has_no_finding() -> None:
    assert drbd_findings("s-hive0.pdns", drbd("drbd-runbook-hive0-healthy.txt")) == []


def test_drbd_incomplete_connection_from_the_runbook() -> None:
    [finding] = drbd_findings("s-hive1.pdns", drbd("drbd-runbook-hive1-syncing.txt"))
    assert finding.message == "pdnsdb/0 → s-hive0.pdns replication:WFBitMapS peer-disk:Consistent"
    assert finding.runbook == "drbd-connection-incomplete"


def test_drbd_outdated_disk_is_a_sync_failure() -> None:
    findings = drbd_findings("s-hive0.pdns", drbd("drbd-runbook-all-outdated.txt"))
    assert findings[0].message == "pdnsdb/0 disk:Outdated role:Secondary, not UpToDate"
    assert {f.runbook for f in findings} == {"drbd-sync-failed", "drbd-connection-incomplete"}


def test_drbd_outdated_on_every_hive_is_one_site_finding() -> None:
    outdated = drbd("drbd-runbook-all-outdated.txt")
    [site] = drbd_site_findings({"s-hive0": outdated, "s-hive1": outdated, "s-hive2": outdated})
    assert site.message == "pdnsdb is Outdated on every hive (3)"
    assert drbd_site_findings({"s-hive0": outdated, "s-hive1": drbd("drbd-runbook-hive0-healthy.txt")}) == []


def test_drbd_standalone_syncing_volume_and_missing_resource_but_not_the_diskless_client() -> None:
    messages = [f.message for f in drbd_findings("s-hive2.pdns", drbd("drbd-drbdsetup-composed.txt"))]
    assert messages == [
        "ldap/1 → s-hive1.pdns replication:SyncSource peer-disk:Inconsistent done:42.17",
        "ldap → s-hive2.pdns connection:StandAlone (split brain: both sides must be checked)",
        "www: No such resource (not up)",
    ]


def test_a_check_that_could_not_run_is_a_finding_not_a_pass() -> None:
    s = sections("collect-p-hive0-healthy.txt")
    del s["failed"]
    [missing] = [f for f in host_findings(HIVE, s, {}, set(), CLOCK_OK) if f.check == "units"]
    assert missing.severity is Severity.ACTION


def test_every_runbook_anchor_the_doctor_uses_exists() -> None:
    findings = everything("collect-p-hive0.txt") + everything("collect-p-hive0-sick.txt")
    findings += drbd_findings("h", drbd("drbd-drbdsetup-composed.txt"))
    assert {f.runbook for f in findings} <= set(runbook_sections())


def test_a_finding_line_names_the_runbook_section_and_title() -> None:
    line = Finding("p-hive0.pdns", "units", Severity.ACTION, "x.service failed (y)", "host-service-failed").line()
    assert line == (
        "ACTION  p-hive0.pdns units: x.service failed (y) → monitoring/runbook.md#host-service-failed"
        " (A service on a host failed)"
    )


def test_json_report_lists_findings_and_the_verdict() -> None:
    f = Finding("p-hive0.pdns", "units", Severity.ACTION, "x failed", "host-service-failed")
    data = json.loads(cli.report([f], [HIVE], as_json=True))
    assert data["needs_action"] is True
    assert data["findings"][0]["runbook"] == "monitoring/runbook.md#host-service-failed"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("[1, 2]", "hosts: not an object of hosts"),
        ('{"p-hive0.pdns": {"role": "king", "is_hive": true}}', "p-hive0.pdns.role: 'king' is not a host role"),
        ('{"p-hive0.pdns": {"role": "hive"}}', "p-hive0.pdns.is_hive: missing or not a boolean"),
    ],
)
def test_bad_hosts_input_is_one_line_and_exit_2(tmp_path, capsys, content: str, message: str) -> None:
    hosts, config = tmp_path / "hosts.json", tmp_path / "ssh_config"
    hosts.write_text(content)
    config.write_text("Host x\n")
    assert cli.main(["--ssh-config", str(config), "--hosts", str(hosts)]) == 2
    err = capsys.readouterr().err.strip()
    assert err == f"{hosts}: " + err.split(": ", 1)[1] and message in err and "\n" not in err
