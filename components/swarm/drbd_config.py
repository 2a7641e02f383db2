"""DRBD9 resource files and the per-host volume steps (reference §4 drbd-resource). Pure: no Pulumi.

One resource per ``drbd`` volume, the same file on every hive:

* ``options``: ``quorum majority`` and ``on-no-quorum io-error`` — a hive cut off from the majority gets I/O
  errors instead of diverging data (split brain);
* ``disk``: resync tuning (``c-plan-ahead 1``, ``c-max-rate 1024000`` KiB/s, ``c-fill-target 1M``);
* one ``on <hostname>`` section per hive, sorted by name: ``address <private ip>:<7000 + minor>``,
  ``node-id <host index>`` (stable: host indexes never change), the backing disk ``/dev/<vg>/<volume>`` or
  ``none`` on a diskless hive, ``device minor <minor>``, ``meta-disk internal``;
* a ``connection-mesh`` of all hives (``max-buffers 16000``, ``sndbuf-size 1M``).

The section name is the host's short name: ``drbdadm`` matches it against ``uname -n``, which the ``base``
step sets to the short name.
"""

from __future__ import annotations

from dataclasses import dataclass

from components.inventory.addressing import Host
from components.inventory.site import Site, Volume

RESOURCE_DIR = "/etc/drbd.d"
THIN_POOL = "drbdpool"
DISK_OPTIONS = (("c-plan-ahead", "1"), ("c-max-rate", "1024000"), ("c-fill-target", "1M"))
NET_OPTIONS = (("max-buffers", "16000"), ("sndbuf-size", "1M"))
RESOURCE_OPTIONS = (("quorum", "majority"), ("on-no-quorum", "io-error"))


def drbd_volumes(site: Site) -> tuple[Volume, ...]:
    """The site's DRBD volumes (none on the ``local`` provider: there they are plain local volumes)."""
    return tuple(v for v in site.volumes if v.kind == "drbd")


def volume_named(site: Site, name: str) -> Volume:
    for volume in site.volumes:
        if volume.name == name:
            return volume
    raise KeyError(name)


def is_diskless(volume: Volume, host: Host) -> bool:
    return host.fqdn in volume.diskless


def backing_disk(volume: Volume) -> str:
    """``/dev/<vg>/<volume>``: the thin LV holding this host's copy."""
    assert volume.drbd is not None
    return f"/dev/{volume.drbd.vgname}/{volume.name}"


def format_host(site: Site, volume: Volume) -> Host:
    """The hive that creates the file system, once: the first diskful hive in host order."""
    for host in site.hives:
        if not is_diskless(volume, host):
            return host
    raise ValueError(f"volume {volume.name}: every hive is diskless")


def resource_path(volume: Volume) -> str:
    return f"{RESOURCE_DIR}/{volume.name}.res"


def _block(indent: str, head: str, lines: list[str]) -> list[str]:
    return [f"{indent}{head} {{", *(f"{indent}    {line}" for line in lines), f"{indent}}}"]


def render_resource(site: Site, volume: Volume) -> str:
    """The ``/etc/drbd.d/<volume>.res`` file of a DRBD volume (identical on every hive)."""
    if volume.kind != "drbd" or volume.minor is None or volume.drbd is None:
        raise ValueError(f"volume {volume.name} is not a DRBD volume")
    port = volume.port
    hives = sorted(site.hives, key=lambda h: h.hostname)
    body: list[str] = []
    body += _block("", "options", [f"{k} {v};" for k, v in RESOURCE_OPTIONS])
    body += _block("", "disk", [f"{k} {v};" for k, v in DISK_OPTIONS])
    for host in hives:
        disk = "none" if is_diskless(volume, host) else backing_disk(volume)
        body += _block(
            "",
            f"on {host.hostname}",
            [
                f"address {host.private_ip}:{port};",
                f"node-id {host.index};",
                f"disk {disk};",
                f"device minor {volume.minor};",
                "meta-disk internal;",
            ],
        )
    mesh = [f"hosts {' '.join(h.hostname for h in hives)};", *_block("", "net", [f"{k} {v};" for k, v in NET_OPTIONS])]
    body += _block("", "connection-mesh", mesh)
    header = [
        f"# {resource_path(volume)}: DRBD resource of volume {volume.name} ({site.stage.prefix}{site.stage.name}).",
        "# Managed by hive (Pulumi): edits are overwritten by the next `pulumi up`.",
    ]
    return "\n".join([*header, *_block("", f"resource {volume.name}", body)]) + "\n"


@dataclass(frozen=True)
class VolumeStep:
    """``drbd-volume.sh`` on one hive for one volume: its environment (stdin is the resource file)."""

    host: Host
    volume: str
    env: dict[str, str]
    formats: bool  # this hive creates the file system (and resizes the device) once the others are ready


def volume_steps(site: Site, volume: Volume) -> list[VolumeStep]:
    """One step per hive, the format host last (its step runs after every other hive's)."""
    assert volume.drbd is not None and volume.minor is not None
    duty = format_host(site, volume)
    steps = []
    for host in site.hives:
        env = {
            "HIVE_VOLUME": volume.name,
            "HIVE_MINOR": str(volume.minor),
            "HIVE_SIZE": str(volume.drbd.size_bytes),
            "HIVE_FSTYPE": volume.drbd.fstype,
            "HIVE_VG": volume.drbd.vgname,
            "HIVE_DISKLESS": "1" if is_diskless(volume, host) else "0",
            "HIVE_FORMAT": "1" if host.fqdn == duty.fqdn else "0",
        }
        steps.append(VolumeStep(host, volume.name, env, host.fqdn == duty.fqdn))
    return sorted(steps, key=lambda s: s.formats)


def growfs_env(site: Site, volume: Volume, host: Host) -> dict[str, str]:
    """``drbd-growfs.sh``: grow the file system where it is mounted (or, on the format host, when unused)."""
    assert volume.drbd is not None and volume.minor is not None
    return {
        "HIVE_VOLUME": volume.name,
        "HIVE_MINOR": str(volume.minor),
        "HIVE_FSTYPE": volume.drbd.fstype,
        "HIVE_FORMAT": "1" if host.fqdn == format_host(site, volume).fqdn else "0",
    }
