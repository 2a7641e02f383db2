"""Stable allocation of auto-published ports (61001–65534) and DRBD minors (1–255).

Stability: an entry that existed in the previous allocation keeps its value whenever it is still free, no
matter what was added or removed before it in the catalog; only new entries take the lowest free value.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from components.inventory.errors import ConfigError, KeyPath
from components.inventory.schema import Node

if TYPE_CHECKING:  # services imports stage, which reads hive:previous_allocations with this module
    from components.inventory.services import Service

PORT_RANGE = range(61001, 65535)
MINOR_RANGE = range(1, 256)
DRBD_BASE_PORT = 7000


@dataclass(frozen=True)
class Allocations:
    """What ``--previous-allocations`` accepts and the stack output ``allocations`` holds."""

    ports: dict[str, int]
    drbd_minors: dict[str, int]

    def as_dict(self) -> dict[str, dict[str, int]]:
        return {"ports": dict(self.ports), "drbd_minors": dict(self.drbd_minors)}

    @staticmethod
    def empty() -> Allocations:
        return Allocations({}, {})

    def seeded_by(self, seed: Allocations) -> Allocations:
        """These allocations, plus every entry of ``seed`` (``hive:previous_allocations``) whose key they lack
        and whose value none of theirs holds: the stack's own record wins, a seed never displaces it."""

        def merge(own: dict[str, int], extra: dict[str, int]) -> dict[str, int]:
            taken = set(own.values())
            return {**{k: v for k, v in extra.items() if k not in own and v not in taken}, **own}

        return Allocations(merge(self.ports, seed.ports), merge(self.drbd_minors, seed.drbd_minors))

    @staticmethod
    def parse(data: Any, file: str, path: KeyPath = ()) -> Allocations:
        """Read a previous allocation (a file, this stack's last ``allocations`` output, or the stage's
        ``hive:previous_allocations``). A value used twice is an error: only one key could keep it."""
        root = Node(data, file, path)
        fields = root.mapping({"ports", "drbd_minors"})
        ports = {key: node.integer(PORT_RANGE.start, PORT_RANGE.stop - 1) for key, node in _entries(fields, "ports")}
        minors = {
            key: node.integer(MINOR_RANGE.start, MINOR_RANGE.stop - 1) for key, node in _entries(fields, "drbd_minors")
        }
        for kind, values in (("ports", ports), ("drbd_minors", minors)):
            seen: dict[int, str] = {}
            for key, value in values.items():
                if value in seen:
                    raise fields[kind].at(key, value).error(f"{value} is also given to {seen[value]}", "unique values")
                seen[value] = key
        return Allocations(ports, minors)


def _entries(fields: Mapping[str, Node], key: str) -> Iterable[tuple[str, Node]]:
    node = fields.get(key)
    return node.mapping().items() if node is not None else ()


def _stable_assign(
    keys: list[str], previous: Mapping[str, int], taken: set[int], values: range, reserved: Iterable[int] = ()
) -> dict[str, int]:
    """Keep every still-free previous value, then give new keys the lowest free values in ``values`` that are
    not ``reserved`` (hive-builder's persisted map: a value stays out of reach for new keys while it is listed)."""
    assigned: dict[str, int] = {}
    for key in keys:
        value = previous.get(key)
        if value is not None and value in values and value not in taken:
            assigned[key] = value
            taken.add(value)
    never = set(reserved)
    free = (value for value in values if value not in taken and value not in never)
    for key in keys:
        if key not in assigned:
            value = next(free, None)
            if value is None:
                raise OverflowError(key)
            assigned[key] = value
            taken.add(value)
    return {key: assigned[key] for key in keys}


def allocate_ports(
    services: Iterable[Service], previous: Mapping[str, int], reserved: Iterable[int] = ()
) -> dict[str, int]:
    """Published ports for every port without one, keyed ``<service><target>`` (protocol ignored).

    Explicit ports that collide (same port and protocol, both published through the ingress) are an error.
    """
    explicit: dict[tuple[int, str], str] = {}
    taken: set[int] = set()
    auto_keys: list[str] = []
    for service in services:
        for index, port in enumerate(service.ports):
            if port.published is None:
                key = port.key(service.name)
                if key not in auto_keys:
                    auto_keys.append(key)
                continue
            taken.add(port.published)
            if port.mode != "ingress":
                continue
            slot = (port.published, port.protocol)
            if slot in explicit:
                raise ConfigError(
                    service.file,
                    ("services", service.name, "ports", index),
                    f"{port.published}/{port.protocol} is already published by service {explicit[slot]}",
                    "a free port, or mode: host on different nodes",
                )
            explicit[slot] = service.name
    try:
        return _stable_assign(auto_keys, previous, taken, PORT_RANGE, reserved)
    except OverflowError as exc:
        raise ConfigError("services", (str(exc),), "no free port left in 61001..65534") from None


def allocate_minors(
    services: Iterable[Service], previous: Mapping[str, int], reserved: Iterable[int] = ()
) -> dict[str, int]:
    """DRBD minors for every drbd volume (by volume name, first use in catalog order)."""
    fixed: dict[int, str] = {}
    keys: list[str] = []
    for service in services:
        for index, mount in enumerate(service.volumes):
            if mount.drbd is None or mount.source is None or mount.source in keys:
                continue
            keys.append(mount.source)
            device_id = mount.drbd.device_id
            if device_id is not None:
                if device_id in fixed:
                    raise ConfigError(
                        service.file,
                        ("services", service.name, "volumes", index, "drbd", "device_id"),
                        f"{device_id} is already the device_id of volume {fixed[device_id]}",
                        "unique device ids in 1..255",
                    )
                fixed[device_id] = mount.source
    by_name = {name: minor for minor, name in fixed.items()}
    auto = [key for key in keys if key not in by_name]
    try:
        assigned = _stable_assign(auto, previous, set(fixed), MINOR_RANGE, reserved)
    except OverflowError as exc:
        raise ConfigError("services", (str(exc),), "no free DRBD minor left in 1..255") from None
    return {key: by_name.get(key) or assigned[key] for key in keys}


def allocate(services: Iterable[Service], previous: Allocations, seed: Allocations | None = None) -> Allocations:
    """``previous`` (this stack's record) seeded by ``seed`` (``hive:previous_allocations``), whose values also
    stay reserved: a new entry never takes a value the seed lists, as hive-builder never reuses one."""
    services = list(services)
    seed = seed or Allocations.empty()
    previous = previous.seeded_by(seed)
    return Allocations(
        allocate_ports(services, previous.ports, seed.ports.values()),
        allocate_minors(services, previous.drbd_minors, seed.drbd_minors.values()),
    )


def drbd_port(minor: int) -> int:
    return DRBD_BASE_PORT + minor
