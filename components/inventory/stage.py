"""The stage object: ``hive:*`` keys of ``Pulumi.yaml`` and ``Pulumi.<stack>.yaml``, validated.

Key names are hive-builder's (snake_case); the rules and defaults are its rules (reference §1.1) plus the
keys this re-implementation adds (``admin_cidrs``, ``ssh_user``, ``underlay_mtu``, ...).
"""

from __future__ import annotations

import difflib
import ipaddress
import platform
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from components.inventory.allocation import Allocations
from components.inventory.errors import ConfigError
from components.inventory.host_key import PINNABLE_TYPES, BadHostKey, parse_host_key
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
# hive:image_platform: what the repository server builds the site's images for (docker.Image build.platform).
IMAGE_PLATFORMS = ("linux/amd64", "linux/arm64", "linux/arm/v7", "linux/386", "linux/ppc64le", "linux/s390x")
CLOUD_IMAGE_PLATFORM = "linux/amd64"  # the default images and machine sizes of every cloud are amd64
_MACHINE_ARCH = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64", "armv7l": "arm/v7",
                 "i386": "386", "i686": "386", "ppc64le": "ppc64le", "s390x": "s390x"}  # fmt: skip


def default_image_platform(provider: str, machine: str) -> str:
    """The hosts' platform: amd64 on clouds and prepared hosts; for ``local`` the hosts are containers on the
    operator's own engine, i.e. ``machine`` (``platform.machine()`` of the machine running Pulumi)."""
    if provider != "local":
        return CLOUD_IMAGE_PLATFORM
    return f"linux/{_MACHINE_ARCH.get(machine.lower(), 'amd64')}"


# The underlay MTU each provider's network accepts (inclusive):
# - AWS: every EC2 instance type supports 1500, current generations jumbo frames up to 9001 inside a VPC
#   (docs.aws.amazon.com/AWSEC2/latest/UserGuide/network_mtu.html "Jumbo frames (9001 MTU)").
# - GCP: "You can set a VPC network's MTU to any value between 1,300 bytes and 8,896 bytes (inclusive)"
#   (docs.cloud.google.com/vpc/docs/mtu "Valid VPC network MTU sizes"; pulumi-gcp compute.Network.mtu says the same).
# - Azure: default 1500; the largest MTU for traffic inside a virtual network on Linux is 3900 (Mellanox
#   Cx-3/4/5; 9000 only on the MANA adapter, in preview) (learn.microsoft.com/azure/virtual-network/
#   how-to-virtual-machine-mtu, table "Largest MTU for inter virtual network traffic").
# - prepared/local: the operator's own network; 1280 (the IPv6 minimum) to 9001.
# The lower bound is 1280 where the provider states none: docker's VXLAN overlay costs 50 of it.
UNDERLAY_MTU_RANGE: dict[str, tuple[int, int]] = {
    "aws": (1280, 9001),
    "gcp": (1300, 8896),
    "azure": (1280, 3900),
    "prepared": (1280, 9001),
    "local": (1280, 9001),
}

# Admin user names a cloud refuses for a VM (Azure: osProfile.adminUsername, "This value cannot be one of the
# reserved names", learn.microsoft.com/azure/virtual-machines/linux/faq "What are the username requirements").
RESERVED_USERS: dict[str, frozenset[str]] = {
    "azure": frozenset(
        (
            "administrator", "admin", "user", "user1", "test", "user2", "test1", "user3", "admin1", "1", "123",
            "a", "actuser", "adm", "admin2", "aspnet", "backup", "console", "david", "guest", "john", "owner",
            "root", "server", "sql", "support", "support_388945a0", "sys", "test2", "test3", "user4", "user5",
        )
    ),
}  # fmt: skip

