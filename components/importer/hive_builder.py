"""A hive-builder project → this project's files. Pure: documents in, file texts and notes out.

Read (reference §1, §2, §6): ``inventory/*.yml`` (``plugin: hive_inventory`` — the hive definition with its
``stages:`` object — or ``plugin: hive_services``), ``services/*.yml`` where a project keeps them there,
``inventory/group_vars/*.yml`` and ``.hive/persistents.yml`` (``{variable: {global|<stage>: value}}``, hive.py
``load_persistents``). Written:

* ``Pulumi.<stage>.yaml`` per stage: the stage object's keys under ``hive:``, ``first_hive`` from the
  persistents, and ``hive:previous_allocations`` from ``published_port_map`` / ``drbd_device_map`` so every
  auto-published port and DRBD minor keeps its value on the first ``up``;
* each services file, its text kept (comments too), with a header listing what could not be translated;
  the constructs themselves are left in place, so loading the file stops at each with its one-line error;
* ``import-secrets.sh``: ``pulumi config set --secret`` commands that read each value from the terminal —
  never a value in a file.

Nothing is dropped silently: every key that has no equivalent here is in :attr:`ImportResult.notes`.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import yaml

from components.inventory.allocation import MINOR_RANGE, PORT_RANGE
from components.inventory.services import REFUSED_LABELS
from components.inventory.stage import STAGE_KEYS, STAGES

SECRETS_SCRIPT = "import-secrets.sh"
PERSISTENTS = ".hive/persistents.yml"
NOTES_FILE = "import-hive-builder.txt"

# hive-builder provider → this project's; vagrant VMs become the local provider's containers, kickstart-installed
# machines are prepared hosts (installed by the operator).
PROVIDERS = {"aws": "aws", "azure": "azure", "gcp": "gcp", "prepared": "prepared", "vagrant": "local",
             "kickstart": "prepared"}  # fmt: skip
# Stage keys with the same name and meaning here (reference §1.1 ↔ components/inventory/stage.py).
SAME_KEYS = (
    "cidr", "subnets", "ip_address_list", "number_of_hosts", "separate_repository", "custom_hostname",
    "instance_type", "repository_instance_type", "region", "image_name", "disk_size", "repository_disk_size",
    "mirrored_disk_size", "internal_cidr", "drbd_download_url",
)  # fmt: skip
# Stage keys with no equivalent, and what to do instead.
STAGE_INSTEAD = {
    "memory_size": "the local provider's hosts are containers sharing this machine's memory",
    "cpus": "the local provider's hosts are containers sharing this machine's CPUs",
    "repository_memory_size": "the local provider's hosts are containers sharing this machine's memory",
    "repository_cpus": "the local provider's hosts are containers sharing this machine's CPUs",
    "bridge": "the local provider makes its own docker bridge on hive:cidr",
    "dev": "the local provider makes its own docker bridge on hive:cidr",
    "kernel_version": "hosts run the image's Debian kernel; DRBD is built for it (hive:drbd_version)",
    "root_password": "hosts are reached with ssh keys only (hive:ssh_private_key on prepared hosts)",
    "az_suffix_list": "zones are each subnet's available_zone; list subnets with available_zone",
    "internal_cidr_v6": "IPv6 is not supported yet",
    "kms_key_id": "disk encryption is not supported yet",
    "disk_encrypted": "disk encryption is not supported yet",
    "repository_disk_encrypted": "disk encryption is not supported yet",
    "mirrored_disk_encrypted": "disk encryption is not supported yet",
    "prepared_resource_group": "the program creates its own resource group",
    "not_support_az": "give each subnet its available_zone (Azure zones 1, 2, 3)",
    "filestore_cidr": "NFS volumes are not supported; use drbd volumes",
    "kickstart_config": "install Debian on the machines yourself; they are prepared hosts here",
}
SECRET_KEY = "services:{name}"  # where a service secret goes: the services namespace (see _secrets_script)
SECRET_NAME = re.compile(r"(?i)pass(word)?|secret|token|credential|private_key|api_key|apikey")
TEMPLATE = re.compile(r"\{\{.*?\}\}|\{%.*?%\}", re.S)


@dataclass
class ImportResult:
    files: dict[str, str] = field(default_factory=dict)  # path relative to the target project → text
    notes: list[str] = field(default_factory=list)  # one line each: what was not translated and what to do


@dataclass(frozen=True)
class Project:
    """The hive-builder project, already loaded: (display path, document) pairs."""

    inventory: list[tuple[str, Any]]  # inventory/*.yml and services/*.yml
    group_vars: list[tuple[str, Any]]
    persistents: Any
    texts: Mapping[str, str]  # display path → the file's text (services files are kept as written)


class HiveBuilderError(ValueError):
    """The hive-builder project cannot be read at all (one line)."""


def convert(project: Project) -> ImportResult:
    result = ImportResult()
    hive_files = [(p, d) for p, d in project.inventory if isinstance(d, dict) and d.get("plugin") == "hive_inventory"]
    service_files = [(p, d) for p, d in project.inventory if isinstance(d, dict) and d.get("plugin") == "hive_services"]
    if len(hive_files) != 1:
        found = ", ".join(p for p, _ in hive_files) or "none"
        raise HiveBuilderError(f"inventory/: expected one file with plugin: hive_inventory, found {found}")
    for path, document in project.inventory:
        plugin = document.get("plugin") if isinstance(document, dict) else None
        if plugin not in ("hive_inventory", "hive_services"):
            result.notes.append(f"{path}: plugin {plugin}: not a hive_inventory or hive_services file; not imported")
    hive_path, hive = hive_files[0]
    stages = hive.get("stages")
    if not isinstance(stages, dict) or not stages:
        raise HiveBuilderError(f"{hive_path}: stages: expected a mapping of private, staging, production")
    for key in hive:
        if key not in ("plugin", "name", "stages"):
            result.notes.append(f"{hive_path}: {key}: unknown to hive-builder too; not imported")
    group_vars = _merge_group_vars(project.group_vars)
    persistents = project.persistents if isinstance(project.persistents, dict) else {}
    for stage, body in stages.items():
        if stage not in STAGES:
            raise HiveBuilderError(f"{hive_path}: stages.{stage}: not a stage (private, staging, production)")
        if not isinstance(body, dict):
            raise HiveBuilderError(f"{hive_path}: stages.{stage}: expected a mapping")
        config = _stage_config(hive_path, stage, body, hive.get("name"), group_vars, persistents, result.notes)
        result.files[f"Pulumi.{stage}.yaml"] = _stage_file(stage, hive_path, config)
    for path, document in service_files:
        name = path.rsplit("/", 1)[-1]
        notes = list(_service_notes(path, document))
        result.notes += notes
        result.files[f"services/{name}"] = _services_file(path, project.texts.get(path, ""), notes)
    result.notes += _group_var_notes(group_vars)
    result.files[SECRETS_SCRIPT] = _secrets_script(group_vars, stages, hive_path)
    return result


# -- stages -------------------------------------------------------------------------------------------------


def _stage_config(
    file: str,
    stage: str,
    body: Mapping[str, Any],
    name: Any,
    group_vars: Mapping[str, Any],
    persistents: Mapping[str, Any],
    notes: list[str],
) -> dict[str, Any]:
    where = f"{file}: stages.{stage}"
    provider = body.get("provider")
    if provider not in PROVIDERS:
        raise HiveBuilderError(f"{where}.provider: {provider!r} has no equivalent ({', '.join(PROVIDERS)})")
    ours = PROVIDERS[provider]
    config: dict[str, Any] = {}
    if isinstance(name, str):
        config["hive:name"] = name
    if isinstance(group_vars.get("domain"), str):
        config["hive:domain"] = group_vars["domain"]
    config["hive:provider"] = ours
    if provider != ours:
        notes.append(f"{where}.provider: {provider} is the {ours} provider here")
    for key, value in body.items():
        if key == "provider":
            continue
        if key in SAME_KEYS:
            allowed = STAGE_KEYS.get(key)
            if allowed is not None and ours not in allowed:
                notes.append(f"{where}.{key}: not used by the {ours} provider here; not imported")
                continue
            config[f"hive:{key}"] = value
        elif key in STAGE_INSTEAD:
            notes.append(f"{where}.{key}: no equivalent; not imported ({STAGE_INSTEAD[key]})")
        else:
            notes.append(f"{where}.{key}: unknown key; not imported")
    if ours == "aws" and "region" in body:
        config["aws:region"] = body["region"]  # the aws provider's own region (Pulumi.staging.yaml does the same)
    if ours == "gcp":
        notes.append(f"{where}: gcp:project is required here: pulumi config set --stack {stage} gcp:project <id>")
    if ours == "aws" and "subnets" not in body:
        notes.append(
            f"{where}: no subnets: hive-builder put every host in one subnet (network+4, +5, …); here AWS gets "
            "one subnet per zone, so addresses differ: list subnets to choose them"
        )
    first_hive = _persistent(persistents, "first_hive", stage)
    if first_hive not in (None, 0):
        config["hive:first_hive"] = first_hive
    allocations = _allocations(persistents, stage, notes)
    if allocations:
        config["hive:previous_allocations"] = allocations
    return config


def _persistent(persistents: Mapping[str, Any], variable: str, stage: str) -> Any:
    """hive.py ``load_persistents``: the global value, overridden by the stage's."""
    entry = persistents.get(variable)
    if not isinstance(entry, dict):
        return None
    return entry.get(stage, entry.get("global"))


