"""The runbook's checks: parsed outputs → findings, each with the runbook section that repairs it. Pure."""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from components.doctor.findings import Finding, Severity
from components.doctor.parse_drbd import parse_drbd_status
from components.doctor.parse_net import VXLAN_OVERHEAD, parse_conntrack_udp, parse_overlay_mtus, parse_underlay_mtu
from components.doctor.parse_swarm import parse_alerts, parse_nodes, parse_services, parse_tasks
from components.doctor.parse_system import (
    FileSystem,
    human_bytes,
    parse_df,
    parse_du,
    parse_failed_units,
    parse_ntp_synchronized,
)
from components.doctor.sections import Section

ACTION, WARNING = Severity.ACTION, Severity.WARNING
RECENT_FAILURE_SECONDS = 3600  # a task that failed within the hour counts as "restarting"
CLOCK_SKEW_LIMIT = 1.0  # seconds beyond the measuring uncertainty


@dataclass(frozen=True)
class HostInfo:
    fqdn: str
    is_hive: bool
    is_repository: bool


def _missing(host: str, check: str, section: Section | None, runbook: str) -> Finding | None:
    """A check whose command did not answer is a finding itself (never a silent pass)."""
    if section is None:
        return Finding(host, check, ACTION, "not collected (collect.sh printed no such section)", runbook)
    if not section.ok:
        return Finding(host, check, ACTION, f"cannot check: {section.first_line()} (exit {section.rc})", runbook)
    return None


# --- disk -------------------------------------------------------------------------------------------------


def full_file_systems(sections: Mapping[str, Section]) -> list[FileSystem]:
    section = sections.get("df")
    if section is None or not section.ok:
        return []
    return [fs for fs in parse_df(section.text) if fs.watched and fs.used_percent > fs.limit]


def disk_findings(host: str, sections: Mapping[str, Section], consumers: Mapping[str, str]) -> list[Finding]:
    """``consumers``: mount point → ``du -x -a -d1 -B1`` output of it (the second round for full ones)."""
    missing = _missing(host, "disk", sections.get("df"), "server-disk-space")
    if missing:
        return [missing]
    findings = []
    for fs in full_file_systems(sections):
        biggest = [e for e in parse_du(consumers.get(fs.mountpoint, "")) if e[1] != fs.mountpoint][:3]
        top = "; biggest: " + ", ".join(f"{path} {human_bytes(size)}" for size, path in biggest) if biggest else ""
        what = "docker volume" if fs.is_docker_volume else "file system"
        findings.append(
            Finding(
                host,
                "disk",
                ACTION,
                f"{what} {fs.mountpoint} ({fs.device}) {fs.used_percent:.0f}% used > {fs.limit:.0f}%"
                f", {human_bytes(fs.available)} free{top}",
                "drbd-volume-space" if fs.is_docker_volume else "server-disk-space",
            )
        )
    return findings


# --- systemd, time ----------------------------------------------------------------------------------------


def unit_findings(host: str, sections: Mapping[str, Section]) -> list[Finding]:
    missing = _missing(host, "units", sections.get("failed"), "host-service-failed")
    if missing:
        return [missing]
    return [
        Finding(host, "units", ACTION, f"{u.name} failed ({u.description})", "host-service-failed")
        for u in parse_failed_units(sections["failed"].text)
    ]


def time_findings(
    host: str, sections: Mapping[str, Section], offset: float | None, uncertainty: float
) -> list[Finding]:
    """``offset``: host clock − this machine's clock at the moment of reading, ± ``uncertainty`` seconds."""
    findings = []
    if offset is None:
        findings.append(Finding(host, "clock", ACTION, "could not read the clock", "clock-skew"))
    elif abs(offset) - uncertainty > CLOCK_SKEW_LIMIT:
        findings.append(
            Finding(host, "clock", ACTION, f"clock is {offset:+.1f} s off (±{uncertainty:.1f} s)", "clock-skew")
        )
    section = sections.get("timesync")
    if section is not None and section.ok and parse_ntp_synchronized(section.text) is False:
        findings.append(Finding(host, "clock", WARNING, "NTP not synchronised (timedatectl)", "clock-skew"))
    return findings


# --- DRBD -------------------------------------------------------------------------------------------------


