"""Overlay networks → the inputs of ``docker.Network``. Pure: no Pulumi resources.

``hive_default_network`` is always there: overlay, attachable, on the first quarter of ``internal_cidr``
(docker's choice without one). Every ``networks:`` definition becomes an overlay network too (hive-builder
ignores ``driver``: always overlay). All of them carry the VXLAN MTU (underlay − 50) unless the definition
sets ``com.docker.network.driver.mtu`` itself: a larger MTU shows up as TLS handshakes that hang.

Every network also names its VXLAN id(s) (``com.docker.network.driver.overlay.vxlanid_list``), so that what the
provider reads back equals what the program sends and a second ``up`` plans no replacement:

* kreuzwerker terraform-provider-docker v4.5.0 ``internal/provider/resource_docker_network.go`` declares
  ``options`` ``Optional, ForceNew, Computed``; ``resource_docker_network_funcs.go``
  ``resourceDockerNetworkCreate`` ends with ``resourceDockerNetworkRead``, whose refresh func does
  ``d.Set("options", retNetwork.Options)`` — for an overlay network it even waits until the daemon exposes
  options. The swarm manager adds the VNI it allocated to a network's options, so without it the state holds
  ``{mtu, vxlanid_list}`` against a config of ``{mtu}``: the SDK's map diff removes a key of a ForceNew
  attribute, i.e. replaces every network on every later ``up`` (and cannot delete one a service uses).
* moby ``libnetwork/drivers/overlay/ovmanager/ovmanager.go`` ``NetworkAllocate`` takes the VNIs from that
  option when it is given (one per IPv4 subnet, ``vxlanIdm.Set``) and allocates from 4096 upward otherwise;
  the VNIs here come from ``[VNI_BASE, 2**24)``, far above what the manager hands out by itself.

For the same reason every IPv4 ``ipam_config`` entry names its gateway (docker's choice: the subnet's first
address): ``ipam_config`` is a ForceNew set whose elements the Read fills from ``flattenIpamConfigSpec``
(resource_docker_network_structures.go) — with the daemon's gateway — so ``{subnet}`` in the configuration
against ``{subnet, gateway}`` in the state is a different set element, i.e. a replacement.
"""

from __future__ import annotations

import hashlib
import ipaddress
from dataclasses import dataclass
from typing import Any

from components.inventory.services import DEFAULT_NETWORK, NetworkSpec
from components.inventory.site import Site

MTU_OPTION = "com.docker.network.driver.mtu"
VXLAN_OPTION = "com.docker.network.driver.overlay.vxlanid_list"
VNI_BASE = 1 << 20  # the swarm manager allocates from 4096 upward; ours stay far above
VNI_END = 1 << 24  # VXLAN ids are 24 bits


@dataclass(frozen=True)
class NetworkPlan:
    name: str
    kwargs: dict[str, Any]


def _vni_start(name: str) -> int:
    digest = int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big")
    return VNI_BASE + digest % (VNI_END - VNI_BASE - 64)


def vxlan_ids(names_and_subnets: list[tuple[str, int]]) -> dict[str, list[int]]:
    """Network name → its VXLAN ids (one per IPv4 subnet, at least one), stable per name: each network's ids
    start at a hash of its name; a network whose ids would collide with one earlier in name order moves up."""
    taken: set[int] = set()
    result: dict[str, list[int]] = {}
    for name, subnets in sorted(names_and_subnets):
        start = _vni_start(name)
        count = max(subnets, 1)
        while any(start + i in taken for i in range(count)):
            start += count
        result[name] = [start + i for i in range(count)]
        taken.update(result[name])
    return result


def _subnet_count(spec: NetworkSpec) -> int:
    return len([s for s in spec.subnets if ":" not in str(s.get("subnet", ""))])


def site_vxlan_ids(site: Site) -> dict[str, list[int]]:
    default = (DEFAULT_NETWORK, 1)
    return vxlan_ids([default, *((spec.name, _subnet_count(spec)) for spec in site.catalog.networks)])


def ipam_config(entry: dict[str, str]) -> dict[str, str]:
    """An ``ipam_configs`` entry with its gateway named (the subnet's first address, docker's own choice)."""
    config = dict(entry)
    subnet = config.get("subnet")
    if subnet and "gateway" not in config:
        network = ipaddress.ip_network(subnet, strict=False)
        if network.version == 4:
            config["gateway"] = str(network.network_address + 1)
    return config


def _vxlan_option(ids: list[int]) -> str:
    return ",".join(str(i) for i in ids)


def default_network(site: Site) -> NetworkPlan:
    kwargs: dict[str, Any] = {
        "name": DEFAULT_NETWORK,
        "driver": "overlay",
        "attachable": True,
        "options": {
            MTU_OPTION: str(site.overlay_mtu),
            VXLAN_OPTION: _vxlan_option(site_vxlan_ids(site)[DEFAULT_NETWORK]),
        },
    }
    if site.networks.default_network is not None:
        kwargs["ipam_configs"] = [ipam_config({"subnet": str(site.networks.default_network)})]
    return NetworkPlan(DEFAULT_NETWORK, kwargs)


def defined_network(site: Site, spec: NetworkSpec) -> NetworkPlan:
    kwargs: dict[str, Any] = {
        "name": spec.name,
        "driver": "overlay",
        "attachable": spec.attachable,
        "options": {
            MTU_OPTION: str(site.overlay_mtu),
            VXLAN_OPTION: _vxlan_option(site_vxlan_ids(site)[spec.name]),
            **spec.driver_opts,
        },
    }
    if spec.internal:
        kwargs["internal"] = True
    if spec.subnets:
        kwargs["ipam_configs"] = [ipam_config(dict(entry)) for entry in spec.subnets]
    if spec.ipam_driver is not None:
        kwargs["ipam_driver"] = spec.ipam_driver
    if spec.ipam_options:
        kwargs["ipam_options"] = dict(spec.ipam_options)
    return NetworkPlan(spec.name, kwargs)


def network_plans(site: Site) -> list[NetworkPlan]:
    return [default_network(site), *(defined_network(site, spec) for spec in site.catalog.networks)]