def _allocations(persistents: Mapping[str, Any], stage: str, notes: list[str]) -> dict[str, Any]:
    """``published_port_map`` and ``drbd_device_map`` of ``stage`` as ``hive:previous_allocations``.

    hive-builder records explicit published ports in the same map (``published_port_map[key] = port`` for
    every port); only values in 61001–65534 are auto-published ones, the others stay in the service files."""
    out: dict[str, Any] = {}
    for variable, key, values in (
        ("published_port_map", "ports", PORT_RANGE),
        ("drbd_device_map", "drbd_minors", MINOR_RANGE),
    ):
        where = f"{PERSISTENTS}: {variable}.{stage}"
        mapping = _persistent(persistents, variable, stage) or {}
        if not isinstance(mapping, dict):
            raise HiveBuilderError(f"{where}: expected a mapping")
        kept = {}
        for name, value in mapping.items():
            if isinstance(value, int) and not isinstance(value, bool) and value in values:
                kept[str(name)] = value
            elif variable == "published_port_map" and isinstance(value, int) and not isinstance(value, bool):
                continue  # an explicit port, kept in its service's ports
            else:
                notes.append(f"{where}.{name}: {value!r} is outside {values.start}..{values.stop - 1}; not imported")
        if kept:
            out[key] = dict(sorted(kept.items(), key=lambda item: item[1]))
    return out


