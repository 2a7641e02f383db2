"""Inputs that validate one by one but cannot work together on a stage, and what a small hive cannot survive.

Pure: each check raises one :class:`ConfigError` naming the file and key path, or returns warning text.
"""

from __future__ import annotations

import ipaddress
import math
from collections.abc import Sequence

from components.inventory.addressing import Host, docker_networks
from components.inventory.errors import ConfigError
from components.inventory.services import CONSTRAINT, Catalog
from components.inventory.stage import CLOUDS, StageConfig

GIB = 1 << 30
EXTENT = 4 << 20  # LVM's default physical extent: every logical volume is rounded up to it
DRBD_METADATA = 4 << 20  # internal metadata of a volume up to ~128 GiB (32 KiB per GiB + bitmap), an extent


def drbd_volume_names(catalog: Catalog, stage: str) -> set[str]:
    """Names of the volumes some service of the stage defines as DRBD volumes on this stage."""
    return {
        mount.source
        for service in catalog.services
        for mount in service.volumes
        if mount.drbd is not None and mount.source is not None and stage in mount.drbd.available_on
    }


def check_single_primary(catalog: Catalog, stage: str) -> None:
    """A DRBD volume has one primary: a service mounting it runs one task (replicated, replicas 1).

    Several services may mount the same volume (the model allows it, e.g. a backup job); keeping them on the
    primary's node is their placement's business."""
    drbd = drbd_volume_names(catalog, stage)
    for service in catalog.services:
        for index, mount in enumerate(service.volumes):
            if mount.type != "volume" or mount.source not in drbd:
                continue
            path = ("services", service.name, "volumes", index)
            if service.mode == "global":
                raise ConfigError(
                    service.file, path,
                    f"DRBD volume {mount.source} on a global service: DRBD has one primary, a second task "
                    "cannot mount it",
                    "mode: replicated with replicas: 1, or a driver volume",
                )  # fmt: skip
            if (service.replicas if service.replicas is not None else 1) > 1:
                raise ConfigError(
                    service.file, path,
                    f"DRBD volume {mount.source} on a service with {service.replicas} replicas: DRBD has one "
                    "primary, a second task cannot mount it",
                    "replicas: 1",
                )  # fmt: skip


def check_mirrored_disk(stage: StageConfig, catalog: Catalog) -> None:
    """On a cloud, DRBD volumes live on the extra disk of ``mirrored_disk_size`` GiB: it must exist and hold them."""
    if stage.provider not in CLOUDS:
        return
    sizes: dict[str, int] = {}
    for service in catalog.services:
        for mount in service.volumes:
            if mount.drbd is not None and mount.source is not None and stage.stage in mount.drbd.available_on:
                sizes.setdefault(mount.source, mount.drbd.size_bytes)
    if not sizes:
        return
    needed = sum(math.ceil(size / EXTENT) * EXTENT + DRBD_METADATA for size in sizes.values())
    listing = ", ".join(f"{name} {size / GIB:g} GiB" for name, size in sizes.items())
    minimum = math.ceil((needed + EXTENT) / GIB)
    if stage.mirrored_disk_size is None:
        raise ConfigError(
            stage.file, ("hive:mirrored_disk_size",),
            f"is not set, but this stage has DRBD volumes ({listing})",
            f"the size in GiB of each hive's DRBD disk, at least {minimum}",
        )  # fmt: skip
    if needed + EXTENT > stage.mirrored_disk_size * GIB:
        raise ConfigError(
            stage.file, ("hive:mirrored_disk_size",),
            f"{stage.mirrored_disk_size} GiB cannot hold this stage's DRBD volumes ({listing}, with metadata "
            f"{needed / GIB:.2f} GiB)",
            f"at least {minimum}, or smaller volumes",
        )  # fmt: skip


# drbd-volume.sh makes each volume's metadata with `drbdadm create-md --max-peers=7`: bitmap slots for 7 peers, so
# a resource spans at most 8 hives — and a drbd: volume is mirrored on every hive of the stage.
DRBD_MAX_PEERS = 7


