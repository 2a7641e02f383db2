"""What the repository's backup agent (hostsetup/hive-backup) is configured with. Pure: no Pulumi.

The agent finds each service's running task through any hive's docker API (port 2376, its own client
certificate) and runs the service's ``backup_scripts`` inside it (README "Backups"). This module turns a
:class:`~components.inventory.site.Site` into the agent's two JSON documents — passed to the ``backup`` step as
environment, since nothing in them is secret — and says which sites need the agent at all.
"""

from __future__ import annotations

import json
from collections.abc import Mapping

from components.inventory.site import Site

BACKUP_DIR = "/var/backups/hive"
AGENT_PATH = "/usr/local/sbin/hive-backup"
# The backup_scripts keys the agent reads (hive-builder's names; components/inventory/services.py validates them).
SCRIPT_KEYS = (
    "name", "directory", "backup_command", "backup_file", "restore_command", "restore_file", "ext",
    "cleanup_days_before", "batch_scripts",
)  # fmt: skip


def backup_services(site: Site) -> dict[str, list[dict[str, object]]]:
    """Every service of the stage that declares ``backup_scripts`` → its entries (agent format)."""
    out: dict[str, list[dict[str, object]]] = {}
    for service in site.catalog.services:
        if service.backup_scripts:
            out[service.name] = [
                {key: entry[key] for key in SCRIPT_KEYS if key in entry} for entry in service.backup_scripts
            ]
    return out


def needs_agent(site: Site) -> bool:
    """The agent backs services up and runs their ``initialize``: installed when any service has either."""
    return any(s.backup_scripts or s.initialize is not None for s in site.catalog.services)


def agent_config(site: Site) -> dict[str, object]:
    """``/etc/hive/backup.conf``: where the swarm is, where backups go, and the off-site repository."""
    offsite = site.stage.offsite_backup
    return {
        "managers": [h.private_ip for h in site.hives],
        "backup_dir": BACKUP_DIR,
        "site": f"{site.stage.prefix}{site.stage.name}",
        "offsite": None if offsite is None else {"repository": offsite.repository, "keep_days": offsite.keep_days},
    }


def step_env(site: Site) -> dict[str, str]:
    """The ``backup`` step's environment (hostsetup/backup.sh header)."""
    return {
        "HIVE_BACKUP_CONF": json.dumps(agent_config(site), sort_keys=True, separators=(",", ":")),
        "HIVE_BACKUP_SERVICES": json.dumps(backup_services(site), sort_keys=True, separators=(",", ":")),
        "HIVE_BACKUP_OFFSITE": "1" if site.stage.offsite_backup else "0",
    }


def offsite_env_lines(password: str, credentials: Mapping[str, str]) -> str:
    """The ``NAME=value`` lines after the PEM blocks on the backup step's stdin (secret as a whole)."""
    lines = [f"RESTIC_PASSWORD={password}"]
    for name, value in sorted(credentials.items()):
        if not name.isidentifier() or not name.isupper() or name == "RESTIC_PASSWORD":
            raise ValueError(f"hive:offsite_backup_credentials: {name!r} is no upper-case environment variable name")
        if "\n" in value or "\r" in value:
            raise ValueError(f"hive:offsite_backup_credentials.{name}: a value cannot span lines")
        lines.append(f"{name}={value}")
    if "\n" in password or "\r" in password:
        raise ValueError("hive:offsite_backup_password: a password cannot span lines")
    return "\n".join(lines) + "\n"
