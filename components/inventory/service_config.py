"""Config values services refer to: the keys ``services:<key>`` of the stack's Pulumi config. Pure.

A service definition uses them in two ways:

* ``{{ config.<key> }}`` inside any string of a service (environment values, command, labels, …) is replaced
  by the plain value of ``services:<key>`` before the definition is parsed, so the parsed value is checked as
  if it had been written there. A secret key there is an error: the value would be written into the service
  spec, which ``docker service inspect`` shows to anyone with access to the swarm.
* ``secrets:`` of a service lists secret keys (``pulumi config set --secret services:<key>``); each reaches
  the service's tasks as a docker secret, the file ``/run/secrets/<target>`` (components/swarm/secrets.py).
  A plain key there is an error: it would be a secret in the swarm but plain text in the stack file.

A ``services:<key>`` that no service refers to is an error too (it would do nothing; mostly a misspelt key).
Offline, a secret value is the placeholder ``[secret]``: only whether it is secret is used here, never the value.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping
from typing import Any

from components.inventory.errors import ConfigError
from components.inventory.services import CONFIG_KEY, Catalog
from components.inventory.stage import ConfigValue

NAMESPACE = "services"
REFERENCE = re.compile(r"\{\{\s*config\.(" + CONFIG_KEY + r")\s*\}\}")
_OPENING = re.compile(r"\{\{\s*config\.")
REFERENCE_FORM = "{{ config.<key> }}, the key of services:<key>: letters, digits, '_', '-'"


def config_key(key: str) -> str:
    return f"{NAMESPACE}:{key}"


def _set_command(key: str, secret: bool) -> str:
    flag = "--secret " if secret else ""
    return f"pulumi config set {flag}{config_key(key)} VALUE"


def _plain_value(key: str, config: Mapping[str, ConfigValue], file: str, path: tuple[Any, ...]) -> str:
    item = config.get(config_key(key))
    if item is None:
        raise ConfigError(file, path, f"refers to {config_key(key)}, which is not set", _set_command(key, False))
    if item.secret:
        raise ConfigError(
            file,
            path,
            f"{config_key(key)} is a secret: it would be written into the service spec in plain text",
            f"list {key} under the service's secrets: (the file /run/secrets/{key})",
        )
    if isinstance(item.value, bool) or not isinstance(item.value, (str, int, float)):
        raise ConfigError(
            item.file, (config_key(key),), "is not a string", "a plain string value to substitute into services/"
        )
    return str(item.value)


def substitute(text: str, config: Mapping[str, ConfigValue], file: str, path: tuple[Any, ...]) -> str:
    """``text`` with every ``{{ config.<key> }}`` replaced by the plain value of ``services:<key>``."""
    result = REFERENCE.sub(lambda match: _plain_value(match.group(1), config, file, path), text)
    leftover = _OPENING.search(REFERENCE.sub("", text))
    if leftover is not None:
        raise ConfigError(file, path, f"{text!r} has a malformed config reference", REFERENCE_FORM)
    return result


def _substituted(value: Any, config: Mapping[str, ConfigValue], file: str, path: tuple[Any, ...]) -> Any:
    if isinstance(value, str):
        return substitute(value, config, file, path)
    if isinstance(value, list):
        return [_substituted(item, config, file, (*path, index)) for index, item in enumerate(value)]
    if isinstance(value, dict):
        return {key: _substituted(item, config, file, (*path, key)) for key, item in value.items()}
    return value


def references(value: Any) -> set[str]:
    """The keys ``value`` (a loaded YAML document or part of one) refers to with ``{{ config.<key> }}``."""
    if isinstance(value, str):
        return set(REFERENCE.findall(value))
    if isinstance(value, list):
        return {key for item in value for key in references(item)}
    if isinstance(value, dict):
        return {key for item in value.values() for key in references(item)}
    return set()


def substitute_documents(documents: list[tuple[str, Any]], config: Mapping[str, ConfigValue]) -> list[tuple[str, Any]]:
    """The service files with their config references replaced (only inside ``services:``; mapping keys are
    names and stay as written)."""
    result = []
    for file, document in documents:
        if isinstance(document, dict) and isinstance(document.get("services"), dict):
            services = {
                name: _substituted(definition, config, file, ("services", name))
                for name, definition in document["services"].items()
            }
            document = {**document, "services": services}
        result.append((file, document))
    return result


def check_secrets(catalog: Catalog, config: Mapping[str, ConfigValue]) -> None:
    """Every key in a service's ``secrets:`` is set with ``--secret`` (or unset with ``generate``); services that
    share a key agree on ``generate`` (one generated value per key)."""
    generated: dict[str, tuple[int | None, str]] = {}
    for service in catalog.services:
        for secret in service.secrets:
            earlier = generated.setdefault(secret.config, (secret.generate, service.name))
            if earlier[0] != secret.generate:
                raise ConfigError(
                    service.file,
                    secret.path,
                    f"generate differs from service {earlier[1]}'s for the same key {secret.config}",
                    "the same generate (or none) wherever a key is used",
                )
            item = config.get(config_key(secret.config))
            if item is None and secret.generate is not None:
                continue
            if item is None:
                raise ConfigError(
                    service.file,
                    secret.path,
                    f"{config_key(secret.config)} is not set",
                    _set_command(secret.config, True),
                )
            if not item.secret:
                raise ConfigError(
                    item.file,
                    (config_key(secret.config),),
                    f"is in plain text, but {service.file} gives it to service {service.name} as a secret",
                    f"{_set_command(secret.config, True)}, and delete the plain value",
                )


def check_unused(documents: list[tuple[str, Any]], catalog: Catalog, config: Mapping[str, ConfigValue]) -> None:
    """A ``services:<key>`` no service refers to is an error: it would act on nothing."""
    used = {secret.config for service in catalog.services for secret in service.secrets}
    for _, document in documents:
        if isinstance(document, dict):
            used |= references(document.get("services"))
    for full in sorted(config):
        namespace, _, key = full.partition(":")
        if namespace != NAMESPACE or key in used:
            continue
        close = difflib.get_close_matches(key, sorted(used), n=1)
        hint = f"did you mean {config_key(close[0])}? " if close else ""
        raise ConfigError(
            config[full].file,
            (full,),
            "no service refers to it",
            hint + "refer to it with {{ config." + key + " }} or a service's secrets:, or delete it",
        )
