"""Where the site's input comes from: Pulumi's config files, the engine's config, ``services/*.yml``."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from components.inventory.allocation import Allocations
from components.inventory.errors import ConfigError
from components.inventory.services import Catalog, parse_catalog
from components.inventory.site import Site, resolve_site
from components.inventory.stage import ConfigValue, parse_stage, stack_file

SERVICES_DIR = "services"
SECRET_PLACEHOLDER = "[secret]"


def _load_yaml(path: Path, display: str) -> Any:
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(display, (), "file not found") from None
    except yaml.YAMLError as exc:
        raise ConfigError(display, (), f"is not valid YAML ({str(exc).splitlines()[0]})") from None


def _config_block(document: Any, display: str) -> Mapping[str, Any]:
    if document is None:
        return {}
    if not isinstance(document, dict):
        raise ConfigError(display, (), "expected a mapping at the top level")
    block = document.get("config") or {}
    if not isinstance(block, dict):
        raise ConfigError(display, ("config",), "expected a mapping")
    return block


def read_config_files(project_dir: Path, stack: str) -> dict[str, ConfigValue]:
    """Project defaults from ``Pulumi.yaml`` overlaid with ``Pulumi.<stack>.yaml``, as the engine merges them.

    A ``secure:`` value (``pulumi config set --secret``) cannot be decrypted offline: it stands as present.
    """
    config: dict[str, ConfigValue] = {}
    for key, value in _config_block(_load_yaml(project_dir / "Pulumi.yaml", "Pulumi.yaml"), "Pulumi.yaml").items():
        if isinstance(value, dict) and ("default" in value or "type" in value or "description" in value):
            if "default" not in value:
                continue
            value = value["default"]
        config[_qualified(key)] = ConfigValue(value, "Pulumi.yaml")
    display = stack_file(stack)
    for key, value in _config_block(_load_yaml(project_dir / display, display), display).items():
        if isinstance(value, dict) and set(value) == {"secure"}:
            value = SECRET_PLACEHOLDER
        config[_qualified(key)] = ConfigValue(value, display)
    return config


def _qualified(key: str) -> str:
    """Pulumi.yaml's project config may omit the project namespace (``name`` means ``hive:name``)."""
    return key if ":" in key else f"hive:{key}"


def decode_engine_value(text: str) -> Any:
    """The engine hands every config value over as a string; objects and lists arrive as JSON."""
    stripped = text.strip()
    if stripped[:1] in "[{":
        try:
            return json.loads(stripped)
        except json.JSONDecodeError:
            return text
    return text


def config_from_engine(raw: Mapping[str, str], project_dir: Path, stack: str) -> dict[str, ConfigValue]:
    """The engine's merged config; each key is attributed to the file that holds it: ``Pulumi.yaml`` for a
    project default the stack file does not override, else the stack file."""

    def keys(file: str) -> set[str]:
        path = project_dir / file
        return {_qualified(k) for k in _config_block(_load_yaml(path, file), file)} if path.exists() else set()

    project_only = keys("Pulumi.yaml") - keys(stack_file(stack))
    return {
        key: ConfigValue(decode_engine_value(value), "Pulumi.yaml" if key in project_only else stack_file(stack))
        for key, value in raw.items()
    }


def read_catalog(project_dir: Path) -> Catalog:
    """``services/*.yml`` (and ``*.yaml``) in name order."""
    directory = project_dir / SERVICES_DIR
    files = sorted([*directory.glob("*.yml"), *directory.glob("*.yaml")], key=lambda p: p.name)
    documents = [(f"{SERVICES_DIR}/{path.name}", _load_yaml(path, f"{SERVICES_DIR}/{path.name}")) for path in files]
    catalog = parse_catalog(documents)
    for service in catalog.services:
        init = service.initialize
        if init is not None and init.script is not None and not (directory / init.script).is_file():
            raise ConfigError(init.file, init.path, f"{init.script} does not exist", f"a file under {SERVICES_DIR}/")
    return catalog


def read_previous_allocations(path: Path) -> Allocations:
    data = _load_yaml(path, str(path))
    if isinstance(data, dict) and "allocations" in data:
        data = data["allocations"]  # a whole inventory document is accepted too
    return Allocations.parse(data, str(path))


def load_site(project_dir: Path, stack: str, previous: Allocations | None = None) -> Site:
    """Read and validate everything from the project's files (the offline path)."""
    stage = parse_stage(read_config_files(project_dir, stack), stack)
    return resolve_site(stage, read_catalog(project_dir), previous or Allocations.empty())
