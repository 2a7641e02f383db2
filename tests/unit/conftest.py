"""Fixtures for the pure-model tests: stage configs and catalogs built from plain dicts."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from components.inventory.allocation import Allocations
from components.inventory.services import Catalog, parse_catalog
from components.inventory.site import Site, resolve_site
from components.inventory.stage import SECRET_REQUIRED, ConfigValue, StageConfig, parse_stage

BASE_STAGE: dict[str, Any] = {"hive:name": "pdns", "hive:provider": "prepared", "hive:cidr": "192.168.0.0/24"}
PREPARED_EXTRA = {
    "hive:ip_address_list": ["192.168.0.10", "192.168.0.11", "192.168.0.12", "192.168.0.13"],
    "hive:ssh_private_key": "[secret]",
}


def config(
    values: dict[str, Any],
    file: str = "Pulumi.staging.yaml",
    secret: tuple[str, ...] = tuple(f"hive:{key}" for key in SECRET_REQUIRED),
) -> dict[str, ConfigValue]:
    """Config as the engine passes it; the keys in ``secret`` were set with ``pulumi config set --secret``."""
    return {key: ConfigValue(value, file, secret=key in secret) for key, value in values.items()}


@pytest.fixture(scope="session")
def make_stage() -> Callable[..., StageConfig]:
    """``make_stage(stack="staging", **{"hive:key": value})`` → a validated StageConfig (None removes a key)."""

    def build(stack: str = "staging", **overrides: Any) -> StageConfig:
        values = dict(BASE_STAGE)
        if overrides.get("hive:provider", "prepared") == "prepared":
            values |= PREPARED_EXTRA
        values |= overrides
        values = {k: v for k, v in values.items() if v is not None}
        return parse_stage(config(values, f"Pulumi.{stack}.yaml"), stack)

    return build


def catalog_of(services: dict[str, Any], networks: dict[str, Any] | None = None, **top: Any) -> Catalog:
    document: dict[str, Any] = {"plugin": "hive_services", "services": services, **top}
    if networks is not None:
        document["networks"] = networks
    return parse_catalog([("services/site.yml", document)])


@pytest.fixture(scope="session")
def make_site(make_stage: Callable[..., StageConfig]) -> Callable[..., Site]:
    def build(services: dict[str, Any] | None = None, previous: Allocations | None = None, **stage: Any) -> Site:
        return resolve_site(make_stage(**stage), catalog_of(services or {}), previous or Allocations.empty())

    return build


@pytest.fixture
def write_project(tmp_path: Path) -> Callable[..., Path]:
    """A project directory with Pulumi.yaml, Pulumi.<stack>.yaml and services/site.yml."""

    def build(stack: str = "staging", stage: dict[str, Any] | None = None, services: Any = None) -> Path:
        (tmp_path / "Pulumi.yaml").write_text(
            yaml.safe_dump({"name": "hive", "runtime": "python", "config": {"hive:name": {"default": "pdns"}}})
        )
        values = {"hive:provider": "local", "hive:cidr": "192.168.56.0/24"} if stage is None else stage
        (tmp_path / f"Pulumi.{stack}.yaml").write_text(yaml.safe_dump({"config": values}))
        (tmp_path / "services").mkdir(exist_ok=True)
        if services is not None:
            (tmp_path / "services" / "site.yml").write_text(
                services if isinstance(services, str) else yaml.safe_dump(services, sort_keys=False)
            )
        return tmp_path

    return build
