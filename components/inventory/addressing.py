"""Host names, roles, private addresses, availability zones and the internal_cidr split (reference §1.2–§1.4)."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from components.inventory.errors import ConfigError
from components.inventory.stage import PROVIDER_DEFAULTS, StageConfig, SubnetSpec, host_names

VXLAN_OVERHEAD = 50
# Offsets of the first host address: hive-builder skips network+0..3 without subnets, +0..4 with subnets.
FIRST_OFFSET_SINGLE = 4
FIRST_OFFSET_SUBNETS = 5


@dataclass(frozen=True)
class Host:
    """One server of the site, as the inventory sees it."""

    index: int
    fqdn: str
    hostname: str
    role: str  # "hive" | "repository"
    is_hive: bool  # a repository server is also a hive when separate_repository is false
    private_ip: str
    subnet: str
    subnet_cidr: str
    az: str | None
    first_hive: bool
    mirrored_device: bool
    generation: int = 0

    @property
    def is_repository(self) -> bool:
        return self.role == "repository"

    @property
    def groups(self) -> tuple[str, ...]:
        """hive-builder's inventory groups this host belongs to (they become swarm node labels)."""
        groups = ["servers"]
        if self.is_hive:
            groups.append("hives")
        if self.first_hive:
            groups.append("first_hive")
        if self.is_repository:
            groups.append("repository")
        return tuple(groups)


@dataclass(frozen=True)
class InternalNetworks:
    """Docker's internal networks carved from ``internal_cidr`` (reference §1.4). None = docker's choice."""

    default_network: str | None
    ingress: str | None
    ingress_gateway: str | None
    docker_gwbridge: str
    bip: str
    registry: str | None
    monitoring: str

    def as_dict(self) -> dict[str, str | None]:
        return {
            "hive_default_network": self.default_network,
            "ingress": self.ingress,
            "ingress_gateway": self.ingress_gateway,
            "docker_gwbridge": self.docker_gwbridge,
            "bip": self.bip,
            "registry": self.registry,
            "monitoring": self.monitoring,
        }


def effective_subnets(stage: StageConfig) -> tuple[tuple[SubnetSpec, ...], bool]:
    """The subnets hosts are placed in, and whether hosts round-robin over them (offset +5).

    Without ``subnets``: one subnet ``<name>-default`` = ``cidr`` (offset +4) — except on AWS, whose subnets
    are zonal: there the first three quarters of ``cidr`` become one subnet per zone so the hives spread over
    three availability zones, exactly as if the operator had listed them (fixed ``ip_address_list``
    addresses must then fall into those quarters, so every host's zone is its subnet's zone).
    """
    if stage.subnets:
        return stage.subnets, True
    if stage.provider == "aws":
        quarters = list(stage.cidr.subnets(prefixlen_diff=2))[:3]
        suffixes = PROVIDER_DEFAULTS["aws"].az_suffixes
        derived = tuple(
            SubnetSpec(f"{stage.prefix}subnet{i}", net, f"{stage.region}{suffixes[i]}")
            for i, net in enumerate(quarters)
        )
        return derived, True
    return (SubnetSpec(f"{stage.name}-default", stage.cidr, None),), False


def zone_for(stage: StageConfig, subnet: SubnetSpec, position: int) -> str | None:
    """A subnet's own zone, else the region's zone number ``position % 3``; None without a region."""
    if subnet.available_zone:
        return subnet.available_zone
    if stage.region is None:
        return None
    suffixes = PROVIDER_DEFAULTS[stage.provider].az_suffixes
    suffix = suffixes[position % len(suffixes)]
    return suffix if stage.provider == "azure" else f"{stage.region}{suffix}"


def plan_hosts(stage: StageConfig) -> tuple[Host, ...]:
    """Every host of the stage, in index order; the last one is the repository server."""
    subnets, round_robin = effective_subnets(stage)
    offset = FIRST_OFFSET_SUBNETS if round_robin else FIRST_OFFSET_SINGLE
    used = [0] * len(subnets)
    hive_count = stage.hive_count
    hostnames = host_names(stage.stage, stage.custom_hostname, stage.number_of_hosts)
    hosts = []
    for index in range(stage.number_of_hosts):
        if stage.ip_address_list:
            address = stage.ip_address_list[index]
            position = next((i for i, s in enumerate(subnets) if address in s.cidr), None)
            if position is None:
                raise ConfigError(
                    stage.file,
                    ("hive:ip_address_list", index),
                    f"{address} is in none of the subnets",
                    ", ".join(str(s.cidr) for s in subnets),
                )
        else:
            position = index % len(subnets)
            subnet_net = subnets[position].cidr
            address = subnet_net.network_address + offset + used[position]
            if address >= subnet_net.broadcast_address:
                path = ("hive:subnets", position, "cidr") if stage.subnets else ("hive:cidr",)
                raise ConfigError(
                    stage.file,
                    path,
                    f"{subnet_net} has no address left for host {index} (addresses start at network+{offset})",
                    "a larger network or fewer hosts",
                )
            used[position] += 1
        subnet = subnets[position]
        hostname = hostnames[index]
        is_repository = index == stage.number_of_hosts - 1
        zone_position = position if round_robin else index
        hosts.append(
            Host(
                index=index,
                fqdn=f"{hostname}.{stage.name}",
                hostname=hostname,
                role="repository" if is_repository else "hive",
                is_hive=index < hive_count,
                private_ip=str(address),
                subnet=subnet.name,
                subnet_cidr=str(subnet.cidr),
                az=zone_for(stage, subnet, zone_position),
                first_hive=index == stage.first_hive,
                mirrored_device=index not in stage.no_mirrored_device,
                generation=stage.host_generation.get(hostname, 0),
            )
        )
    return tuple(hosts)


def internal_networks(internal_cidr: ipaddress.IPv4Network | None) -> InternalNetworks:
    """The reference's split: overlay ¼, ingress ¼, gwbridge ⅛, docker0 bip ⅛, registry ⅛, monitoring ⅛."""
    if internal_cidr is None:
        return InternalNetworks(None, None, None, "172.20.0.0/16", "172.17.128.1/16", None, "172.21.0.0/16")
    base = int(internal_cidr.network_address)
    size = internal_cidr.num_addresses
    prefix = internal_cidr.prefixlen

    def net(offset: int, extra_bits: int) -> str:
        return str(ipaddress.IPv4Network((base + offset, prefix + extra_bits)))

    def addr(offset: int) -> str:
        return str(ipaddress.IPv4Address(base + offset))

    return InternalNetworks(
        default_network=net(0, 2),
        ingress=net(size // 4, 2),
        ingress_gateway=addr(size // 4 + 1),
        docker_gwbridge=net(size // 2, 3),
        bip=f"{addr(5 * size // 8 + 1)}/{prefix + 3}",
        registry=net(6 * size // 8, 3),
        monitoring=net(7 * size // 8, 3),
    )


def overlay_mtu(underlay_mtu: int) -> int:
    """VXLAN costs 50 bytes; an overlay MTU above underlay − 50 shows up as TLS handshake timeouts."""
    return underlay_mtu - VXLAN_OVERHEAD
