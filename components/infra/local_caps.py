"""The Linux capabilities of a local-provider host container (pure, except :func:`read_proc_status`).

Why not ``--privileged``: a privileged container asks for *every* capability the engine knows, and the
engine fails to start it when its own capability bounding set lacks one (on the CI machine this project was
built on, CAP_SYS_RESOURCE is missing). So a host container adds every capability the bounding set of the
program's own process allows — read from ``/proc/self/status`` (``CapBnd``) when the program runs.

Assumption: the engine runs on this machine, under the same kernel, and dockerd's bounding set is the
operator's (both inherit it from init). That is what the ``local`` provider means. Without
``/proc/self/status`` (macOS, Windows: Docker Desktop runs the engine in its own Linux VM, whose dockerd has
the full set) every capability this module knows is added.

Always left out, whatever the bounding set says: ``BPF``, ``PERFMON`` and ``CHECKPOINT_RESTORE`` (Linux
5.8/5.9). Docker engines before 23 reject them as "unknown capability" when the container is created (the CI
machine's 20.10 does), and the program cannot ask the engine's version at preview time (a preview must not
contact anything). Nothing here needs them: they were split out of CAP_SYS_ADMIN, which is added, and the
kernel still lets CAP_SYS_ADMIN do everything they allow (systemd's and runc's BPF device programs included).
"""

from __future__ import annotations

from pathlib import Path

# Capability names by bit number (linux/capability.h), spelled as Docker takes them (no CAP_ prefix).
CAPABILITY_NAMES: tuple[str, ...] = (
    "CHOWN", "DAC_OVERRIDE", "DAC_READ_SEARCH", "FOWNER", "FSETID", "KILL", "SETGID", "SETUID", "SETPCAP",
    "LINUX_IMMUTABLE", "NET_BIND_SERVICE", "NET_BROADCAST", "NET_ADMIN", "NET_RAW", "IPC_LOCK", "IPC_OWNER",
    "SYS_MODULE", "SYS_RAWIO", "SYS_CHROOT", "SYS_PTRACE", "SYS_PACCT", "SYS_ADMIN", "SYS_BOOT", "SYS_NICE",
    "SYS_RESOURCE", "SYS_TIME", "SYS_TTY_CONFIG", "MKNOD", "LEASE", "AUDIT_WRITE", "AUDIT_CONTROL", "SETFCAP",
    "MAC_OVERRIDE", "MAC_ADMIN", "SYSLOG", "WAKE_ALARM", "BLOCK_SUSPEND", "AUDIT_READ", "PERFMON", "BPF",
    "CHECKPOINT_RESTORE",
)  # fmt: skip
ENGINE_MAY_REJECT = frozenset({"PERFMON", "BPF", "CHECKPOINT_RESTORE"})
PROC_STATUS = Path("/proc/self/status")


def bounding_set(status: str) -> int | None:
    """The ``CapBnd`` mask of a ``/proc/<pid>/status`` text; None when the line is missing."""
    for line in status.splitlines():
        key, _, value = line.partition(":")
        if key == "CapBnd":
            return int(value.strip(), 16)
    return None


def capability_names(mask: int) -> list[str]:
    """The names of the bits set in ``mask``, in bit order (bits this module has no name for are ignored)."""
    return [name for bit, name in enumerate(CAPABILITY_NAMES) if mask >> bit & 1]


def container_capabilities(status: str | None) -> list[str]:
    """What a host container adds: every capability the bounding set allows (all known ones when ``status``
    is None or has no ``CapBnd``), minus :data:`ENGINE_MAY_REJECT`."""
    mask = bounding_set(status) if status is not None else None
    names = list(CAPABILITY_NAMES) if mask is None else capability_names(mask)
    return [name for name in names if name not in ENGINE_MAY_REJECT]


def read_proc_status(path: Path = PROC_STATUS) -> str | None:
    """This process's status text, or None where there is no procfs (not Linux)."""
    try:
        return path.read_text()
    except OSError:
        return None
