"""The pure site model: configuration schema and validation, naming, addressing, service catalog and
allocations. No Pulumi resources live here; everything is testable without mocks."""

from components.inventory.addressing import Host, InternalNetworks
from components.inventory.allocation import Allocations
from components.inventory.errors import ConfigError
from components.inventory.services import Catalog, ImageBuild, Mount, Port, Service
from components.inventory.site import Site, Volume, resolve_site
from components.inventory.sources import load_site
from components.inventory.stage import StageConfig

__all__ = [
    "Allocations",
    "Catalog",
    "ConfigError",
    "Host",
    "ImageBuild",
    "InternalNetworks",
    "Mount",
    "Port",
    "Service",
    "Site",
    "StageConfig",
    "Volume",
    "load_site",
    "resolve_site",
]