def _stage_file(stage: str, source: str, config: Mapping[str, Any]) -> str:
    header = (
        f"# The {stage} stage, imported from hive-builder's {source} (./hive import-hive-builder).\n"
        f"# Secrets: see {SECRETS_SCRIPT}; what was not imported: {NOTES_FILE}.\n"
    )
    return header + yaml.safe_dump({"config": dict(config)}, sort_keys=False, default_flow_style=None, width=110)


# -- services -----------------------------------------------------------------------------------------------


def _service_notes(path: str, document: Mapping[str, Any]) -> Iterable[str]:
    """One line per construct that cannot be translated: where it is, and what to write instead."""
    services = document.get("services")
    if not isinstance(services, dict):
        return
    for name, service in services.items():
        if not isinstance(service, dict):
            continue
        where = f"{path}: services.{name}"
        image = service.get("image")
        if isinstance(image, dict):
            if "roles" in image:
                roles = (
                    ", ".join(str(r) for r in image["roles"]) if isinstance(image["roles"], list) else image["roles"]
                )
                yield (
                    f"{where}.image.roles: Ansible roles ({roles}) cannot run here: write services/{name}/Dockerfile "
                    f"(FROM {image.get('from', '<from>')} plus RUN steps doing what the roles did) and set "
                    f"image: {{context: {name}}}"
                )
            if image.get("privileged") is True:
                yield (
                    f"{where}.image.privileged: swarm services cannot run privileged: drop it and give the service "
                    "the capabilities it needs (cap_add)"
                )
            if "standalone" in image:
                yield f"{where}.image.standalone: is a service attribute here: write standalone on the service"
        if "initialize_roles" in service:
            yield (
                f"{where}.initialize_roles: Ansible roles cannot run here: write initialize: {{command: …}} or "
                "{script: <file under services/>}, run once inside the service's first task"
            )
        labels = service.get("labels")
        if isinstance(labels, dict):
            for label in labels:
                refused = next((v for p, v in REFUSED_LABELS.items() if str(label).startswith(p)), None)
                if refused is not None:
                    yield f"{where}.labels.{label}: {refused[0]}: {refused[1]}"
        for index, volume in enumerate(service.get("volumes") or []):
            if isinstance(volume, dict) and "nfs" in volume:
                yield f"{where}.volumes[{index}].nfs: NFS volumes are not supported: use drbd or driver/driver_opts"
        for key_path, text in _strings(service, ()):
            for match in TEMPLATE.findall(text):
                yield (
                    f"{where}.{_dotted(key_path)}: Ansible template {match} is not evaluated here: write the value "
                    "(secrets: see import-secrets.sh)"
                )


