"""The resolved site: stage + hosts + internal networks + this stage's services, volumes and allocations."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from components.inventory.addressing import Host, InternalNetworks, internal_networks, overlay_mtu, plan_hosts
from components.inventory.allocation import Allocations, allocate, drbd_port
from components.inventory.errors import ConfigError
from components.inventory.feasibility import (
    check_constraint_labels,
    check_drbd_peers,
    check_mirrored_disk,
    check_overlay_subnets,
    check_single_primary,
    survivability_warnings,
)
from components.inventory.services import Catalog, Drbd, ImageBuild, Mount, Service
from components.inventory.stage import StageConfig


@dataclass(frozen=True)
class Volume:
    """A named volume the site creates. ``kind``: drbd | driver | local."""

    name: str
    kind: str
    minor: int | None = None
    drbd: Drbd | None = None
    diskless: tuple[str, ...] = ()  # fqdns
    driver: str | None = None
    driver_opts: tuple[tuple[str, str], ...] = ()

    @property
    def port(self) -> int | None:
        return None if self.minor is None else drbd_port(self.minor)

    @property
    def device(self) -> str | None:
        return None if self.minor is None else f"/dev/drbd{self.minor}"


@dataclass(frozen=True)
class Site:
    stage: StageConfig
    hosts: tuple[Host, ...]
    networks: InternalNetworks
    overlay_mtu: int
    catalog: Catalog  # this stage's services only
    volumes: tuple[Volume, ...]
    allocations: Allocations
    warnings: tuple[str, ...]

    @property
    def hives(self) -> tuple[Host, ...]:
        return tuple(h for h in self.hosts if h.is_hive)

    @property
    def repository(self) -> Host:
        return self.hosts[-1]

    @property
    def first_hive(self) -> Host:
        return next(h for h in self.hosts if h.first_hive)

    @property
    def drbd_supported(self) -> bool:
        """DRBD needs a kernel module: not inside the ``local`` provider's containers."""
        return self.stage.provider != "local"

    def published_port(self, service: Service, index: int) -> int:
        port = service.ports[index]
        return port.published if port.published is not None else self.allocations.ports[port.key(service.name)]

    def to_json(self) -> dict[str, Any]:
        """The inventory command's document (also the ``inventory`` stack output)."""
        repository = self.repository.fqdn
        return {
            "stage": self.stage.stage,
            "name": self.stage.name,
            "provider": self.stage.provider,
            "zone": self.stage.zone,
            "hosts": [
                {
                    "name": h.fqdn,
                    "hostname": h.hostname,
                    "role": h.role,
                    "index": h.index,
                    "private_ip": h.private_ip,
                    "subnet": h.subnet,
                    "subnet_cidr": h.subnet_cidr,
                    "az": h.az,
                    "first_hive": h.first_hive,
                    "is_hive": h.is_hive,
                    "mirrored_device": h.mirrored_device,
                    "groups": list(h.groups),
                }
                for h in self.hosts
            ],
            "internal_networks": self.networks.as_dict(),
            "overlay_mtu": self.overlay_mtu,
            "services": [
                {
                    "name": s.name,
                    "image": s.image_reference(self.stage.stage, repository),
                    "build": isinstance(s.image, ImageBuild) and s.builds_image(self.stage.stage),
                    "ports": [
                        {
                            "published": self.published_port(s, i),
                            "target": p.target,
                            "protocol": p.protocol,
                            "mode": p.mode,
                        }
                        for i, p in enumerate(s.ports)
                    ],
                    "volumes": [_mount_json(m) for m in s.volumes],
                }
                for s in self.catalog.services
            ],
            "volumes": [volume_json(v) for v in self.volumes],
            "allocations": self.allocations.as_dict(),
            "warnings": list(self.warnings),
        }


def _mount_json(mount: Mount) -> dict[str, Any]:
    return {"source": mount.source, "target": mount.target, "type": mount.type, "readonly": mount.readonly}