# Config namespaces the program reads or whose provider it uses; any other namespace in the stack file is a
# typo (``hvie:admin_cidrs`` would otherwise be ignored silently — and leave ssh open to the world).
# ``services``: values the service definitions refer to (components/inventory/service_config.py).
KNOWN_NAMESPACES = (
    "hive", "services", "aws", "gcp", "azure-native", "docker", "command", "tls", "random", "pulumi",
)  # fmt: skip
# Keys whose value must be a Pulumi secret (``pulumi config set --secret``); keys that may be one. Any other
# key's value reaches plain resource inputs, names and outputs: it cannot stay secret, so secret is refused.
SECRET_REQUIRED = ("ssh_private_key", "offsite_backup_password", "offsite_backup_credentials")
SECRET_PLACEHOLDER = "[secret]"  # a secret value offline, where it cannot be decrypted
SECRET_ALLOWED = (
    "ssh_private_key",
    "drbd_download_url",
    "offsite_backup_password",
    "offsite_backup_credentials",
    "alert_receivers",
)

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
    "host_keys": ("prepared",),  # {host: "ssh-ed25519 AAAA…"}; clouds and local generate theirs
    "internal_cidr": None,
    "admin_cidrs": None,
    "ssh_user": None,
    "ssh_private_key": ("prepared",),
    "underlay_mtu": None,
    "drbd_version": None,
    "drbd_download_url": None,
    "drbd_sha256": None,
    "drbd_module_url": None,
    "offsite_backup": None,
    "offsite_backup_password": None,  # secret: read by the program (components/backup), only checked here
    "offsite_backup_credentials": None,  # secret map of the object store's environment variables
    "image_platform": None,
    "alert_receivers": None,  # secret; components/inventory/receivers.py
    "previous_allocations": None,  # ports/minors to keep (./hive import-hive-builder writes them)
}
# restic repository kinds that leave the site (a local path would die with the repository server).
OFFSITE_REPOSITORY_PATTERN = r"(s3|gs|azure|b2|swift|sftp|rest|rclone):\S+"
# Keys of other namespaces a provider needs (namespace:key).
PROVIDER_REQUIRED = {
    "aws": ("hive:region",),
    "gcp": ("hive:region", "gcp:project"),
    "azure": ("hive:region",),
    "prepared": ("hive:ip_address_list", "hive:ssh_private_key"),
    "local": (),
}


@dataclass(frozen=True)
class OffsiteBackup:
    """``hive:offsite_backup``: every backup is also copied to this restic repository."""

    repository: str
    keep_days: int | None  # restic forget --keep-within <n>d; None keeps every copy


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
    drbd_sha256: str | None = None  # the source tarball's SHA-256 (lower-case hex); None: not pinned
    drbd_module_url: str | None = None  # a prebuilt module .deb ({version}, {kernel}); None: DKMS builds it
    secret_keys: frozenset[str] = frozenset()  # hive keys (without namespace) whose value is a Pulumi secret
    offsite_backup: OffsiteBackup | None = None
    image_platform: str = CLOUD_IMAGE_PLATFORM
    alert_receivers: tuple[Receiver, ...] = ()  # secret values: handle only inside secret Outputs
    # hive:previous_allocations: kept unless the stack's own allocations output says otherwise
    previous_allocations: Allocations = field(default_factory=Allocations.empty)
    host_keys: Mapping[str, str] = field(default_factory=dict)  # prepared: short host name -> pinned SSH key

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
    """One config value as the program receives it; ``secret``: set with ``pulumi config set --secret``."""

    value: Any
    file: str
    secret: bool = False


def stack_file(stack: str) -> str:
    return f"Pulumi.{stack}.yaml"


