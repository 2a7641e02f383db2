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
    check_docker_overlap(stage)
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
            reason = reserved_reason(stage, subnets[position].cidr, address)
            if reason is not None:
                raise ConfigError(
                    stage.file,
                    ("hive:ip_address_list", index),
                    f"{address} cannot be a host address in {subnets[position].cidr}: {reason}",
                    "another address of the subnet",
                )
        else:
            position = index % len(subnets)
            subnet_net = subnets[position].cidr
            address = subnet_net.network_address + offset + used[position]
            if address >= subnet_net.broadcast_address or reserved_reason(stage, subnet_net, address):
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


def docker_networks(stage: StageConfig) -> tuple[tuple[ipaddress.IPv4Network, str], ...]:
    """The networks docker uses on every host of the site: :func:`internal_networks`, plus docker's own
    defaults where internal_cidr does not move them (ingress 10.0.0.0/24)."""
    nets = internal_networks(stage.internal_cidr)
    found = [
        (ipaddress.ip_network(nets.docker_gwbridge), "docker_gwbridge network"),
        (ipaddress.ip_network(nets.bip, strict=False), "docker0 bridge (bip)"),
        (ipaddress.ip_network(nets.monitoring), "local address pool"),
    ]
    if stage.internal_cidr is None:
        found.append((ipaddress.ip_network("10.0.0.0/24"), "default ingress network"))
    return tuple(found)


def check_docker_overlap(stage: StageConfig) -> None:
    """``hive:cidr`` must not overlap a network docker itself uses on the hosts (routes would collide)."""
    for network, role in docker_networks(stage):
        if stage.cidr.overlaps(network):
            raise ConfigError(
                stage.file,
                ("hive:cidr",),
                f"{stage.cidr} overlaps {network}, docker's {role} on every host",
                "a network disjoint from docker's own"
                + ("" if stage.internal_cidr else "; or move docker's networks with hive:internal_cidr"),
            )


# Addresses a provider keeps for itself in every subnet: offsets from the start, and from the end (1 = the last).
RESERVED_OFFSETS: dict[str, tuple[tuple[int, ...], tuple[int, ...], str]] = {
    # AWS: network, VPC router, DNS, "reserved for future use", broadcast
    # (docs.aws.amazon.com/vpc/latest/userguide/subnet-sizing.html).
    "aws": ((0, 1, 2, 3), (1,), "AWS reserves the first four and the last address of a subnet"),
    # Azure: network, default gateway, 2 × Azure DNS, broadcast
    # (learn.microsoft.com/azure/virtual-network/virtual-networks-faq "reserved IP addresses within each subnet").
    "azure": ((0, 1, 2, 3), (1,), "Azure reserves the first four and the last address of a subnet"),
    # GCP: network, default gateway, second-to-last (reserved), broadcast
    # (docs.cloud.google.com/vpc/docs/subnets "Reserved IP addresses in IPv4 subnets").
    "gcp": ((0, 1), (2, 1), "GCP reserves the first two and the last two addresses of a subnet"),
    # local: the docker bridge network's gateway is the cidr's first address (components/infra/local.py gateway).
    "local": ((0, 1), (1,), "the network's gateway (its first address) belongs to the docker bridge"),
}


def reserved_reason(stage: StageConfig, subnet: ipaddress.IPv4Network, address: ipaddress.IPv4Address) -> str | None:
    """Why ``address`` cannot be a host of ``subnet`` on this provider, or None when it can."""
    rule = RESERVED_OFFSETS.get(stage.provider)
    if rule is None:
        return None
    head, tail, reason = rule
    offset = int(address) - int(subnet.network_address)
    from_end = int(subnet.broadcast_address) - int(address) + 1
    return reason if offset in head or from_end in tail else None


def overlay_mtu(underlay_mtu: int) -> int:
    """VXLAN costs 50 bytes; an overlay MTU above underlay − 50 shows up as TLS handshake timeouts."""
    return underlay_mtu - VXLAN_OVERHEAD