def volume_json(volume: Volume) -> dict[str, Any]:
    """A volume as the inventory document and the ``volumes`` stack output show it."""
    data: dict[str, Any] = {"name": volume.name, "kind": volume.kind}
    if volume.drbd is not None and volume.minor is not None:
        data["drbd"] = {
            "minor": volume.minor,
            "port": volume.port,
            "device": volume.device,
            "fstype": volume.drbd.fstype,
            "size": volume.drbd.size,
            "diskless": list(volume.diskless),
        }
    if volume.driver is not None:
        data["driver"] = volume.driver
        data["driver_opts"] = dict(volume.driver_opts)
    return data


def resolve_site(stage: StageConfig, catalog: Catalog, previous: Allocations) -> Site:
    """Everything the program needs, validated; raises :class:`ConfigError` on the first problem."""
    hosts = plan_hosts(stage)
    services = catalog.for_stage(stage.stage)
    check_single_primary(services, stage.stage)
    check_mirrored_disk(stage, services)
    check_drbd_peers(stage, services)
    check_overlay_subnets(stage, services)
    hives = [h for h in hosts if h.is_hive]
    check_constraint_labels(services, hives)
    allocations = allocate(services.services, previous, stage.previous_allocations)
    warnings: list[str] = []
    volumes: dict[str, Volume] = {}
    definitions: dict[str, tuple[Service, int, Mount]] = {}
    for service in services.services:
        for index, mount in enumerate(service.volumes):
            if mount.type != "volume" or mount.source is None:
                continue
            defined = mount.drbd is not None or mount.driver is not None
            if mount.source in definitions and defined:
                first_service, _, first = definitions[mount.source]
                if (first.drbd, first.driver, first.driver_opts) != (mount.drbd, mount.driver, mount.driver_opts):
                    raise ConfigError(
                        service.file,
                        ("services", service.name, "volumes", index),
                        f"volume {mount.source} is defined differently by service {first_service.name}",
                        "one definition per volume name; other services mount it with source and target only",
                    )
                continue
            if mount.source in volumes and not defined:
                continue
            if defined:
                definitions[mount.source] = (service, index, mount)
            volumes[mount.source] = _volume(stage, service, index, mount, hives, allocations, warnings)
    warnings += survivability_warnings(stage, [v.name for v in volumes.values() if v.kind == "drbd"])
    return Site(
        stage=stage,
        hosts=hosts,
        networks=internal_networks(stage.internal_cidr),
        overlay_mtu=overlay_mtu(stage.underlay_mtu),
        catalog=services,
        volumes=tuple(volumes.values()),
        allocations=allocations,
        warnings=tuple(warnings),
    )


def _volume(
    stage: StageConfig,
    service: Service,
    index: int,
    mount: Mount,
    hives: list[Host],
    allocations: Allocations,
    warnings: list[str],
) -> Volume:
    name = mount.source
    assert name is not None
    if mount.drbd is not None and stage.stage in mount.drbd.available_on:
        path = ("services", service.name, "volumes", index, "drbd", "diskless")
        by_name = {h.fqdn: h for h in hives} | {h.hostname: h for h in hives}
        diskless = []
        for position, host_name in enumerate(mount.drbd.diskless):
            if host_name not in by_name:
                raise ConfigError(
                    service.file,
                    (*path, position),
                    f"{host_name} is not a hive of stage {stage.stage}",
                    "one of " + ", ".join(h.hostname for h in hives),
                )
            diskless.append(by_name[host_name].fqdn)
        diskless += [h.fqdn for h in hives if not h.mirrored_device and h.fqdn not in diskless]
        if len(set(diskless)) >= len(hives):
            raise ConfigError(service.file, path, "every hive is diskless", "at least one hive holds the data")
        if stage.provider == "local":
            warnings.append(
                f"volume {name}: DRBD cannot run inside the local provider's containers; "
                "it is a plain local volume on each hive (no replication) on this stage"
            )
            return Volume(name, "local")
        return Volume(name, "drbd", minor=allocations.drbd_minors[name], drbd=mount.drbd, diskless=tuple(diskless))
    if mount.driver is not None:
        return Volume(name, "driver", driver=mount.driver, driver_opts=tuple(sorted(mount.driver_opts.items())))
    return Volume(name, "local")