def parse_stage(config: Mapping[str, ConfigValue], stack: str, machine: str | None = None) -> StageConfig:
    """Validate the ``hive:*`` configuration of ``stack``; raise :class:`ConfigError` on the first problem.

    ``machine``: the architecture of the machine running Pulumi (default ``platform.machine()``), only for the
    ``local`` provider's default ``hive:image_platform``."""
    file = stack_file(stack)
    hive: dict[str, Node] = {}
    secret_keys: set[str] = set()
    for full_key, item in config.items():
        namespace, _, key = full_key.partition(":")
        node = Node(item.value, item.file, (full_key,))
        if namespace not in KNOWN_NAMESPACES:
            close = difflib.get_close_matches(namespace, KNOWN_NAMESPACES, n=1)
            hint = f"did you mean {close[0]}:{key}? " if close else ""
            raise node.error(
                f"unknown config namespace {namespace!r}", hint + "namespaces: " + ", ".join(KNOWN_NAMESPACES)
            )
        if namespace != "hive":
            continue
        if key not in STAGE_KEYS and key not in PROJECT_KEYS:
            allowed = ", ".join(f"hive:{k}" for k in sorted({*STAGE_KEYS, *PROJECT_KEYS}))
            raise node.error("unknown key", "allowed: " + allowed)
        if item.secret:
            if key not in SECRET_ALLOWED:
                raise node.error(
                    "is a secret, but its value is used in plain resource names, inputs and outputs",
                    "set it without --secret; secrets: " + ", ".join(f"hive:{k}" for k in SECRET_ALLOWED),
                )
            secret_keys.add(key)
        elif key in SECRET_REQUIRED and item.value not in (None, ""):
            raise node.error(
                "is in plain text in the stack file",
                f"a secret: pulumi config set --secret hive:{key} < FILE, and delete the plain value",
            )
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

    region = (
        hive["region"].string(r"[a-z0-9][a-z0-9-]*", "a region name, e.g. ap-northeast-1")
        if present(hive, "region")
        else None
    )
    subnets = _parse_subnets(hive.get("subnets"), cidr, provider, region)
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
    host_keys = _parse_host_keys(hive.get("host_keys"), host_names(stage, custom_hostname, number_of_hosts))

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
        region=region,
        instance_type=text("instance_type", defaults.instance_type),
        repository_instance_type=text("repository_instance_type", None)
        or text("instance_type", defaults.instance_type),
        image_name=_image_name(hive["image_name"], provider) if present(hive, "image_name") else defaults.image_name,
        disk_size=disk_size,
        repository_disk_size=repository_disk_size,
        mirrored_disk_size=size("mirrored_disk_size", None),
        no_mirrored_device=no_mirrored,
        host_generation=host_generation,
        internal_cidr=internal_cidr,
        admin_cidrs=admin_cidrs,
        ssh_user=_ssh_user(hive["ssh_user"], provider) if present(hive, "ssh_user") else defaults.ssh_user,
        underlay_mtu=hive["underlay_mtu"].integer(*UNDERLAY_MTU_RANGE[provider])
        if present(hive, "underlay_mtu")
        else defaults.underlay_mtu,
        drbd_version=drbd_version,
        drbd_download_url=_download_url(hive["drbd_download_url"], "drbd_download_url" in secret_keys)
        if present(hive, "drbd_download_url")
        else DEFAULT_DRBD_DOWNLOAD_URL,
        file=file,
        drbd_sha256=_sha256(hive["drbd_sha256"]) if present(hive, "drbd_sha256") else None,
        drbd_module_url=_download_url(hive["drbd_module_url"], False) if present(hive, "drbd_module_url") else None,
        secret_keys=frozenset(secret_keys),
        offsite_backup=_parse_offsite_backup(hive, file),
        image_platform=hive["image_platform"].choice(IMAGE_PLATFORMS)
        if present(hive, "image_platform")
        else default_image_platform(provider, platform.machine() if machine is None else machine),
        alert_receivers=parse_receivers(hive["alert_receivers"]) if present(hive, "alert_receivers") else (),
        previous_allocations=Allocations.parse(
            hive["previous_allocations"].value, hive["previous_allocations"].file, ("hive:previous_allocations",)
        )
        if present(hive, "previous_allocations")
        else Allocations.empty(),
        host_keys=host_keys,
    )


