"""Where the site's input comes from: Pulumi's config files, the engine's config, ``services/*.yml``."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from components.inventory import service_config
from components.inventory.allocation import Allocations
from components.inventory.errors import ConfigError
from components.inventory.services import Catalog, ImageBuild, parse_catalog
from components.inventory.site import Site, resolve_site
from components.inventory.stage import SECRET_PLACEHOLDER, ConfigValue, parse_stage, stack_file
from components.inventory.yamlfiles import engine_string, is_secure, load_pulumi_yaml, load_services_yaml

SERVICES_DIR = "services"
PROJECT_FILE = "Pulumi.yaml"


def _config_block(document: Any, display: str) -> Mapping[str, Any]:
    if document is None:
        return {}
    if not isinstance(document, dict):
        raise ConfigError(display, (), "expected a mapping at the top level")
    block = document.get("config")
    if block is None:
        return {}
    if not isinstance(block, dict):
        raise ConfigError(display, ("config",), "expected a mapping")
    return block


def _project_name(document: Any) -> str:
    name = document.get("name") if isinstance(document, dict) else None
    return name if isinstance(name, str) and name else "hive"


def _qualified(key: str, project: str = "hive") -> str:
    """An unqualified key means the project's namespace (loaders.go ``stackConfigNamespacedWithProject``)."""
    return key if ":" in key else f"{project}:{key}"


def engine_view(project_dir: Path, stack: str) -> tuple[dict[str, str], set[str]]:
    """What the engine hands the program for ``stack``: every config key → its string, and the secret keys.

    Project defaults (``Pulumi.yaml`` ``config: {key: {default: …}}``) overlaid with ``Pulumi.<stack>.yaml``
    (see :mod:`components.inventory.yamlfiles` for how each value becomes the engine's string). A ``secure:``
    value cannot be decrypted offline: it stands as :data:`SECRET_PLACEHOLDER`, marked secret.
    """
    project_doc = load_pulumi_yaml(project_dir / PROJECT_FILE, PROJECT_FILE)
    project = _project_name(project_doc)
    raw: dict[str, str] = {}
    secret: set[str] = set()
    for key, value in _config_block(project_doc, PROJECT_FILE).items():
        if isinstance(value, dict) and ("default" in value or "type" in value or "description" in value):
            if "default" not in value:
                continue
            value = value["default"]
        raw[_qualified(key, project)] = engine_string(value)
    display = stack_file(stack)
    document = load_pulumi_yaml(project_dir / display, display)  # offline, a missing stack file is a mistake
    for key, value in _config_block(document, display).items():
        full = _qualified(key, project)
        if is_secure(value):
            raw[full] = SECRET_PLACEHOLDER
            secret.add(full)
        else:
            raw[full] = engine_string(value)
            secret.discard(full)
    return raw, secret


def read_config_files(project_dir: Path, stack: str) -> dict[str, ConfigValue]:
    """The offline command's config: the engine's view of the files, decoded as the program decodes it."""
    raw, secret = engine_view(project_dir, stack)
    return config_from_engine(raw, project_dir, stack, secret)


def decode_engine_value(text: str) -> Any:
    """The engine hands every config value over as a string; objects and lists arrive as JSON, and a key
    written without a value as ``null`` (object.go ``MarshalString`` of a nil object)."""
    stripped = text.strip()
    if stripped == "null":
        return None
    if stripped[:1] in "[{":
        try:
            return json.loads(stripped)
        except json.JSONDecodeError:
            return text
    return text


def config_from_engine(
    raw: Mapping[str, str], project_dir: Path, stack: str, secret_keys: Iterable[str] = ()
) -> dict[str, ConfigValue]:
    """The engine's merged config; each key is attributed to the file that holds it: ``Pulumi.yaml`` for a
    project default the stack file does not override, else the stack file. The files are read as the engine
    reads them, so a file the engine refuses (a repeated key, bad YAML) is refused here too."""

    def keys(file: str) -> set[str]:
        path = project_dir / file
        if not path.exists():
            return set()
        return {_qualified(k) for k in _config_block(load_pulumi_yaml(path, file), file)}

    project_only = keys(PROJECT_FILE) - keys(stack_file(stack))
    secrets = set(secret_keys)
    return {
        key: ConfigValue(
            decode_engine_value(value),
            PROJECT_FILE if key in project_only else stack_file(stack),
            secret=key in secrets,
        )
        for key, value in raw.items()
    }


def read_catalog(project_dir: Path, config: Mapping[str, ConfigValue] | None = None) -> Catalog:
    """``services/*.yml`` (and ``*.yaml``) in name order.

    With the stack's ``config``: ``{{ config.<key> }}`` references are replaced by the plain ``services:<key>``
    values, every key in a service's ``secrets:`` must be a secret, and every ``services:<key>`` must be used
    (components/inventory/service_config.py). Without it (structure only), references stay as written."""
    directory = project_dir / SERVICES_DIR
    files = sorted([*directory.glob("*.yml"), *directory.glob("*.yaml")], key=lambda p: p.name)
    documents = [
        (f"{SERVICES_DIR}/{path.name}", load_services_yaml(path, f"{SERVICES_DIR}/{path.name}")) for path in files
    ]
    if config is None:
        catalog = parse_catalog(documents)
    else:
        catalog = parse_catalog(service_config.substitute_documents(documents, config))
        service_config.check_secrets(catalog, config)
        service_config.check_unused(documents, catalog, config)
    for service in catalog.services:
        init = service.initialize
        if init is not None and init.script is not None and not (directory / init.script).is_file():
            raise ConfigError(init.file, init.path, f"{init.script} does not exist", f"a file under {SERVICES_DIR}/")
    return catalog


def read_previous_allocations(path: Path) -> Allocations:
    data = load_services_yaml(path, str(path))
    if isinstance(data, dict) and "allocations" in data:
        data = data["allocations"]  # a whole inventory document is accepted too
    return Allocations.parse(data, str(path))


def check_build_contexts(site: Site, project_dir: Path) -> None:
    """Every image this stage builds from a context has its directory and Dockerfile (the paths
    components/swarm/images.py ``image_plans`` gives the provider: ``services/<context>/<dockerfile>``)."""
    for service in site.catalog.services:
        image = service.image
        if not isinstance(image, ImageBuild) or not service.builds_image(site.stage.stage) or image.context is None:
            continue
        path = ("services", service.name, "image")
        context = project_dir / SERVICES_DIR / image.context
        if not context.is_dir():
            raise ConfigError(
                service.file, (*path, "context"), f"{SERVICES_DIR}/{image.context}/ is not a directory",
                f"a build directory under {SERVICES_DIR}/",
            )  # fmt: skip
        dockerfile = image.dockerfile or "Dockerfile"
        where = (*path, "dockerfile") if image.dockerfile else (*path, "context")
        if dockerfile.startswith("/") or ".." in Path(dockerfile).parts:
            raise ConfigError(service.file, where, f"{dockerfile} is outside the build context", "a relative path")
        if not (context / dockerfile).is_file():
            raise ConfigError(
                service.file, where, f"{SERVICES_DIR}/{image.context}/{dockerfile} does not exist",
                "a Dockerfile in the build context",
            )  # fmt: skip


def load_site(project_dir: Path, stack: str, previous: Allocations | None = None) -> Site:
    """Read and validate everything from the project's files (the offline path)."""
    config = read_config_files(project_dir, stack)
    stage = parse_stage(config, stack)
    site = resolve_site(stage, read_catalog(project_dir, config), previous or Allocations.empty())
    check_build_contexts(site, project_dir)
    return site
