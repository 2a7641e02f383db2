"""Shared pieces of the cloud-layer program tests: stage configs, cached runs, and cloud-neutral checks.

Every run executes the real ``__main__.py`` under the harness mocks (``tests.harness.run_program``), once
per (provider, stack, preview) and test session. Configs are passed explicitly; only
:func:`sample_config` reads a ``Pulumi.<stack>.yaml``.
"""

from __future__ import annotations

import functools
import ipaddress
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from components.infra.firewall_policy import WORLD_PORT_LIMIT
from components.inventory.addressing import Host
from components.inventory.allocation import Allocations
from components.inventory.site import Site, resolve_site
from components.inventory.sources import config_from_engine, read_catalog, read_config_files
from components.inventory.stage import parse_stage
from tests.harness import BaseMocks, ProgramRun, RecordedResource, is_unknown, run_program

PROJECT = Path(__file__).resolve().parents[2]
PROJECT_CONFIG = {"hive:name": "pdns", "hive:domain": "example.com"}
STACK_REFERENCE = "pulumi:pulumi:StackReference"


class HiveMocks(BaseMocks):
    """The harness mocks plus this program's StackReference to itself (the previous allocations)."""

    def __init__(self, previous_outputs: Mapping[str, Any] | None = None) -> None:
        super().__init__()
        self.previous_outputs = dict(previous_outputs or {})

    def outputs_for(self, args: Any) -> dict | None:
        if args.typ == STACK_REFERENCE:
            return {
                "name": args.inputs.get("name", args.name),
                "outputs": self.previous_outputs,
                "secretOutputNames": [],
            }
        return None


def run(stack: str, config: Mapping[str, Any], *, preview: bool, secret_config: Iterable[str] = ()) -> ProgramRun:
    """One run of the program (not cached)."""
    return run_program(
        PROJECT, stack, {**PROJECT_CONFIG, **config}, preview=preview, mocks=HiveMocks(), secret_config=secret_config
    )


def sample_config(stack: str) -> dict[str, Any]:
    """The project's own ``Pulumi.yaml`` defaults + ``Pulumi.<stack>.yaml``, as the engine would pass them."""
    return {key: item.value for key, item in read_config_files(PROJECT, stack).items()}


def expected_site(program_run: ProgramRun) -> Site:
    """The inventory's view of the same config (what every cloud resource must agree with)."""
    # hive:ssh_private_key is always set with --secret (a plain one is refused); the runs here mark it so.
    config = config_from_engine(program_run.config, PROJECT, program_run.stack, ("hive:ssh_private_key",))
    stage = parse_stage(config, program_run.stack)
    return resolve_site(stage, read_catalog(PROJECT), Allocations.empty())


# -- per-cloud facts -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class CloudShape:
    """Where each cloud keeps the facts the neutral checks compare."""

    provider: str
    type_prefix: str
    component: str
    machine: str
    static_ip: str
    mirrored_disk: str
    static_ip_output: str
    stateful: tuple[str, ...]

    def resources(self, program_run: ProgramRun) -> list[RecordedResource]:
        return [r for r in program_run.resources if r.type.startswith(self.type_prefix)]

    def machines(self, program_run: ProgramRun) -> dict[str, RecordedResource]:
        """hostname → the machine resource (logical name = the host name, a stable contract)."""
        return {r.name: r for r in program_run.of_type(self.machine)}

    def public_ip_of(self, program_run: ProgramRun) -> Callable[[Host], Any]:
        """host → the address its static IP resource (logical name ``<hostname>-ip``) reports."""
        ips = {r.name: r for r in program_run.of_type(self.static_ip)}
        return lambda host: ips[f"{host.hostname}-ip"].outputs[self.static_ip_output]


AWS = CloudShape(
    provider="aws",
    type_prefix="aws:",
    component="hive:infra:Aws",
    machine="aws:ec2/instance:Instance",
    static_ip="aws:ec2/eip:Eip",
    mirrored_disk="aws:ebs/volume:Volume",
    static_ip_output="publicIp",
    stateful=("aws:ec2/eip:Eip", "aws:ebs/volume:Volume"),
)
GCP = CloudShape(
    provider="gcp",
    type_prefix="gcp:",
    component="hive:infra:Gcp",
    machine="gcp:compute/instance:Instance",
    static_ip="gcp:compute/address:Address",
    mirrored_disk="gcp:compute/disk:Disk",
    static_ip_output="address",
    stateful=("gcp:compute/address:Address", "gcp:compute/disk:Disk"),
)
AZURE = CloudShape(
    provider="azure",
    type_prefix="azure-native:",
    component="hive:infra:Azure",
    machine="azure-native:compute:VirtualMachine",
    static_ip="azure-native:network:PublicIPAddress",
    mirrored_disk="azure-native:compute:Disk",
    static_ip_output="ipAddress",
    stateful=("azure-native:network:PublicIPAddress", "azure-native:compute:Disk"),
)


