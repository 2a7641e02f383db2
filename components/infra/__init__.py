"""One module per provider (aws, gcp, azure, prepared, local); each turns the site's hosts into machines.

Every module exposes a ComponentResource class taking :class:`~components.infra.types.InfraArgs` whose
``hosts`` attribute is the list of :class:`~components.infra.types.ProvisionedHost`. Modules are imported
only for the provider in use (the cloud SDKs are large).
"""

from __future__ import annotations

import importlib
from typing import Protocol

import pulumi

from components.infra.types import InfraArgs, ProvisionedHost

PROVIDER_COMPONENTS = {
    "aws": ("components.infra.aws", "AwsHosts"),
    "gcp": ("components.infra.gcp", "GcpHosts"),
    "azure": ("components.infra.azure", "AzureHosts"),
    "prepared": ("components.infra.prepared", "PreparedHosts"),
    "local": ("components.infra.local", "LocalHosts"),
}


class HostsComponent(Protocol):
    hosts: list[ProvisionedHost]


def build_hosts(name: str, args: InfraArgs, opts: pulumi.ResourceOptions) -> HostsComponent:
    module_name, class_name = PROVIDER_COMPONENTS[args.site.stage.provider]
    component = getattr(importlib.import_module(module_name), class_name)
    return component(name, args, opts)
