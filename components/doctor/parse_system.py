"""Parsers for ``df -P -B1 -T``, ``systemctl list-units --failed --plain``, ``du -B1`` and ``timedatectl``."""

from __future__ import annotations

import re
from dataclasses import dataclass

# The file systems whose usage counts (the same policy as monitoring/rules/host.rules.yml and volumes.rules.yml):
# real disks and tmpfs an operator mounts (Debian 13's /tmp), not the kernel's and systemd's pseudo mounts nor
# container layers.
IGNORED_FSTYPES = re.compile(r"^(ramfs|overlay|squashfs|nsfs|devtmpfs|fuse\..*|proc|sysfs|cgroup2?|autofs)$")
IGNORED_MOUNTS = re.compile(r"^/(run|dev|sys|proc)(/.*)?$|^/var/lib/docker/(overlay2|containers|plugins)/")
DOCKER_VOLUME_MOUNT = re.compile(r"^/var/lib/docker/volumes/[^/]+/_data$")
SERVER_DISK_LIMIT = 80.0  # percent, the runbook's "Disk space is low (used > 80%)"
DOCKER_VOLUME_LIMIT = 90.0  # percent, the runbook's "Exceed 90% Docker volume … usage"


@dataclass(frozen=True)
class FileSystem:
    device: str
    fstype: str
    size: int
    used: int
    available: int
    mountpoint: str

    @property
    def used_percent(self) -> float:
        """As df computes Capacity: used / (used + available), rounded up."""
        total = self.used + self.available
        return 100.0 * self.used / total if total else 0.0

    @property
    def is_docker_volume(self) -> bool:
        return bool(DOCKER_VOLUME_MOUNT.match(self.mountpoint))

    @property
    def watched(self) -> bool:
        return not IGNORED_FSTYPES.match(self.fstype) and not IGNORED_MOUNTS.match(self.mountpoint)

    @property
    def limit(self) -> float:
        return DOCKER_VOLUME_LIMIT if self.is_docker_volume else SERVER_DISK_LIMIT


def parse_df(text: str) -> list[FileSystem]:
    """``df -P -B1 -T``: ``Filesystem Type 1-blocks Used Available Capacity Mounted on``; -P keeps one line each.

    The mount point is the rest of the line (it may contain spaces)."""
    result = []
    for line in text.splitlines()[1:]:
        parts = line.split(None, 6)
        if len(parts) < 7 or not parts[2].isdigit():
            continue
        device, fstype, size, used, available, _capacity, mountpoint = parts
        result.append(FileSystem(device, fstype, int(size), int(used), int(available), mountpoint))
    return result


@dataclass(frozen=True)
class FailedUnit:
    name: str
    description: str


def parse_failed_units(text: str) -> list[FailedUnit]:
    """``systemctl list-units --failed --no-legend --no-pager --plain``: ``UNIT LOAD ACTIVE SUB DESCRIPTION``."""
    units = []
    for line in text.splitlines():
        parts = line.split(None, 4)
        if len(parts) >= 4 and parts[2] == "failed":
            units.append(FailedUnit(parts[0], parts[4] if len(parts) == 5 else ""))
    return units


def parse_du(text: str) -> list[tuple[int, str]]:
    """``du -x -a -d1 -B1 <dir>`` lines ``<bytes>\\t<path>``, biggest first."""
    entries = []
    for line in text.splitlines():
        size, _, path = line.partition("\t")
        if size.strip().isdigit() and path:
            entries.append((int(size), path))
    return sorted(entries, reverse=True)


def parse_ntp_synchronized(text: str) -> bool | None:
    """``timedatectl show -p NTPSynchronized --value``: yes/no; None when it did not answer."""
    value = text.strip().splitlines()[-1].strip() if text.strip() else ""
    return {"yes": True, "no": False}.get(value)


def human_bytes(n: int) -> str:
    size = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if size < 1024 or unit == "TiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    raise AssertionError("unreachable")