# -- cached runs ----------------------------------------------------------------------------------------


@functools.cache
def cached_run(configs_key: str, stack: str, preview: bool) -> ProgramRun:
    config = CONFIGS[configs_key][stack]
    return run(stack, config, preview=preview)


# Staging-like and production-like stage objects per cloud (keys as in Pulumi.<stack>.yaml).
CONFIGS: dict[str, dict[str, dict[str, Any]]] = {
    "aws": {
        # three hosts, the last also the repository; no subnets: the inventory derives three zonal ones
        "staging": {
            "aws:region": "ap-northeast-1",
            "hive:provider": "aws",
            "hive:region": "ap-northeast-1",
            "hive:cidr": "10.1.0.0/16",
            "hive:separate_repository": False,
            "hive:instance_type": "t3.medium",
            "hive:disk_size": 24,
            "hive:mirrored_disk_size": 20,
            "hive:admin_cidrs": ["203.0.113.0/24", "198.51.100.0/28"],
        },
        # three hives + a separate repository, configured subnets, no DRBD disk on the repository
        "production": {
            "aws:region": "eu-central-1",
            "hive:provider": "aws",
            "hive:region": "eu-central-1",
            "hive:cidr": "10.2.0.0/16",
            "hive:separate_repository": True,
            "hive:instance_type": "m6i.large",
            "hive:repository_instance_type": "m6i.xlarge",
            "hive:disk_size": 30,
            "hive:repository_disk_size": 100,
            "hive:mirrored_disk_size": 50,
            "hive:no_mirrored_device": [3],
            "hive:admin_cidrs": ["192.0.2.0/24"],
            "hive:subnets": [
                {"cidr": "10.2.1.0/24", "name": "subnet-a", "available_zone": "eu-central-1a"},
                {"cidr": "10.2.2.0/24", "name": "subnet-b", "available_zone": "eu-central-1b"},
                {"cidr": "10.2.3.0/24", "name": "subnet-c", "available_zone": "eu-central-1c"},
            ],
        },
    },
    "gcp": {
        "staging": {
            "gcp:project": "hive-staging-1234",
            "gcp:region": "asia-northeast1",
            "hive:provider": "gcp",
            "hive:region": "asia-northeast1",
            "hive:cidr": "10.10.0.0/24",
            "hive:separate_repository": False,
            "hive:mirrored_disk_size": 20,
            "hive:admin_cidrs": ["203.0.113.0/24"],
        },
        "production": {
            "gcp:project": "hive-production-1234",
            "gcp:region": "europe-west1",
            "hive:provider": "gcp",
            "hive:region": "europe-west1",
            "hive:cidr": "10.20.0.0/24",
            "hive:separate_repository": True,
            "hive:instance_type": "e2-standard-2",
            "hive:repository_instance_type": "e2-standard-4",
            "hive:disk_size": 30,
            "hive:repository_disk_size": 100,
            "hive:mirrored_disk_size": 50,
            "hive:no_mirrored_device": [3],
            "hive:underlay_mtu": 1500,
            "hive:admin_cidrs": ["192.0.2.0/24", "198.51.100.10/32"],
        },
    },
    "azure": {
        "staging": {
            "azure-native:location": "japaneast",
            "hive:provider": "azure",
            "hive:region": "japaneast",
            "hive:cidr": "10.30.0.0/24",
            "hive:separate_repository": False,
            "hive:mirrored_disk_size": 20,
            "hive:admin_cidrs": ["203.0.113.0/24"],
        },
        "production": {
            "azure-native:location": "westeurope",
            "hive:provider": "azure",
            "hive:region": "westeurope",
            "hive:cidr": "10.40.0.0/16",
            "hive:separate_repository": True,
            "hive:instance_type": "Standard_D2s_v5",
            "hive:repository_instance_type": "Standard_D4s_v5",
            "hive:disk_size": 30,
            "hive:repository_disk_size": 100,
            "hive:mirrored_disk_size": 50,
            "hive:no_mirrored_device": [3],
            "hive:admin_cidrs": ["192.0.2.0/24"],
            "hive:subnets": [
                {"cidr": "10.40.1.0/24", "name": "hosts-1", "available_zone": "1"},
                {"cidr": "10.40.2.0/24", "name": "hosts-2", "available_zone": "2"},
                {"cidr": "10.40.3.0/24", "name": "hosts-3", "available_zone": "3"},
            ],
        },
    },
}
STACKS = ("staging", "production")
MODES = (False, True)  # preview


# -- cloud-neutral checks ---------------------------------------------------------------------------------


def in_site(source: str, site: Site) -> bool:
    """True if ``source`` (a CIDR or a cloud's source keyword) lies inside the site's own cidr."""
    try:
        return ipaddress.ip_network(source, strict=False).subnet_of(site.stage.cidr)
    except ValueError:
        return False  # "*", "Internet", service tags: outside