def drbd_findings(host: str, sections: Mapping[str, Section]) -> list[Finding]:
    section = sections.get("drbd")
    if section is None:
        return []
    if not section.ok and "No such resource" not in section.text:
        return [Finding(host, "drbd", ACTION, f"drbdadm status failed: {section.first_line()}", "drbd-sync-failed")]
    findings = []
    for res in parse_drbd_status(section.text):
        if res.error:
            findings.append(Finding(host, "drbd", ACTION, f"{res.name}: {res.error} (not up)", "drbd-sync-failed"))
            continue
        for dev in res.devices:
            if dev.disk != "UpToDate" and not (dev.disk == "Diskless" and dev.client):
                findings.append(
                    Finding(
                        host,
                        "drbd",
                        ACTION,
                        f"{res.name}/{dev.volume} disk:{dev.disk} role:{res.role}, not UpToDate",
                        "drbd-sync-failed",
                    )
                )
            if not dev.quorum:
                findings.append(
                    Finding(host, "drbd", ACTION, f"{res.name}/{dev.volume} lost quorum", "drbd-sync-failed")
                )
        for conn in res.connections:
            if conn.connection != "Connected":
                split = " (split brain: both sides must be checked)" if conn.connection == "StandAlone" else ""
                findings.append(
                    Finding(
                        host,
                        "drbd",
                        ACTION,
                        f"{res.name} → {conn.name} connection:{conn.connection}{split}",
                        "drbd-connection-incomplete",
                    )
                )
            for peer in conn.peer_devices:
                bad_disk = peer.peer_disk != "UpToDate" and not (peer.peer_disk == "Diskless" and peer.peer_client)
                if peer.replication != "Established" or bad_disk:
                    done = f" done:{peer.done}" if peer.done else ""
                    findings.append(
                        Finding(
                            host,
                            "drbd",
                            ACTION,
                            f"{res.name}/{peer.volume} → {conn.name} replication:{peer.replication}"
                            f" peer-disk:{peer.peer_disk}{done}",
                            "drbd-connection-incomplete",
                        )
                    )
    return findings


def drbd_site_findings(per_host: Mapping[str, Mapping[str, Section]]) -> list[Finding]:
    """The runbook's first pattern: a resource Outdated on every hive (needs a forced primary on one)."""
    states: dict[str, set[str]] = defaultdict(set)
    hosts: dict[str, int] = defaultdict(int)
    for sections in per_host.values():
        section = sections.get("drbd")
        if section is None or not section.ok:
            continue
        for res in parse_drbd_status(section.text):
            hosts[res.name] += 1
            states[res.name].update(d.disk for d in res.devices if not d.client)
    return [
        Finding("site", "drbd", ACTION, f"{name} is Outdated on every hive ({hosts[name]})", "drbd-sync-failed")
        for name, found in sorted(states.items())
        if found == {"Outdated"}
    ]


# --- swarm ------------------------------------------------------------------------------------------------


def swarm_findings(host: str, sections: Mapping[str, Section]) -> list[Finding]:
    findings = []
    for check, name, runbook in (("nodes", "nodes", "swarm-node-down"), ("services", "services", "service-restarting"),
                                 ("tasks", "tasks", "service-restarting")):  # fmt: skip
        missing = _missing(host, check, sections.get(name), runbook)
        if missing:
            return [missing]
    for node in parse_nodes(sections["nodes"].text):
        if node.status != "Ready" or node.manager_status == "Unreachable":
            state = node.status + (f", manager {node.manager_status}" if node.manager_status else "")
            findings.append(Finding(host, "nodes", ACTION, f"swarm node {node.hostname} is {state}", "swarm-node-down"))
        elif node.availability != "Active":
            findings.append(
                Finding(host, "nodes", WARNING, f"swarm node {node.hostname} is {node.availability}", "swarm-node-down")
            )
    tasks = parse_tasks(sections["tasks"].text)
    by_service: dict[str, list] = defaultdict(list)
    for task in tasks:
        by_service[task.service].append(task)
    for service in parse_services(sections["services"].text):
        own = by_service.get(service.name, [])
        if service.running < service.desired:
            why = sorted({t.error for t in own if t.desired_state == "Running" and t.state != "Running" and t.error})
            reason = f": {why[0]}" if why else ""
            findings.append(
                Finding(
                    host,
                    "services",
                    ACTION,
                    f"{service.name} runs {service.running}/{service.desired} tasks{reason}",
                    "service-restarting",
                )
            )
        recent = [t for t in own if t.ended_badly and (t.age_seconds is None or t.age_seconds < RECENT_FAILURE_SECONDS)]
        if recent:
            error = next((t.error for t in recent if t.error), "")
            hint = (
                " (a damaged DRBD file system: xfs_repair)"
                if "failed to mount local volume" in error and "invalid argument" in error
                else ""
            )
            findings.append(
                Finding(
                    host,
                    "tasks",
                    ACTION,
                    f"{service.name} restarted: {len(recent)} task(s) ended within the hour"
                    + (f', last error "{error}"' if error else "")
                    + hint,
                    "service-restarting",
                )
            )
    return findings


