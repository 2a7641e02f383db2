"""The stage object: ``hive:*`` keys of ``Pulumi.yaml`` and ``Pulumi.<stack>.yaml``, validated.

Key names are hive-builder's (snake_case); the rules and defaults are its rules (reference §1.1) plus the
keys this re-implementation adds (``admin_cidrs``, ``ssh_user``, ``underlay_mtu``, ...).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from components.inventory.errors import ConfigError
from components.inventory.receivers import Receiver, parse_receivers
from components.inventory.schema import Node, present

STAGES = ("private", "staging", "production")
STAGE_PREFIX = {"private": "p-", "staging": "s-", "production": ""}
PROVIDERS = ("aws", "gcp", "azure", "prepared", "local")
CLOUDS = ("aws", "gcp", "azure")

NAME_PATTERN = r"[a-z0-9]([a-z0-9-]*[a-z0-9])?"
HOSTNAME_PATTERN = r"[a-z0-9][a-z0-9-]*[a-z0-9]"
DOMAIN_PATTERN = r"([a-z0-9]([a-z0-9-]*[a-z0-9])?\.)*[a-z0-9]([a-z0-9-]*[a-z0-9])?"


@dataclass(frozen=True)
class ProviderDefaults:
    """What a provider assumes when the stage does not say."""

    ssh_user: str
    underlay_mtu: int
    instance_type: str | None = None
    image_name: str | None = None
    az_suffixes: tuple[str, ...] = ()
    mirrored_device: str | None = None  # where the provider attaches the DRBD disk (drbd-pool tries it first)


PROVIDER_DEFAULTS: dict[str, ProviderDefaults] = {
    "aws": ProviderDefaults("admin", 1500, "t3.medium", "debian-13-amd64-*", ("a", "b", "c"), "/dev/nvme1n1"),
    "gcp": ProviderDefaults(
        "admin",
        1460,
        "e2-standard-2",
        "projects/debian-cloud/global/images/family/debian-13",
        ("-a", "-b", "-c"),
        "/dev/disk/by-id/google-drbd",
    ),
    "azure": ProviderDefaults(
        "hiveadmin",
        1500,
        "Standard_B2s",
        "Debian:debian-13:13-gen2:latest",
        ("1", "2", "3"),
        "/dev/disk/azure/scsi1/lun0",
    ),
    "prepared": ProviderDefaults("admin", 1500),
    "local": ProviderDefaults("admin", 1500),
}

DEFAULT_DISK_SIZE = 20
DEFAULT_REPOSITORY_DISK_SIZE = 40
DEFAULT_ADMIN_CIDRS = ("0.0.0.0/0",)
DEFAULT_DRBD_VERSION = "9.2.16"
DEFAULT_DRBD_DOWNLOAD_URL = "https://pkg.linbit.com/downloads/drbd/9/drbd-{version}.tar.gz"

# Keys and where they may appear. Values: the providers that accept the key (None = all).
PROJECT_KEYS = {"name": None, "domain": None}
STAGE_KEYS: dict[str, tuple[str, ...] | None] = {
    "stage": None,
    "provider": None,
    "cidr": None,
    "number_of_hosts": None,
    "separate_repository": None,
    "subnets": ("aws", "gcp", "azure", "prepared"),
    "ip_address_list": None,
    "custom_hostname": None,
    "first_hive": None,
    "instance_type": CLOUDS,
    "repository_instance_type": CLOUDS,
    "region": CLOUDS,
    "image_name": CLOUDS,
    "disk_size": CLOUDS,
    "repository_disk_size": CLOUDS,
    "mirrored_disk_size": CLOUDS,
    "no_mirrored_device": None,
    "host_generation": None,
    "internal_cidr": None,
    "admin_cidrs": None,
    "ssh_user": None,
    "ssh_private_key": ("prepared",),
    "underlay_mtu": None,
    "drbd_version": None,
    "drbd_download_url": None,
    "alert_receivers": None,  # secret; components/inventory/receivers.py
}
# Keys of other namespaces a provider needs (namespace:key).
PROVIDER_REQUIRED = {
    "aws": ("hive:region",),
    "gcp": ("hive:region", "gcp:project"),
    "azure": ("hive:region",),
    "prepared": ("hive:ip_address_list", "hive:ssh_private_key"),
    "local": (),
}


@dataclass(frozen=True)
class SubnetSpec:
    name: str
    cidr: ipaddress.IPv4Network
    available_zone: str | None


@dataclass(frozen=True)
class StageConfig:
    """A validated stage object. Network values are ``ipaddress`` objects."""

    name: str
    domain: str | None
    stage: str
    stack: str
    provider: str
    cidr: ipaddress.IPv4Network
    number_of_hosts: int
    separate_repository: bool
    subnets: tuple[SubnetSpec, ...]
    ip_address_list: tuple[ipaddress.IPv4Address, ...]
    custom_hostname: str
    first_hive: int
    region: str | None
    instance_type: str | None
    repository_instance_type: str | None
    image_name: str | None
    disk_size: int
    repository_disk_size: int
    mirrored_disk_size: int | None
    no_mirrored_device: tuple[int, ...]
    host_generation: dict[str, int]
    internal_cidr: ipaddress.IPv4Network | None
    admin_cidrs: tuple[str, ...]
    ssh_user: str
    underlay_mtu: int
    drbd_version: str
    drbd_download_url: str
    file: str
    alert_receivers: tuple[Receiver, ...] = ()  # secret values: handle only inside secret Outputs

    @property
    def prefix(self) -> str:
        return STAGE_PREFIX[self.stage]

    @property
    def hive_count(self) -> int:
        return self.number_of_hosts - 1 if self.separate_repository else self.number_of_hosts

    @property
    def zone(self) -> str:
        """The DNS zone the site serves: ``<name>.<domain>`` (or the bare name without a domain)."""
        return f"{self.name}.{self.domain}" if self.domain else self.name


@dataclass(frozen=True)
class ConfigValue:
    value: Any
    file: str


def stack_file(stack: str) -> str:
    return f"Pulumi.{stack}.yaml"


def parse_stage(config: Mapping[str, ConfigValue], stack: str) -> StageConfig:
    """Validate the ``hive:*`` configuration of ``stack``; raise :class:`ConfigError` on the first problem."""
    file = stack_file(stack)
    hive: dict[str, Node] = {}
    for full_key, item in config.items():
        namespace, _, key = full_key.partition(":")
        if namespace != "hive":
            continue
        node = Node(item.value, item.file, (full_key,))
        if key not in STAGE_KEYS and key not in PROJECT_KEYS:
            allowed = ", ".join(f"hive:{k}" for k in sorted({*STAGE_KEYS, *PROJECT_KEYS}))
            raise node.error("unknown key", "allowed: " + allowed)
        hive[key] = node

    def need(key: str) -> Node:
        if not present(hive, key):
            raise ConfigError(file, (f"hive:{key}",), "is required")
        return hive[key]

    name = need("name").string(NAME_PATTERN, "lower-case letters, digits and '-', e.g. pdns", max_len=40)
    domain = (
        hive["domain"].string(DOMAIN_PATTERN, "a DNS domain, e.g. example.com") if present(hive, "domain") else None
    )

    if stack in STAGES:
        stage = stack
        if present(hive, "stage") and hive["stage"].choice(STAGES) != stack:
            raise hive["stage"].error(f"{hive['stage'].value} differs from the stack name {stack}", "omit it")
    elif present(hive, "stage"):
        stage = hive["stage"].choice(STAGES)
    else:
        raise ConfigError(
            file,
            ("hive:stage",),
            f"stack {stack!r} is no stage and hive:stage is not set",
            "one of " + ", ".join(STAGES),
        )

    provider = need("provider").choice(PROVIDERS)
    for key, providers in STAGE_KEYS.items():
        if providers is not None and present(hive, key) and provider not in providers:
            raise hive[key].error(f"is not used by provider {provider}", "only for " + ", ".join(providers))
    for required in PROVIDER_REQUIRED[provider]:
        namespace, _, key = required.partition(":")
        if namespace == "hive":
            if not present(hive, key):
                raise ConfigError(file, (required,), f"is required for provider {provider}")
        elif required not in config or config[required].value in (None, ""):
            raise ConfigError(file, (required,), f"is required for provider {provider}")

    defaults = PROVIDER_DEFAULTS[provider]
    cidr = need("cidr").network()
    separate_repository = hive["separate_repository"].boolean() if present(hive, "separate_repository") else True
    minimum_hosts = 2 if separate_repository else 1
    number_of_hosts = (
        hive["number_of_hosts"].integer(minimum_hosts, 64)
        if present(hive, "number_of_hosts")
        else (4 if separate_repository else 3)
    )

    subnets = _parse_subnets(hive.get("subnets"), cidr)
    addresses = _parse_addresses(hive.get("ip_address_list"), cidr, number_of_hosts)

    custom_hostname = (
        hive["custom_hostname"].string(HOSTNAME_PATTERN, "lower-case letters, digits and inner '-'")
        if present(hive, "custom_hostname")
        else "hive"
    )
    if len(custom_hostname) + len(name) >= 55:
        node = hive.get("custom_hostname") or hive["name"]
        raise node.error(
            f"custom_hostname {custom_hostname!r} + name {name!r} is {len(custom_hostname) + len(name)} characters",
            "fewer than 55 together",
        )
    hive_count = number_of_hosts - 1 if separate_repository else number_of_hosts
    first_hive = hive["first_hive"].integer(0, hive_count - 1) if present(hive, "first_hive") else 0

    internal_cidr = None
    if present(hive, "internal_cidr"):
        internal_cidr = hive["internal_cidr"].network()
        if internal_cidr.prefixlen > 24:
            raise hive["internal_cidr"].bad("a network of /24 or larger (it is split into eighths)")
        if internal_cidr.overlaps(cidr):
            raise hive["internal_cidr"].error(f"{internal_cidr} overlaps hive:cidr {cidr}", "disjoint networks")

    admin_cidrs = DEFAULT_ADMIN_CIDRS
    if present(hive, "admin_cidrs"):
        admin_cidrs = tuple(str(item.network()) for item in hive["admin_cidrs"].items())
        if not admin_cidrs:
            raise hive["admin_cidrs"].error("is empty", "at least one CIDR the operator connects from")

    no_mirrored = tuple(
        item.integer(0, number_of_hosts - 1)
        for item in (hive["no_mirrored_device"].items() if "no_mirrored_device" in hive else [])
    )

    host_generation = _parse_generations(
        hive.get("host_generation"), host_names(stage, custom_hostname, number_of_hosts)
    )

    def size(key: str, fallback: int | None) -> int | None:
        return hive[key].integer(8, 65536) if present(hive, key) else fallback

    def text(key: str, fallback: str | None) -> str | None:
        return hive[key].string() if present(hive, key) else fallback

    disk_size = size("disk_size", DEFAULT_DISK_SIZE)
    assert disk_size is not None
    repository_disk_size = size("repository_disk_size", max(disk_size, DEFAULT_REPOSITORY_DISK_SIZE))
    assert repository_disk_size is not None
    drbd_version = text("drbd_version", DEFAULT_DRBD_VERSION) or DEFAULT_DRBD_VERSION
    if present(hive, "drbd_version"):
        hive["drbd_version"].string(r"9\.\d+\.\d+(-\w+)?", "a DRBD 9 release, e.g. 9.2.16")

    return StageConfig(
        name=name,
        domain=domain,
        stage=stage,
        stack=stack,
        provider=provider,
        cidr=cidr,
        number_of_hosts=number_of_hosts,
        separate_repository=separate_repository,
        subnets=subnets,
        ip_address_list=addresses,
        custom_hostname=custom_hostname,
        first_hive=first_hive,
        region=text("region", None),
        instance_type=text("instance_type", defaults.instance_type),
        repository_instance_type=text("repository_instance_type", None)
        or text("instance_type", defaults.instance_type),
        image_name=text("image_name", defaults.image_name),
        disk_size=disk_size,
        repository_disk_size=repository_disk_size,
        mirrored_disk_size=size("mirrored_disk_size", None),
        no_mirrored_device=no_mirrored,
        host_generation=host_generation,
        internal_cidr=internal_cidr,
        admin_cidrs=admin_cidrs,
        ssh_user=hive["ssh_user"].string(r"[a-z_][a-z0-9_-]{0,31}", "a POSIX user name")
        if present(hive, "ssh_user")
        else defaults.ssh_user,
        underlay_mtu=hive["underlay_mtu"].integer(1280, 9001)
        if present(hive, "underlay_mtu")
        else defaults.underlay_mtu,
        drbd_version=drbd_version,
        drbd_download_url=text("drbd_download_url", DEFAULT_DRBD_DOWNLOAD_URL) or DEFAULT_DRBD_DOWNLOAD_URL,
        file=file,
        alert_receivers=parse_receivers(hive["alert_receivers"]) if present(hive, "alert_receivers") else (),
    )


def _parse_subnets(node: Node | None, cidr: ipaddress.IPv4Network) -> tuple[SubnetSpec, ...]:
    if node is None or node.value is None:
        return ()
    subnets: list[SubnetSpec] = []
    items = node.items()
    if not items:
        raise node.error("is empty", "omit it, or list at least one subnet")
    for item in items:
        fields = item.mapping({"cidr", "name", "available_zone"}, required=("cidr", "name"))
        net = fields["cidr"].network()
        if not net.subnet_of(cidr):
            raise fields["cidr"].error(f"{net} is outside hive:cidr {cidr}", f"a subnet of {cidr}")
        for other in subnets:
            if net.overlaps(other.cidr):
                raise fields["cidr"].error(f"{net} overlaps subnet {other.name} ({other.cidr})", "disjoint subnets")
        subnet_name = fields["name"].string(r"[A-Za-z0-9][A-Za-z0-9_.-]*", "letters, digits, '-', '_', '.'")
        if any(s.name == subnet_name for s in subnets):
            raise fields["name"].error(f"{subnet_name} is used twice", "unique subnet names")
        zone = fields["available_zone"].string() if present(fields, "available_zone") else None
        subnets.append(SubnetSpec(subnet_name, net, zone))
    return tuple(subnets)


def _parse_addresses(
    node: Node | None, cidr: ipaddress.IPv4Network, number_of_hosts: int
) -> tuple[ipaddress.IPv4Address, ...]:
    if node is None or node.value is None:
        return ()
    items = node.items()
    if len(items) != number_of_hosts:
        raise node.error(
            f"has {len(items)} addresses but the stage has {number_of_hosts} hosts",
            "one address per host (number_of_hosts, default 4 with separate_repository else 3)",
        )
    seen: set[ipaddress.IPv4Address] = set()
    result = []
    for item in items:
        addr = item.address()
        if addr not in cidr or addr in (cidr.network_address, cidr.broadcast_address):
            raise item.error(f"{addr} is outside hive:cidr {cidr}", f"a host address in {cidr}")
        if addr in seen:
            raise item.error(f"{addr} is listed twice", "unique addresses")
        seen.add(addr)
        result.append(addr)
    return tuple(result)


def host_names(stage: str, custom_hostname: str, number_of_hosts: int) -> tuple[str, ...]:
    """The short host names of a stage, in index order: ``s-hive0`` …"""
    return tuple(f"{STAGE_PREFIX[stage]}{custom_hostname}{i}" for i in range(number_of_hosts))


def _parse_generations(node: Node | None, hostnames: tuple[str, ...]) -> dict[str, int]:
    """``host_generation: {s-hive1: 2}``: bump a host's number when its machine was replaced behind Pulumi's
    back (a prepared host reinstalled at the same address): every provisioning step runs again on it."""
    if node is None or node.value is None:
        return {}
    generations = {}
    for name, child in node.mapping().items():
        if name not in hostnames:
            raise child.error(f"{name} is not a host of this stage", "one of " + ", ".join(hostnames))
        generations[name] = child.integer(0, 1_000_000)
    return generations
