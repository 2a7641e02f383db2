"""Overlay networks → the inputs of ``docker.Network``. Pure: no Pulumi resources.

``hive_default_network`` is always there: overlay, attachable, on the first quarter of ``internal_cidr``
(docker's choice without one). Every ``networks:`` definition becomes an overlay network too (hive-builder
ignores ``driver``: always overlay). All of them carry the VXLAN MTU (underlay − 50) unless the definition
sets ``com.docker.network.driver.mtu`` itself: a larger MTU shows up as TLS handshakes that hang.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from components.inventory.services import DEFAULT_NETWORK, NetworkSpec
from components.inventory.site import Site

MTU_OPTION = "com.docker.network.driver.mtu"


@dataclass(frozen=True)
class NetworkPlan:
    name: str
    kwargs: dict[str, Any]


def default_network(site: Site) -> NetworkPlan:
    kwargs: dict[str, Any] = {
        "name": DEFAULT_NETWORK,
        "driver": "overlay",
        "attachable": True,
        "options": {MTU_OPTION: str(site.overlay_mtu)},
    }
    if site.networks.default_network is not None:
        kwargs["ipam_configs"] = [{"subnet": site.networks.default_network}]
    return NetworkPlan(DEFAULT_NETWORK, kwargs)


def defined_network(site: Site, spec: NetworkSpec) -> NetworkPlan:
    kwargs: dict[str, Any] = {
        "name": spec.name,
        "driver": "overlay",
        "attachable": spec.attachable,
        "options": {MTU_OPTION: str(site.overlay_mtu), **spec.driver_opts},
    }
    if spec.internal:
        kwargs["internal"] = True
    if spec.subnets:
        kwargs["ipam_configs"] = [dict(entry) for entry in spec.subnets]
    if spec.ipam_driver is not None:
        kwargs["ipam_driver"] = spec.ipam_driver
    if spec.ipam_options:
        kwargs["ipam_options"] = dict(spec.ipam_options)
    return NetworkPlan(spec.name, kwargs)


def network_plans(site: Site) -> list[NetworkPlan]:
    return [default_network(site), *(defined_network(site, spec) for spec in site.catalog.networks)]