def _parse_offsite_backup(hive: Mapping[str, Node], file: str) -> OffsiteBackup | None:
    for secret in ("offsite_backup_password", "offsite_backup_credentials"):
        if present(hive, secret) and not present(hive, "offsite_backup"):
            raise hive[secret].error("is set but hive:offsite_backup is not", "set both, or neither")
    if not present(hive, "offsite_backup"):
        return None
    fields = hive["offsite_backup"].mapping({"repository", "keep_days"}, required=("repository",))
    repository = fields["repository"].string(
        OFFSITE_REPOSITORY_PATTERN, "a restic repository off the site: s3:…, gs:…, azure:…, b2:…, sftp:…, rest:…"
    )
    keep_days = fields["keep_days"].integer(1, 3650) if present(fields, "keep_days") else None
    if not present(hive, "offsite_backup_password"):
        raise ConfigError(
            file,
            ("hive:offsite_backup_password",),
            "is required with hive:offsite_backup",
            "pulumi config set --secret hive:offsite_backup_password <restic password>",
        )
    return OffsiteBackup(repository, keep_days)


# What each cloud takes as hive:image_name (components/infra/<provider>.py reads it so):
# aws: an AMI id ami-… or an AMI name pattern looked up in Debian's account (AMI names: letters, digits and
# ( ) [ ] . / - _ ' @, plus the filter wildcards * ?); gcp: an image or family path/URL of Compute Engine;
# azure: an az CLI URN Publisher:Offer:Sku:Version or an image resource id /subscriptions/….
IMAGE_NAMES: dict[str, tuple[str, str]] = {
    "aws": (
        r"ami-[0-9a-f]{8,17}|[A-Za-z0-9()\[\]./\-_'@*?]{3,128}",
        "an AMI id ami-… or an AMI name pattern, e.g. debian-13-amd64-*",
    ),
    "gcp": (
        r"(https://www\.googleapis\.com/compute/v1/)?(projects/[a-z0-9.:-]+/global/images/)?(family/)?[a-z]([-a-z0-9]*[a-z0-9])?",
        "a Compute Engine image or family, e.g. projects/debian-cloud/global/images/family/debian-13",
    ),
    "azure": (
        r"[^:\s]+:[^:\s]+:[^:\s]+:[^:\s]+|/subscriptions/\S+",
        "Publisher:Offer:Sku:Version, e.g. Debian:debian-13:13-gen2:latest",
    ),
}


# The forms only one provider uses (an AMI id, a Compute Engine path, an Azure URN or resource id).
IMAGE_FORMS = {
    "aws": r"ami-[0-9a-f]{8,17}",
    "gcp": r"(https://www\.googleapis\.com/compute/v1/)?projects/\S+",
    "azure": r"[^:\s/]+:[^:\s]+:[^:\s]+:[^:\s]+|/subscriptions/\S+",
}


def _image_name(node: Node, provider: str) -> str:
    pattern, allowed = IMAGE_NAMES[provider]
    text = node.string()
    if not re.fullmatch(pattern, text) or (provider == "aws" and text.startswith(("projects/", "/"))):
        others = [p for p, pat in IMAGE_FORMS.items() if p != provider and re.fullmatch(pat, text)]
        problem = (
            f"{text} is an image name of {others[0]}, not {provider}" if others else f"{text} is no {provider} image"
        )
        raise node.error(problem, allowed)
    return text


def _sha256(node: Node) -> str:
    """A SHA-256 digest: 64 hex digits (``sha256sum`` prints it so; an ``sha256:`` prefix is accepted)."""
    text = node.string().removeprefix("sha256:").lower()
    if not re.fullmatch(r"[0-9a-f]{64}", text):
        raise node.bad("64 hexadecimal digits, as sha256sum prints them")
    return text


