"""Which images each hive must hold before the services are deployed (issue 16). Pure.

A task rescheduled onto a hive (a hive down, a drain, a forced update) starts from the hive's local image; a
hive without it pulls from the site registry — and when the repository server is down the task is rejected
again and again. So every hive that may run a task of a service holds the service's image, by the reference
the service spec uses, before the service is created or updated (hive-builder's deploy-services pulls every
stage image on every hive, reference §3.6).

"May run" is swarm's own placement test over what the program knows of each hive: swarmkit
``manager/constraint/constraint.go`` ``NodeMatches`` — ``node.hostname`` (the short hostname, base.sh),
``node.role`` (every hive is a manager), ``node.platform.os`` (linux), ``node.labels.<k>`` (the node-labels
step: every inventory group ``=true`` and ``az``; a missing label compares as ""), compared case-insensitively
(``Constraint.Match``: ``strings.EqualFold``). What the program does not know (``node.id``,
``node.platform.arch``, ``engine.labels.*``) is taken as a match: a hive that holds an image it never runs
only costs disk space, a hive that lacks one fails over late.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from components.inventory.addressing import Host
from components.inventory.services import CONSTRAINT, Service
from components.inventory.site import Site
from components.provision.steps import node_labels

SWARM_ROLE = "manager"  # swarm-init/swarm-join make every hive a manager
PLATFORM_OS = "linux"


@dataclass(frozen=True)
class NodeFacts:
    """What swarm compares a constraint with, as far as the program knows it."""

    hostname: str
    labels: Mapping[str, str]
    role: str = SWARM_ROLE
    os: str = PLATFORM_OS


def node_facts(host: Host) -> NodeFacts:
    labels = dict(item.split("=", 1) for item in node_labels(host).split())
    return NodeFacts(hostname=host.hostname, labels=labels)


def constraint_may_match(constraint: str, node: NodeFacts) -> bool:
    """Whether ``constraint`` (already validated against services.CONSTRAINT) can hold on ``node``."""
    match = CONSTRAINT.fullmatch(constraint)
    if match is None:
        raise ValueError(f"not a placement constraint: {constraint!r}")
    key, operator, expected = match.groups()
    key = key.lower()
    if key == "node.hostname":
        value: str | None = node.hostname
    elif key == "node.role":
        value = node.role
    elif key == "node.platform.os":
        value = node.os
    elif key.startswith("node.labels."):
        value = node.labels.get(match.group(1)[len("node.labels.") :], "")  # label names are case-sensitive
    else:
        return True  # node.id, node.platform.arch, engine.labels.*: unknown here
    equal = expected.casefold() == value.casefold()
    return equal if operator == "==" else not equal


def may_run(service: Service, node: NodeFacts) -> bool:
    constraints = service.placement.constraints if service.placement is not None else ()
    return all(constraint_may_match(c, node) for c in constraints)


def eligible_hives(site: Site, service: Service) -> list[Host]:
    return [hive for hive in site.hives if may_run(service, node_facts(hive))]


def pull_sets(site: Site, images: Mapping[str, str | None]) -> dict[str, list[str]]:
    """Hive FQDN → the sorted, distinct image references it must hold; ``images``: service name → the reference
    its spec runs (a built image's digest, else the reference the spec names). Every hive has an entry.

    A reference of None is one this run does not know: its image resource was left out by ``up --target`` (the
    engine's SkippedCreate gives it its inputs as outputs: no ``repoDigest``); the service is left out with it."""
    wanted: dict[str, set[str]] = {hive.fqdn: set() for hive in site.hives}
    for service in site.catalog.services:
        reference = images[service.name]
        if reference is None:
            continue
        for hive in eligible_hives(site, service):
            wanted[hive.fqdn].add(reference)
    return {fqdn: sorted(refs) for fqdn, refs in wanted.items()}


def services_on(site: Site, hive: Host) -> list[str]:
    """The services whose tasks ``hive`` may run (the docker.Service resources that wait for its pull)."""
    node = node_facts(hive)
    return [s.name for s in site.catalog.services if may_run(s, node)]


def services_by_hive(site: Site) -> dict[str, list[str]]:
    return {hive.fqdn: services_on(site, hive) for hive in site.hives}