def check_drbd_peers(stage: StageConfig, catalog: Catalog) -> None:
    """Every hive holds each DRBD volume (diskful or diskless): at most DRBD_MAX_PEERS + 1 hives."""
    volumes = sorted(drbd_volume_names(catalog, stage.stage))
    if volumes and stage.hive_count > DRBD_MAX_PEERS + 1:
        key = "hive:ip_address_list" if stage.provider == "prepared" else "hive:number_of_hosts"
        named = ", ".join(volumes[:3]) + (", …" if len(volumes) > 3 else "")
        raise ConfigError(
            stage.file, (key,),
            f"{stage.hive_count} hives, but a DRBD volume ({named}) "
            f"is mirrored on every hive and DRBD keeps at most {DRBD_MAX_PEERS} peers per resource",
            f"at most {DRBD_MAX_PEERS + 1} hives on a stage with DRBD volumes",
        )  # fmt: skip


def check_overlay_subnets(stage: StageConfig, catalog: Catalog) -> None:
    """A services file's overlay subnet must not overlap the hosts' network, internal_cidr or docker's own."""
    taken: list[tuple[ipaddress.IPv4Network, str]] = [(stage.cidr, "hive:cidr")]
    if stage.internal_cidr is not None:
        taken.append((stage.internal_cidr, "hive:internal_cidr"))
    taken += [(net, f"docker's {role}") for net, role in docker_networks(stage)]
    for network in catalog.networks:
        for index, config in enumerate(network.subnets):
            subnet = ipaddress.ip_network(config["subnet"])
            for other, what in taken:
                if subnet.overlaps(other):
                    raise ConfigError(
                        network.file, ("networks", network.name, "ipam", "config", index, "subnet"),
                        f"{subnet} overlaps {what} {other}", "a subnet disjoint from the site's networks",
                    )  # fmt: skip
            taken.append((subnet, f"network {network.name}"))


def survivability_warnings(stage: StageConfig, volumes: Sequence[str]) -> list[str]:
    """What a hive of one or two hosts cannot survive (valid — hive-builder's private stages use one host)."""
    count = stage.hive_count
    drbd = f"; DRBD volumes ({', '.join(volumes)})" if volumes else ""
    if count == 1:
        return [
            "one hive: the swarm has a single manager and no host to fail over to — losing it stops every service"
            + (drbd + " have no second copy" if volumes else "")
        ]
    if count == 2:
        return [
            "two hives: the swarm's raft needs both managers for a majority, so after either hive fails the swarm "
            "cannot be managed (no updates, no rescheduling)"
            + (drbd + " keep a copy but have no quorum to promote it automatically" if volumes else "")
        ]
    return []


def check_constraint_labels(catalog: Catalog, hives: Sequence[Host]) -> None:
    """A constraint ``node.labels.<k> == <v>`` needs a hive with that label, else no task is ever placed.

    The hives' labels are the ones hive sets (components/provision/steps.py ``node_labels``): every inventory
    group ``=true`` and ``az=<zone>`` where the zone is known. Nothing else sets node labels (hive-builder's
    ``HIVE_MARK`` is refused by the catalog), so a label no hive has stays unsatisfiable."""
    labels = {(group, "true") for host in hives for group in host.groups}
    labels |= {("az", host.az) for host in hives if host.az}
    for service in catalog.services:
        if service.placement is None:
            continue
        for index, constraint in enumerate(service.placement.constraints):
            match = CONSTRAINT.fullmatch(constraint)
            assert match is not None  # validated by the catalog
            attribute, operator, value = match.groups()
            if operator != "==" or not attribute.startswith("node.labels."):
                continue
            key = attribute.removeprefix("node.labels.")
            if (key, value) not in labels:
                known = sorted({f"node.labels.{k} == {v}" for k, v in labels})
                raise ConfigError(
                    service.file, ("services", service.name, "placement", "constraints", index),
                    f"no hive has the node label {key}={value}: no task could ever be placed",
                    "a label hive sets: " + ", ".join(known),
                )  # fmt: skip
