"""The site's inbound firewall policy as plain data; every cloud module translates the same rules.

Policy (DESIGN §5, issue 3):

* ``internal`` — all protocols, all ports, from the site's own ``cidr`` (and from nothing else);
* ``admin-tcp`` — tcp 22 (ssh) and tcp 2376 (docker API, mutual TLS) from ``admin_cidrs``
  (default ``0.0.0.0/0``: set it to the operator's networks);
* ``published-<protocol>`` — the published ports below 10000 of this stage's services, per protocol,
  from anywhere. Published ports of 10000 and above (the auto-allocated 61001–65534 range included) are
  reachable from inside the site only.

Nothing else comes in; in particular no rule from outside the site ever opens all protocols or a port of
10000 or more — :func:`violations` states that invariant and every cloud module checks it before it
creates a rule.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass

from components.inventory.site import Site

ANYWHERE = "0.0.0.0/0"
ALL_PROTOCOLS = "all"
WORLD_PORT_LIMIT = 10000  # ports at or above this are never opened to the outside
SSH_PORT = 22
DOCKER_API_PORT = 2376
ADMIN_PORTS = (SSH_PORT, DOCKER_API_PORT)
PROTOCOL_ORDER = ("tcp", "udp", "sctp")


@dataclass(frozen=True, order=True)
class PortRange:
    """An inclusive port range; a single port has ``first == last``."""

    first: int
    last: int

    def __post_init__(self) -> None:
        if not 0 < self.first <= self.last <= 65535:
            raise ValueError(f"bad port range {self.first}-{self.last}")

    def __str__(self) -> str:
        return str(self.first) if self.first == self.last else f"{self.first}-{self.last}"


@dataclass(frozen=True)
class Rule:
    """One inbound allow rule. ``ports == ()`` means every port (only with ``protocol == "all"``).

    ``name`` is stable (``internal``, ``admin-tcp``, ``published-udp``): cloud modules derive resource
    names from it. ``internal`` marks the rule whose source is the site itself (on AWS: the security
    group, not the CIDR).
    """

    name: str
    protocol: str
    ports: tuple[PortRange, ...]
    sources: tuple[str, ...]
    description: str
    internal: bool = False

    @property
    def all_ports(self) -> bool:
        return not self.ports

    @property
    def port_strings(self) -> tuple[str, ...]:
        return tuple(str(p) for p in self.ports)


def merge_ports(ports: Iterable[int]) -> tuple[PortRange, ...]:
    """Sorted, de-duplicated ports as the fewest ranges: ``[53, 80, 81, 443, 80]`` → ``53, 80-81, 443``."""
    ranges: list[PortRange] = []
    for port in sorted(set(ports)):
        if ranges and ranges[-1].last + 1 == port:
            ranges[-1] = PortRange(ranges[-1].first, port)
        else:
            ranges.append(PortRange(port, port))
    return tuple(ranges)


def internal_rule(site: Site) -> Rule:
    return Rule(
        name="internal",
        protocol=ALL_PROTOCOLS,
        ports=(),
        sources=(str(site.stage.cidr),),
        description=f"everything between the hosts of {site.stage.prefix}{site.stage.name}",
        internal=True,
    )


def admin_rules(site: Site) -> tuple[Rule, ...]:
    return (
        Rule(
            name="admin-tcp",
            protocol="tcp",
            ports=merge_ports(ADMIN_PORTS),
            sources=tuple(site.stage.admin_cidrs),
            description="ssh and the docker API (mutual TLS) from admin_cidrs",
        ),
    )


def published_ports(site: Site) -> dict[str, tuple[int, ...]]:
    """protocol → the sorted published ports below 10000 of this stage's services."""
    by_protocol: dict[str, set[int]] = {}
    for service in site.catalog.services:
        for index, port in enumerate(service.ports):
            number = site.published_port(service, index)
            if number < WORLD_PORT_LIMIT:
                by_protocol.setdefault(port.protocol, set()).add(number)
    return {p: tuple(sorted(by_protocol[p])) for p in PROTOCOL_ORDER if p in by_protocol}


def published_rules(site: Site) -> tuple[Rule, ...]:
    return tuple(
        Rule(
            name=f"published-{protocol}",
            protocol=protocol,
            ports=merge_ports(ports),
            sources=(ANYWHERE,),
            description=f"published service ports below {WORLD_PORT_LIMIT} ({protocol}) from anywhere",
        )
        for protocol, ports in published_ports(site).items()
    )


def world_rules(site: Site) -> tuple[Rule, ...]:
    """The rules whose sources are outside the site: admin, then published."""
    return (*admin_rules(site), *published_rules(site))


def policy(site: Site) -> tuple[Rule, ...]:
    """Every inbound rule of the site: internal first, then the world rules."""
    return (internal_rule(site), *world_rules(site))


def external_sources(rule: Rule, site: Site) -> tuple[str, ...]:
    """The sources of ``rule`` that are not inside the site's own cidr."""
    cidr = site.stage.cidr
    return tuple(s for s in rule.sources if not ipaddress.ip_network(s, strict=False).subnet_of(cidr))


def violations(rules: Iterable[Rule], site: Site) -> list[str]:
    """Why ``rules`` break the policy's invariant (empty when they keep it).

    A rule with any source outside the site must name one protocol and ports below 10000 only.
    """
    problems: list[str] = []
    for rule in rules:
        outside = external_sources(rule, site)
        if not outside:
            continue
        if rule.protocol == ALL_PROTOCOLS:
            problems.append(f"rule {rule.name} opens all protocols to {', '.join(outside)}")
        if rule.all_ports:
            problems.append(f"rule {rule.name} opens every port to {', '.join(outside)}")
        high = [str(p) for p in rule.ports if p.last >= WORLD_PORT_LIMIT]
        if high:
            problems.append(
                f"rule {rule.name} opens ports {', '.join(high)} (>= {WORLD_PORT_LIMIT}) to {', '.join(outside)}"
            )
    return problems


def checked_policy(site: Site) -> tuple[Rule, ...]:
    """:func:`policy`, after asserting its invariant (a programming error if it fails)."""
    rules = policy(site)
    problems = violations(rules, site)
    if problems:
        raise AssertionError("firewall policy: " + "; ".join(problems))
    return rules


def supported(rules: Iterable[Rule], protocols: Iterable[str]) -> tuple[tuple[Rule, ...], tuple[Rule, ...]]:
    """Split ``rules`` into those a cloud can express (``protocols`` plus ``all``) and those it cannot.

    AWS security groups and Azure NSGs cannot restrict SCTP to ports; a dropped rule is the caller's
    to report (it is never widened to all ports).
    """
    allowed = {*protocols, ALL_PROTOCOLS}
    rules = tuple(rules)
    return tuple(r for r in rules if r.protocol in allowed), tuple(r for r in rules if r.protocol not in allowed)