def port_bounds(spec: Any) -> tuple[int, int]:
    """``22`` / ``"22"`` / ``"80-81"`` → (first, last); ``"*"`` → the whole range."""
    text = str(spec)
    if text == "*":
        return 0, 65535
    first, _, last = text.partition("-")
    return int(first), int(last or first)


def world_port_problems(where: str, protocol: str, ports: list[Any] | None) -> list[str]:
    """Problems of one rule open to the outside: all protocols, no port limit, or a port ≥ 10000."""
    problems = []
    if str(protocol).lower() in ("all", "*", "-1"):
        problems.append(f"{where}: all protocols from outside the site")
    if not ports:
        problems.append(f"{where}: every port from outside the site")
    for spec in ports or []:
        first, last = port_bounds(spec)
        if last >= WORLD_PORT_LIMIT or first > last:
            problems.append(f"{where}: port {spec} (>= {WORLD_PORT_LIMIT}) from outside the site")
    return problems


def hosts_by_name(site: Site) -> dict[str, Host]:
    return {h.hostname: h for h in site.hosts}


def check_outputs(program_run: ProgramRun, site: Site, public_ips: Callable[[Host], Any]) -> None:
    """DESIGN §8 outputs: hosts, ssh_config, the secret key and the DNS delegation agree with the machines."""
    outputs = program_run.outputs
    for key in ("hosts", "ssh_config", "ssh_private_key", "dns_delegation", "inventory", "allocations"):
        assert key in outputs, f"stack output {key} missing"
    assert "ssh_private_key" in program_run.secret_outputs
    if program_run.preview:
        return  # addresses are unknown in a preview; the graph is checked elsewhere
    key = outputs["ssh_private_key"]
    assert isinstance(key, str) and key.startswith("-----BEGIN OPENSSH PRIVATE KEY-----")
    hosts = outputs["hosts"]
    assert set(hosts) == {h.fqdn for h in site.hosts}
    for host in site.hosts:
        row = hosts[host.fqdn]
        assert row["private_ip"] == host.private_ip
        assert row["public_ip"] == public_ips(host)
        assert row["az"] == host.az
        assert row["role"] == host.role
    config = outputs["ssh_config"]
    for host in site.hosts:
        block = f"Host {host.fqdn} {host.hostname}\n  HostName {public_ips(host)}\n"
        assert block in config
    assert f"User {site.stage.ssh_user}" in config
    delegation = outputs["dns_delegation"]
    assert delegation["zone"] == f"{site.stage.zone}."
    hives = [h for h in site.hosts if h.is_hive]
    assert delegation["name_servers"] == [f"{h.fqdn}.{site.stage.domain}." for h in hives]
    assert delegation["glue_records"] == [
        {"name": f"{h.fqdn}.{site.stage.domain}.", "ipv4": public_ips(h)} for h in hives
    ]
    for h in hives:
        assert f"{site.stage.zone}. IN NS {h.fqdn}.{site.stage.domain}." in delegation["zone_file_lines"]
        assert f"{h.fqdn}.{site.stage.domain}. IN A {public_ips(h)}" in delegation["zone_file_lines"]


def check_preview_graph(preview_run: ProgramRun, up_run: ProgramRun, shape: CloudShape) -> None:
    """A preview registers the same cloud resources as an update, with the public addresses unknown."""
    in_preview = sorted((r.type, r.name) for r in shape.resources(preview_run))
    in_update = sorted((r.type, r.name) for r in shape.resources(up_run))
    assert in_preview == in_update
    assert not [m for m in preview_run.messages if m.severity == "error"]
    for ip in preview_run.of_type(shape.static_ip):
        assert is_unknown(ip.outputs.get(shape.static_ip_output)), f"{ip.name}: address known in a preview?"


def check_protect(program_run: ProgramRun, shape: CloudShape) -> None:
    production = program_run.stack == "production"
    for r in shape.resources(program_run):
        if r.type in shape.stateful:
            assert bool(r.protect) is production, f"{r.type} {r.name}: protect={r.protect} on {program_run.stack}"
        else:
            assert not r.protect, f"{r.type} {r.name} is protected but holds no state"


def check_machines_match_inventory(
    program_run: ProgramRun,
    site: Site,
    shape: CloudShape,
    private_ip: Callable[[RecordedResource], str],
    zone: Callable[[RecordedResource], str],
) -> None:
    machines = shape.machines(program_run)
    assert set(machines) == {h.hostname for h in site.hosts}
    for host in site.hosts:
        machine = machines[host.hostname]
        assert private_ip(machine) == host.private_ip, host.fqdn
        assert zone(machine) == host.az, host.fqdn
    hive_zones = [zone(machines[h.hostname]) for h in site.hosts if h.is_hive]
    assert len(hive_zones) == 3 and len(set(hive_zones)) == 3, hive_zones