def published_udp_ports(sections: Mapping[str, Section]) -> set[int]:
    """UDP ports the swarm publishes: ingress ports from ``service ls``, host-mode ports from the tasks."""
    ports: set[int] = set()
    if "services" in sections and sections["services"].ok:
        for service in parse_services(sections["services"].text):
            ports.update(service.udp_ports)
    if "tasks" in sections and sections["tasks"].ok:
        for task in parse_tasks(sections["tasks"].text):
            if task.desired_state == "Running":
                ports.update(task.udp_ports)
    return ports


# --- network ----------------------------------------------------------------------------------------------


def mtu_findings(host: str, sections: Mapping[str, Section]) -> list[Finding]:
    for name in ("underlay-mtu", "overlay-mtu"):
        missing = _missing(host, "mtu", sections.get(name), "overlay-mtu")
        if missing:
            return [missing]
    underlay = parse_underlay_mtu(sections["underlay-mtu"].text)
    if underlay is None:
        return [Finding(host, "mtu", ACTION, "no default route: cannot tell the underlay MTU", "overlay-mtu")]
    device, mtu = underlay
    limit = mtu - VXLAN_OVERHEAD
    return [
        Finding(
            host,
            "mtu",
            ACTION,
            f"overlay network {name} MTU {overlay} > {limit} ({device} MTU {mtu} − {VXLAN_OVERHEAD} VXLAN)",
            "overlay-mtu",
        )
        for name, overlay in sorted(parse_overlay_mtus(sections["overlay-mtu"].text).items())
        if overlay > limit
    ]


def conntrack_findings(host: str, sections: Mapping[str, Section], udp_ports: Iterable[int]) -> list[Finding]:
    ports = set(udp_ports)
    if not ports:
        return []
    missing = _missing(host, "conntrack", sections.get("conntrack-udp"), "udp-conntrack")
    if missing:
        return [missing]
    stale: dict[int, int] = defaultdict(int)
    for flow in parse_conntrack_udp(sections["conntrack-udp"].text):
        if flow.dport in ports and flow.not_translated:
            stale[flow.dport] += 1
    return [
        Finding(
            host,
            "conntrack",
            ACTION,
            f"{count} stale UDP conntrack entr{'y' if count == 1 else 'ies'} for published port {port} (not DNATed:"
            f" packets never reach the service); flush: sudo conntrack -D -p udp --dport {port}",
            "udp-conntrack",
        )
        for port, count in sorted(stale.items())
    ]


def registry_findings(host: str, sections: Mapping[str, Section]) -> list[Finding]:
    section = sections.get("registry")
    if section is None:
        return []
    code = section.text.strip().splitlines()[-1] if section.text.strip() else ""
    if section.ok and code in {"200", "401"}:
        return []
    return [
        Finding(
            host,
            "registry",
            ACTION,
            f"registry /v2/ answered {code or 'nothing'} ({section.first_line()})",
            "registry-unreachable",
        )
    ]


def alert_findings(host: str, sections: Mapping[str, Section]) -> list[Finding]:
    section = sections.get("alerts")
    if section is None:
        return []
    if not section.ok:
        return [Finding(host, "alerts", ACTION, f"Alertmanager does not answer: {section.first_line()}", "host-down")]
    try:
        alerts = parse_alerts(section.text)
    except (ValueError, json.JSONDecodeError) as exc:
        return [Finding(host, "alerts", ACTION, f"Alertmanager answered garbage: {exc}", "host-down")]
    findings = []
    for alert in alerts:
        labels = alert.get("labels", {})
        annotations = alert.get("annotations", {})
        anchor = annotations.get("runbook", "").partition("#")[2] or "host-down"
        summary = annotations.get("summary", "")
        findings.append(
            Finding(host, "alerts", ACTION, f"firing {labels.get('alertname', '?')}: {summary}".rstrip(": "), anchor)
        )
    return findings


def host_findings(
    host: HostInfo,
    sections: Mapping[str, Section],
    consumers: Mapping[str, str],
    udp_ports: Iterable[int],
    clock: tuple[float | None, float],
) -> list[Finding]:
    """Every check of one host (the swarm-wide ones are :func:`swarm_findings`, run on one manager)."""
    findings = [
        *disk_findings(host.fqdn, sections, consumers),
        *unit_findings(host.fqdn, sections),
        *time_findings(host.fqdn, sections, *clock),
        *registry_findings(host.fqdn, sections),
    ]
    if host.is_hive:
        findings += drbd_findings(host.fqdn, sections)
        findings += mtu_findings(host.fqdn, sections)
        findings += conntrack_findings(host.fqdn, sections, udp_ports)
    if host.is_repository:
        findings += alert_findings(host.fqdn, sections)
    return findings