def _ssh_user(node: Node, provider: str) -> str:
    user = node.string(r"[a-z_][a-z0-9_-]{0,31}", "a POSIX user name")
    if user in RESERVED_USERS.get(provider, ()):
        raise node.error(f"{user} is a name {provider} reserves", "another user name, e.g. hiveadmin")
    return user


def _download_url(node: Node, secret: bool) -> str:
    """An https URL. A secret one is validated and then kept out of the model (:data:`SECRET_PLACEHOLDER`):
    the program reads it as a Pulumi secret (``pulumi.Config.require_secret``) and a host gets it on stdin."""
    url = node.string()
    if secret and url == SECRET_PLACEHOLDER:
        return url
    if not re.fullmatch(r"https://([^@/\s]+@)?[A-Za-z0-9.-]+(:\d+)?/\S*", url):
        shown = "the secret value" if secret else _scheme(url)
        raise node.error(f"{shown} is not an https URL", "https://…, e.g. " + DEFAULT_DRBD_DOWNLOAD_URL)
    return SECRET_PLACEHOLDER if secret else url


def _scheme(url: str) -> str:
    return repr(url.split("://", 1)[0] + "://…") if "://" in url else repr(url)


def _zone_matches(provider: str, region: str | None, zone: str) -> bool:
    """A zone belongs to the region: AWS ``<region><letter>``, GCP ``<region>-<letter>``, Azure ``1``–``3``."""
    if provider == "azure":
        return zone in ("1", "2", "3")
    if region is None or provider not in ("aws", "gcp"):
        return True
    pattern = rf"{re.escape(region)}[a-z]" if provider == "aws" else rf"{re.escape(region)}-[a-z]"
    return re.fullmatch(pattern, zone) is not None


def _parse_subnets(
    node: Node | None, cidr: ipaddress.IPv4Network, provider: str = "prepared", region: str | None = None
) -> tuple[SubnetSpec, ...]:
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
        if zone is not None and not _zone_matches(provider, region, zone):
            allowed = (
                "1, 2 or 3"
                if provider == "azure"
                else f"a zone of {region}, e.g. {region}{'-' if provider == 'gcp' else ''}a"
            )
            raise fields["available_zone"].error(
                f"{zone} is not a zone of region {region}" if provider != "azure" else f"{zone} is not an Azure zone",
                allowed,
            )
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
        if addr not in cidr:
            raise item.error(f"{addr} is outside hive:cidr {cidr}", f"a host address in {cidr}")
        if addr == cidr.network_address:
            raise item.error(f"{addr} is the network address of hive:cidr {cidr}", f"a host address in {cidr}")
        if addr == cidr.broadcast_address:
            raise item.error(f"{addr} is the broadcast address of hive:cidr {cidr}", f"a host address in {cidr}")
        if addr in seen:
            raise item.error(f"{addr} is listed twice", "unique addresses")
        seen.add(addr)
        result.append(addr)
    return tuple(result)


def host_names(stage: str, custom_hostname: str, number_of_hosts: int) -> tuple[str, ...]:
    """The short host names of a stage, in index order: ``s-hive0`` …"""
    return tuple(f"{STAGE_PREFIX[stage]}{custom_hostname}{i}" for i in range(number_of_hosts))


def _parse_host_keys(node: Node | None, hostnames: tuple[str, ...]) -> dict[str, str]:
    """``host_keys: {s-hive0: "ssh-ed25519 AAAA…"}`` (prepared): the host keys the operator vouches for (e.g.
    ``ssh-keyscan -t ed25519`` run on a trusted network); a host left out is trusted on first use."""
    if node is None or node.value is None:
        return {}
    keys = {}
    for name, child in node.mapping().items():
        if name not in hostnames:
            raise child.error(f"{name} is not a host of this stage", "one of " + ", ".join(hostnames))
        try:
            keys[name] = parse_host_key(child.string())
        except BadHostKey as exc:
            raise child.error(str(exc), "'<type> <base64>' with type " + ", ".join(PINNABLE_TYPES)) from None
    return keys


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
