"""Service initialisation (hive-builder's initialize-services, without Ansible). Pure: no Pulumi.

A service's ``initialize`` (a shell ``command`` or a ``script`` under services/) runs once, through the
repository's agent (``hive-backup init``), inside the service's first running task after the service first
converges, and again only when its text or the site values it is given change. It is given the site's DNS
delegation as environment, so a DNS service can serve its own zone:

* ``HIVE_ZONE`` — the site's zone with a final dot (``pdns.example.com.``);
* ``HIVE_NAME_SERVERS`` — ``<ns name>=<ipv4>`` per hive, space-separated (the ``dns_delegation`` glue).
"""

from __future__ import annotations

import shlex
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from components.backup.plan import AGENT_PATH
from components.inventory.services import Service
from components.inventory.sources import SERVICES_DIR


def init_text(service: Service, project_dir: Path) -> str:
    """What runs in the task (``sh -s``): the command, or the script file's content."""
    init = service.initialize
    if init is None:
        raise ValueError(f"service {service.name} has no initialize")
    if init.command is not None:
        return init.command + "\n"
    assert init.script is not None
    return (project_dir / SERVICES_DIR / init.script).read_text()


def delegation_env(delegation: Mapping[str, Any]) -> dict[str, str]:
    """``HIVE_ZONE`` and ``HIVE_NAME_SERVERS`` from the ``dns_delegation`` document."""
    return {
        "HIVE_ZONE": delegation["zone"],
        "HIVE_NAME_SERVERS": " ".join(f"{g['name']}={g['ipv4']}" for g in delegation["glue_records"]),
    }


def init_command(user: str, service: str, env: Mapping[str, str]) -> str:
    """``sudo /usr/local/sbin/hive-backup init <service> --env K=V …`` (the text arrives on stdin)."""
    words = [] if user == "root" else ["sudo"]
    words += [AGENT_PATH, "init", shlex.quote(service)]
    for name in sorted(env):
        if not name.isidentifier():
            raise ValueError(f"initialize {service}: {name!r} is no environment variable name")
        words += ["--env", shlex.quote(f"{name}={env[name]}")]
    return " ".join(words)
