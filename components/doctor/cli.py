"""``./hive doctor -s STAGE``: connect to every host, run the runbook's checks, print one line per finding.

Exit status: 0 when nothing needs action (warnings may be printed), 1 when something does, 2 on bad input.
``python -m components.doctor --ssh-config FILE --hosts FILE [--registry HOST:PORT] [--json]``; ``./hive doctor``
fills these from the stack's outputs ``ssh_config``, ``ssh_private_key``, ``hosts`` and ``registry``.
"""

from __future__ import annotations

import argparse
import json
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from components.doctor.checks import (
    HostInfo,
    drbd_site_findings,
    full_file_systems,
    host_findings,
    published_udp_ports,
    swarm_findings,
)
from components.doctor.findings import Finding, Severity, needs_action
from components.doctor.remote import Ssh
from components.doctor.sections import Section, split_sections


class BadInput(Exception):
    """One line ``FILE: key.path: problem (allowed)``."""


def load_hosts(path: Path) -> list[HostInfo]:
    """The stack output ``hosts``: fqdn → {role, is_hive, private_ip, …}."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise BadInput(f"{path}: cannot read ({exc}) (the JSON of `pulumi stack output hosts --json`)") from None
    if not isinstance(data, dict) or not data:
        raise BadInput(f"{path}: hosts: not an object of hosts (fqdn → {{role, is_hive, …}})")
    hosts = []
    for fqdn, entry in data.items():
        role = entry.get("role") if isinstance(entry, dict) else None
        if role not in {"hive", "repository"}:
            raise BadInput(f"{path}: {fqdn}.role: {role!r} is not a host role (hive, repository)")
        assert isinstance(entry, dict)
        if not isinstance(entry.get("is_hive"), bool):
            raise BadInput(f"{path}: {fqdn}.is_hive: missing or not a boolean (true, false)")
        hosts.append(HostInfo(fqdn, entry["is_hive"], entry["role"] == "repository"))
    return hosts


def collect_flags(host: HostInfo, manager: bool, registry: str) -> list[str]:
    flags = []
    if host.is_hive:
        flags.append("--hive")
    if manager:
        flags.append("--manager")
    if host.is_repository:
        flags.append("--repository")
    if registry:
        flags += ["--registry", registry]
    return flags


def run(ssh: Ssh, hosts: list[HostInfo], registry: str) -> list[Finding]:
    manager = next((h.fqdn for h in sorted(hosts, key=lambda h: h.fqdn) if h.is_hive), "")

    def one(host: HostInfo) -> tuple[HostInfo, int, str, str, tuple[float | None, float]]:
        clock = ssh.clock(host.fqdn)
        rc, out, err = ssh.collect(host.fqdn, collect_flags(host, host.fqdn == manager, registry))
        return host, rc, out, err, clock

    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(one, hosts))
    findings: list[Finding] = []
    per_host: dict[str, dict[str, Section]] = {}
    for host, rc, out, err, _ in results:
        if rc != 0:
            last = (err.strip().splitlines() or ["no output"])[-1]
            findings.append(
                Finding(host.fqdn, "collect", Severity.ACTION, f"cannot run the checks: {last}", "host-down")
            )
            continue
        per_host[host.fqdn] = split_sections(out)
    udp_ports = published_udp_ports(per_host.get(manager, {}))
    for host, _, _, _, clock in results:
        sections = per_host.get(host.fqdn)
        if sections is None:
            continue
        consumers = {fs.mountpoint: ssh.disk_consumers(host.fqdn, fs.mountpoint) for fs in full_file_systems(sections)}
        findings += host_findings(host, sections, consumers, udp_ports, clock)
        if host.fqdn == manager:
            findings += swarm_findings(host.fqdn, sections)
    findings += drbd_site_findings({h: s for h, s in per_host.items()})
    return findings


def report(findings: list[Finding], hosts: list[HostInfo], as_json: bool) -> str:
    if as_json:
        return json.dumps(
            {"needs_action": needs_action(findings), "hosts": [h.fqdn for h in hosts],
             "findings": [f.as_json() for f in findings]},
            indent=2,
        )  # fmt: skip
    if not findings:
        return f"healthy: {len(hosts)} host(s), every check passed"
    lines = [f.line() for f in findings]
    actions = sum(f.severity is Severity.ACTION for f in findings)
    lines.append(f"{actions} finding(s) need action, {len(findings) - actions} warning(s)")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="hive doctor", description=__doc__.splitlines()[0])
    parser.add_argument("--ssh-config", type=Path, required=True, help="ssh_config with a Host entry per FQDN")
    parser.add_argument("--hosts", type=Path, required=True, help="JSON of the stack output hosts")
    parser.add_argument("--registry", default="", help="HOST:PORT of the registry (stack output registry)")
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    args = parser.parse_args(argv)
    try:
        if not args.ssh_config.is_file():
            raise BadInput(f"{args.ssh_config}: --ssh-config: no such file (the stack output ssh_config)")
        hosts = load_hosts(args.hosts)
    except BadInput as exc:
        print(exc, file=sys.stderr)
        return 2
    findings = run(Ssh(args.ssh_config), hosts, args.registry)
    print(report(findings, hosts, args.json))
    return 1 if needs_action(findings) else 0