def _strings(value: Any, path: tuple[str | int, ...]) -> Iterable[tuple[tuple[str | int, ...], str]]:
    if isinstance(value, str):
        yield path, value
    elif isinstance(value, dict):
        for key, child in value.items():
            yield from _strings(child, (*path, str(key)))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            yield from _strings(child, (*path, index))


def _dotted(path: Iterable[str | int]) -> str:
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else part)
    return text


def _services_file(path: str, text: str, notes: list[str]) -> str:
    header = [f"# Imported from hive-builder's {path} (./hive import-hive-builder)."]
    if notes:
        header.append("# Not translated: rewrite each (a refused construct stops loading with its one-line error;")
        header.append("# an Ansible template would be taken literally):")
        header += [f"#   {note.split(': ', 1)[1]}" for note in notes]
    return "\n".join(header) + "\n" + text


# -- variables and secrets ----------------------------------------------------------------------------------


def _merge_group_vars(files: list[tuple[str, Any]]) -> dict[str, Any]:
    merged: dict[str, Any] = {}
    for _path, document in files:
        if isinstance(document, dict):
            merged.update(document)
    return merged


def is_secret(name: str, value: Any) -> bool:
    """A variable holding a secret: its name says so, or Ansible Vault encrypted it (``!vault``)."""
    return bool(SECRET_NAME.search(name)) or isinstance(value, VaultValue)


def _group_var_notes(group_vars: Mapping[str, Any]) -> list[str]:
    notes = []
    for name, value in group_vars.items():
        if name == "domain" and isinstance(value, str):
            continue
        if is_secret(name, value):
            notes.append(
                f"inventory/group_vars: {name}: a secret: give it with the commands in {SECRETS_SCRIPT} "
                "(its value is not copied)"
            )
        else:
            notes.append(
                f"inventory/group_vars: {name}: an Ansible variable; not imported (write its value where used)"
            )
    return notes


def _secrets_script(group_vars: Mapping[str, Any], stages: Mapping[str, Any], hive_path: str) -> str:
    """The commands to set the project's secrets; each reads its value from the terminal, none is written here.

    A service secret (a secret group variable) is listed as a commented command under :data:`SECRET_KEY`: a
    ``services:`` key no service references is refused, so it is set once a service names it (``secrets:``)."""
    lines = [
        "#!/usr/bin/env bash",
        f"# Secrets of the hive-builder project ({hive_path}, inventory/group_vars), to set as Pulumi secrets.",
        "# pulumi config set without a value asks for it on the terminal: no value is written in this file.",
        "# Run the lines you need from the project directory.",
        "set -Eeuo pipefail",
    ]
    secret_vars = [name for name, value in group_vars.items() if is_secret(name, value)]
    for stage, body in stages.items():
        if not isinstance(body, dict):
            continue
        lines.append(f"\n# stage {stage}")
        if PROVIDERS.get(str(body.get("provider"))) == "prepared":
            lines.append(f"pulumi config set --secret --stack {shlex.quote(stage)} hive:ssh_private_key < PATH/TO/KEY")
        for name in secret_vars:
            key = shlex.quote(SECRET_KEY.format(name=name))
            lines.append(
                f"# {name}: a service secret; once a service names it (secrets: [{name}], README, Services):\n"
                f"# pulumi config set --secret --stack {shlex.quote(stage)} {key}"
            )
    return "\n".join(lines) + "\n"


class VaultValue(str):
    """An Ansible Vault value (``!vault |``): never decrypted, never copied."""


class _Loader(yaml.SafeLoader):
    pass


_Loader.add_constructor("!vault", lambda loader, node: VaultValue(""))
_Loader.add_constructor("!unsafe", lambda loader, node: loader.construct_scalar(node))


def load_yaml(text: str, display: str) -> Any:
    """hive-builder's files as Ansible reads them (YAML 1.1, ``!vault`` and ``!unsafe`` tags)."""
    try:
        return yaml.load(text, Loader=_Loader)  # a SafeLoader subclass
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}: " if mark is not None else ""
        raise HiveBuilderError(f"{display}: {where}invalid YAML ({getattr(exc, 'problem', exc)})") from None


def notes_text(notes: list[str]) -> str:
    return (
        "# What ./hive import-hive-builder could not translate, one line each: where, and what to do instead.\n"
        + "".join(f"{note}\n" for note in notes)
    )
