"""DRBD for real, on the VM lab's three hives (s-hive1 diskless: no_mirrored_device): the program's DRBD
steps (drbd-install, drbd-pool, drbd-volume, drbd-growfs) run over SSH as the program renders them, then
failover and quorum by powering VMs off.

The tests share one lab and run in file order: install → pool → volume → grow → failover → quorum → a replaced
hive. Each stage is a session fixture, so a test that needs a later stage also works alone (``pytest -k quorum``).

Failover and quorum are proven at the DRBD level (mount = auto-promote on a surviving hive); last, the program's
docker and swarm steps make the VMs a swarm, and a service that mounts the volume as the program renders it
follows a powered-off hive with its data.
"""

from __future__ import annotations

import os
import re
import shlex
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from components.swarm import service_spec, update_policy
from tests.vmlab.conftest import HIVES, TIMINGS, lab_addresses
from tests.vmlab.drbd_site import VOLUME, DrbdSite, StepRun
from tests.vmlab.image import DRBD_VERSION
from tests.vmlab.lab import VmLab
from tests.vmlab.pki import LabCa

pytestmark = pytest.mark.vmlab

# HIVE_VMLAB_DKMS_HIVE=s-hive0: the production default (DKMS from the source tarball) runs on that hive, the
# others take the prebuilt package. Default none: under TCG on this loaded 2-core machine DRBD's 162 compat
# probes alone took over an hour (31 in 20 min), beyond CI's budget; it has not finished here yet.
DKMS_HIVE = os.environ.get("HIVE_VMLAB_DKMS_HIVE", "none")
# The volume, grow, failover and quorum tests run by default (seen passing on the VMs: 16 passed in 1048 s with
# the machine loaded); HIVE_VMLAB_VOLUMES=0 leaves them out for a quick lab check.
VOLUMES = os.environ.get("HIVE_VMLAB_VOLUMES", "1") != "0"
needs_volumes = pytest.mark.skipif(not VOLUMES, reason="HIVE_VMLAB_VOLUMES=0: the volume tests were not asked for")
DISKLESS = "s-hive1"
MOUNT = "/mnt/hive-test"


def wait_until(what: str, check: Callable[[], Any], timeout: float, every: float = 3.0) -> Any:
    """Poll ``check`` until it returns something truthy; fail with ``what`` and the last value after ``timeout``."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while True:
        try:
            last = check()
        except (AssertionError, OSError, TimeoutError) as exc:
            last = exc
        else:
            if last:
                return last
        if time.monotonic() > deadline:
            pytest.fail(f"{what}: not reached within {timeout:.0f}s (last: {last!r})")
        time.sleep(every)


def parallel(fn: Callable[[str], Any], hosts: list[str] | tuple[str, ...]) -> dict[str, Any]:
    with ThreadPoolExecutor(max_workers=len(hosts)) as pool:
        return dict(zip(hosts, pool.map(fn, hosts), strict=True))


def disk_states(site: DrbdSite, hostname: str) -> dict[str, str]:
    """This hive's view: its own disk and each peer's disk state."""
    (res,) = site.status(hostname)
    states = {hostname: res["devices"][0]["disk-state"]}
    for conn in res.get("connections", []):
        peer = conn.get("peer_devices", [{}])
        states[conn["name"]] = peer[0].get("peer-disk-state", "?") if peer else conn["connection-state"]
    return states


def expected_states(site: DrbdSite) -> dict[str, str]:
    return {h: ("Diskless" if h == DISKLESS else "UpToDate") for h in HIVES}


def all_up_to_date(site: DrbdSite, hosts: tuple[str, ...] = HIVES) -> bool:
    return all(disk_states(site, h) == expected_states(site) for h in hosts)


# --------------------------------------------------------------------------------------------------------------
# stages (session fixtures)


@pytest.fixture(scope="session")
def drbd_site(vmlab: VmLab, file_server: tuple[str, Path, str]) -> DrbdSite:
    base, directory, ca_pem = file_server
    site = DrbdSite(vmlab, lab_addresses(vmlab.cidr), f"{base}/drbd-{{version}}.tar.gz", files_ca=ca_pem)
    deb = vmlab.image.module_deb
    assert deb.is_file(), f"{deb} was not built with the image"
    (directory / f"drbd-modules-{vmlab.image.release}_{DRBD_VERSION}_amd64.deb").symlink_to(deb)
    site.module_url = f"{base}/drbd-modules-{{kernel}}_{{version}}_amd64.deb"
    parallel(site.ship, HIVES)
    return site


@pytest.fixture(scope="session")
def installed(drbd_site: DrbdSite) -> dict[str, StepRun]:
    def install(hostname: str) -> StepRun:
        started = time.monotonic()
        run = drbd_site.install(hostname, prebuilt=hostname != DKMS_HIVE).check()
        TIMINGS[f"drbd-install {hostname} ({'dkms' if hostname == DKMS_HIVE else 'package'})"] = (
            time.monotonic() - started
        )
        return run

    return parallel(install, HIVES)


@pytest.fixture(scope="session")
def pooled(drbd_site: DrbdSite, installed: dict[str, StepRun]) -> dict[str, StepRun]:
    return parallel(lambda h: drbd_site.host_step("drbd-pool", h).check(), HIVES)


@pytest.fixture(scope="session")
def volume_up(drbd_site: DrbdSite, pooled: dict[str, StepRun]) -> list[StepRun]:
    started = time.monotonic()
    runs = [run.check() for run in drbd_site.volume_runs()]
    wait_until("every disk of the new volume UpToDate", lambda: all_up_to_date(drbd_site), 600)
    TIMINGS["first drbd-volume + initial sync"] = time.monotonic() - started
    return runs


# --------------------------------------------------------------------------------------------------------------
# drbd-install


def test_drbd_install_loads_9_2_16_on_every_hive(drbd_site: DrbdSite, installed: dict[str, StepRun]) -> None:
    for hostname in HIVES:
        assert drbd_site.ok(hostname, "cat /sys/module/drbd/version").strip() == DRBD_VERSION
        assert "drbd_transport_tcp" in drbd_site.ok(hostname, "lsmod")


@pytest.mark.skipif(
    DKMS_HIVE not in HIVES, reason="DKMS under TCG takes over an hour here; HIVE_VMLAB_DKMS_HIVE=s-hive0 runs it"
)
def test_drbd_install_builds_with_dkms_on_the_dkms_hive(drbd_site: DrbdSite, installed: dict[str, StepRun]) -> None:
    run = installed[DKMS_HIVE]
    assert any(change.startswith(f"DRBD {DRBD_VERSION} module for") for change in run.changes), run.stderr
    status = drbd_site.ok(DKMS_HIVE, f"dkms status -m drbd -v {DRBD_VERSION}")
    assert "installed" in status, status


def test_drbd_install_takes_the_prebuilt_package_elsewhere(drbd_site: DrbdSite, installed: dict[str, StepRun]) -> None:
    for hostname in (h for h in HIVES if h != DKMS_HIVE):
        assert any("module package for" in change for change in installed[hostname].changes), installed[hostname].stderr
        assert "ii" in drbd_site.ok(hostname, "dpkg -l drbd-modules-$(uname -r) | tail -1")


def test_drbd_install_second_run_changes_nothing(drbd_site: DrbdSite, installed: dict[str, StepRun]) -> None:
    again = parallel(lambda h: drbd_site.install(h, prebuilt=h != DKMS_HIVE).check(), HIVES)
    for hostname, run in again.items():
        assert run.summary == "unchanged: drbd-install", f"{hostname}: {run.stderr}"


# --------------------------------------------------------------------------------------------------------------
# drbd-pool


def test_drbd_pool_creates_the_thin_pool_on_the_mirrored_disk(drbd_site: DrbdSite, pooled: dict[str, StepRun]) -> None:
    for hostname in HIVES:
        if hostname == DISKLESS:
            continue
        out = drbd_site.ok(
            hostname,
            "sudo lvs --noheadings -o lv_name,segtype drbdvg/drbdpool; sudo pvs --noheadings -o pv_name,vg_name",
        )
        assert "drbdpool" in out and "thin-pool" in out, out
        assert "/dev/vdb" in out and "drbdvg" in out, out


def test_drbd_pool_leaves_the_diskless_hive_without_a_pool(drbd_site: DrbdSite, pooled: dict[str, StepRun]) -> None:
    assert "diskless" in pooled[DISKLESS].stderr
    rc, _, _ = drbd_site.ssh(DISKLESS, "sudo vgs drbdvg")
    assert rc != 0, "the diskless hive must have no volume group"
    assert drbd_site.ok(DISKLESS, "sudo blkid -p /dev/vdb; echo rc=$?").strip().endswith("rc=2")


def test_drbd_pool_second_run_changes_nothing(drbd_site: DrbdSite, pooled: dict[str, StepRun]) -> None:
    again = parallel(lambda h: drbd_site.host_step("drbd-pool", h).check(), HIVES)
    for hostname, run in again.items():
        assert run.summary == "unchanged: drbd-pool", f"{hostname}: {run.stderr}"


# --------------------------------------------------------------------------------------------------------------
# drbd-volume


@needs_volumes
def test_volume_is_one_resource_on_every_hive_up_to_date(drbd_site: DrbdSite, volume_up: list[StepRun]) -> None:
    for hostname in HIVES:
        (res,) = drbd_site.status(hostname)
        assert res["name"] == VOLUME
        assert sorted(c["name"] for c in res["connections"]) == sorted(h for h in HIVES if h != hostname)
        assert all(c["connection-state"] == "Connected" for c in res["connections"]), res
        assert disk_states(drbd_site, hostname) == expected_states(drbd_site)


@needs_volumes
def test_volume_has_quorum_majority_on_every_hive(drbd_site: DrbdSite, volume_up: list[StepRun]) -> None:
    for hostname in HIVES:
        shown = drbd_site.ok(hostname, f"sudo drbdsetup show {VOLUME}")
        assert "quorum" in shown and "majority" in shown, shown
        assert "on-no-quorum" in shown and "io-error" in shown, shown
        (res,) = drbd_site.status(hostname)
        assert res["devices"][0]["quorum"] is True


@needs_volumes
def test_volume_is_formatted_exactly_once(drbd_site: DrbdSite, volume_up: list[StepRun]) -> None:
    formats = [run for run in volume_up if any("file system on" in c for c in run.changes)]
    assert [run.host for run in formats] == [drbd_config_format_host(drbd_site)]


def drbd_config_format_host(site: DrbdSite) -> str:
    from components.swarm import drbd_config

    return drbd_config.format_host(site.site, site.volume).hostname


@needs_volumes
def test_volume_second_run_recreates_and_reformats_nothing(drbd_site: DrbdSite, volume_up: list[StepRun]) -> None:
    host = drbd_config_format_host(drbd_site)
    uuid = file_system_uuid(drbd_site, host)
    again = [run.check() for run in drbd_site.volume_runs()]
    for run in again:
        assert run.summary == "unchanged: drbd-volume", f"{run.host}: {run.stderr}"
    assert file_system_uuid(drbd_site, host) == uuid
    assert all_up_to_date(drbd_site)


def file_system_uuid(site: DrbdSite, hostname: str) -> str:
    """The file system's UUID, read through the DRBD device (a read-only open does not promote)."""
    return site.ok(hostname, f"sudo blkid -p -s UUID -o value {site.device}").strip()


def device_bytes(site: DrbdSite, hostname: str) -> int:
    return int(site.ok(hostname, f"sudo blockdev --getsize64 {site.device}").strip())


def ext4_bytes(site: DrbdSite, hostname: str) -> int:
    out = site.ok(hostname, f"sudo dumpe2fs -h {site.device} 2>/dev/null")
    fields = dict(line.split(":", 1) for line in out.splitlines() if ":" in line)
    return int(fields["Block count"]) * int(fields["Block size"])


@needs_volumes
def test_raising_size_grows_lv_device_and_file_system_with_data_intact(
    drbd_site: DrbdSite, volume_up: list[StepRun]
) -> None:
    host = drbd_config_format_host(drbd_site)
    digest = write_known_file(drbd_site, host, "before-grow.bin")
    before = {h: device_bytes(drbd_site, h) for h in HIVES}
    fs_before = ext4_bytes(drbd_site, host)
    drbd_site.resize("128M")  # the site keeps its new size for the later tests
    for run in drbd_site.volume_runs():
        run.check()
    growfs = [run.check() for run in drbd_site.growfs_runs()]
    wait_until("every disk UpToDate after the resize", lambda: all_up_to_date(drbd_site), 600)
    for hostname in HIVES:
        assert device_bytes(drbd_site, hostname) >= before[hostname] + (60 << 20), hostname
    for hostname in (h for h in HIVES if h != DISKLESS):
        lv = int(drbd_site.ok(hostname, f"sudo lvs --noheadings --units b --nosuffix -o lv_size drbdvg/{VOLUME}"))
        assert lv == 128 << 20, hostname
    assert [r.host for r in growfs if r.changes] == [host]
    assert ext4_bytes(drbd_site, host) >= fs_before + (60 << 20)
    assert read_file_digest(drbd_site, "s-hive2", "before-grow.bin") == digest
    again = [run.check() for run in drbd_site.growfs_runs()]
    assert all(run.summary == "unchanged: drbd-growfs" for run in again), [r.stderr for r in again]


# --------------------------------------------------------------------------------------------------------------
# failover and quorum (VMs powered off)


def write_known_file(site: DrbdSite, hostname: str, name: str) -> str:
    """Mount (auto-promote), write 1 MiB of random data and its sha256, unmount (demote); return the digest."""
    out = site.ok(
        hostname,
        f"set -e; sudo mkdir -p {MOUNT}; sudo mount {site.device} {MOUNT};"
        f" sudo dd if=/dev/urandom of={MOUNT}/{name} bs=1M count=1 status=none; sync;"
        f" sudo sha256sum {MOUNT}/{name}; sudo umount {MOUNT}",
    )
    return out.split()[0]


def read_file_digest(site: DrbdSite, hostname: str, name: str) -> str:
    out = site.ok(
        hostname,
        f"set -e; sudo mkdir -p {MOUNT}; sudo mount {site.device} {MOUNT}; sudo sha256sum {MOUNT}/{name};"
        f" sudo umount {MOUNT}",
    )
    return out.split()[0]


def power_on(site: DrbdSite, hosts: list[str]) -> None:
    parallel(site.lab.power_on, hosts)


@needs_volumes
def test_failover_another_hive_promotes_with_the_file_intact(drbd_site: DrbdSite, volume_up: list[StepRun]) -> None:
    lab = drbd_site.lab
    digest = write_known_file(drbd_site, "s-hive0", "failover.bin")
    drbd_site.ok("s-hive0", f"sudo mount {drbd_site.device} {MOUNT}")  # s-hive0 is Primary when it dies
    lab.power_off("s-hive0")
    wait_until(
        "s-hive2 sees s-hive0 gone",
        lambda: disk_states(drbd_site, "s-hive2").get("s-hive0") in ("DUnknown", "Outdated"),
        120,
    )
    assert read_file_digest(drbd_site, "s-hive2", "failover.bin") == digest
    started = time.monotonic()
    power_on(drbd_site, ["s-hive0"])
    wait_until("s-hive0 back and resynced", lambda: all_up_to_date(drbd_site), 600)
    TIMINGS["failover: s-hive0 back and UpToDate"] = time.monotonic() - started


@needs_volumes
def test_quorum_survivor_cannot_write_then_resyncs(drbd_site: DrbdSite, volume_up: list[StepRun]) -> None:
    lab = drbd_site.lab
    survivor = "s-hive2"
    digest = write_known_file(drbd_site, survivor, "quorum.bin")
    drbd_site.ok(survivor, f"sudo mount {drbd_site.device} {MOUNT}")
    for hostname in ("s-hive0", DISKLESS):
        lab.power_off(hostname)
    wait_until(
        "the survivor loses quorum",
        lambda: drbd_site.status(survivor)[0]["devices"][0]["quorum"] is False,
        120,
    )
    rc, out, err = drbd_site.ssh(
        survivor, f"sudo dd if=/dev/urandom of={MOUNT}/split.bin bs=64k count=4 oflag=direct status=none", timeout=120
    )
    assert rc != 0, f"a write without quorum must fail (no split brain): {out} {err}"
    drbd_site.ssh(survivor, f"sudo umount {MOUNT} || sudo umount -l {MOUNT}", timeout=120)
    power_on(drbd_site, ["s-hive0", DISKLESS])
    wait_until("every hive back and UpToDate after quorum loss", lambda: all_up_to_date(drbd_site), 600)
    drbd_site.ssh(survivor, "sudo drbdadm secondary db_data", timeout=60)
    assert read_file_digest(drbd_site, "s-hive0", "quorum.bin") == digest


@needs_volumes
def test_a_replaced_format_host_resyncs_from_its_peers_and_nothing_is_formatted(
    drbd_site: DrbdSite, volume_up: list[StepRun]
) -> None:
    """A new machine at s-hive0's address (fresh root, empty mirrored disk — what a bumped host_generation
    brings): its steps run again, alone, in the program's order. s-hive0 is the format host, the one hive whose
    step may create a file system: it must find the peers' data and resync, never format."""
    replaced = "s-hive0"
    digest = write_known_file(drbd_site, "s-hive2", "replaced.bin")
    uuid = file_system_uuid(drbd_site, "s-hive2")
    started = time.monotonic()
    drbd_site.lab.replace_vm(replaced)
    drbd_site.ship(replaced)
    drbd_site.install(replaced, prebuilt=True).check()
    drbd_site.host_step("drbd-pool", replaced).check()
    run = drbd_site.volume_run(replaced).check()
    assert "DRBD metadata on /dev/drbdvg/db_data" in run.changes, run.stderr
    assert not [c for c in run.changes if "file system on" in c], run.stderr
    # Still syncing when the step looked ("a peer holds the data"), or synced already (a 1 GiB thin volume can
    # be UpToDate within seconds; seen in the lab): then the file system the peers' data holds is recorded.
    assert re.search(r"a peer holds the data|resynchronising|db_data has a ext4 file system", run.stderr), run.stderr
    wait_until("the replaced hive resynced from its peers", lambda: all_up_to_date(drbd_site), 900)
    TIMINGS["replaced s-hive0: new VM to UpToDate"] = time.monotonic() - started
    assert file_system_uuid(drbd_site, replaced) == uuid
    assert read_file_digest(drbd_site, replaced, "replaced.bin") == digest


# --------------------------------------------------------------------------------------------------------------
# a swarm service on the DRBD volume (the program's docker and swarm steps in the VMs)

SERVICE = "db"
SERVICE_IMAGE = "hive-vmlab/busybox:1"
# A one-binary image made on each hive from Debian's busybox-static (in the VM image; the VMs have no registry):
# swarm runs it by its tag on every hive (--no-resolve-image), as a site's hives run their registry's digests.
BUILD_IMAGE = (
    "set -e; d=$(mktemp -d); mkdir -p $d/bin $d/data; cp /bin/busybox $d/bin/busybox;"
    f" sudo tar -C $d -c . | sudo docker import - {SERVICE_IMAGE} >/dev/null; rm -rf $d"
)
# The task writes 1 MiB of random data once (a task that finds it keeps it) and then only holds the volume.
SERVICE_SCRIPT = (
    "B=/bin/busybox; $B test -f /data/service.bin || { $B head -c 1048576 /dev/urandom > /data/service.bin.new"
    " && $B sync && $B mv /data/service.bin.new /data/service.bin && $B sync; }; exec $B sleep 1000000"
)


def mount_flag(spec: dict[str, Any]) -> str:
    """The program's mount input (``service_spec.mount_input``: what kreuzwerker sends as the task's Mount) as
    ``docker service create --mount``: VolumeOptions.DriverConfig is volume-driver/volume-opt."""
    parts = [f"type={spec['type']}", f"source={spec['source']}", f"target={spec['target']}"]
    options = spec.get("volume_options", {})
    if "driver_name" in options:
        parts.append(f"volume-driver={options['driver_name']}")
    parts += [f"volume-opt={k}={v}" for k, v in options.get("driver_options", {}).items()]
    return ",".join(parts)


def task_container(site: DrbdSite, hostname: str) -> str:
    """The id of the service's running container on this hive, or ''."""
    return site.ok(
        hostname, f"sudo docker ps -q --filter label=com.docker.swarm.service.name={SERVICE}", timeout=60
    ).strip()


def running_task(site: DrbdSite, hosts: list[str]) -> tuple[str, str] | None:
    """(hive, digest of /data/service.bin) where the service's task runs and has written its file."""
    for hostname in hosts:
        container = task_container(site, hostname)
        if container:
            rc, out, _ = site.ssh(hostname, f"sudo docker exec {container} /bin/busybox sha256sum /data/service.bin")
            return (hostname, out.split()[0]) if rc == 0 else None
    return None


def ready_managers(site: DrbdSite, hostname: str) -> int:
    out = site.ok(hostname, "sudo docker node ls --format '{{.Status}} {{.ManagerStatus}}'", timeout=60)
    return sum(1 for line in out.splitlines() if line.startswith("Ready") and line.split()[1:])


@pytest.fixture(scope="session")
def swarm(drbd_site: DrbdSite, volume_up: list[StepRun]) -> None:
    """The program's docker step (host certificates from a lab server CA, a separate client CA), swarm-init on
    the first hive, swarm-join everywhere with the manager token on stdin — as the provisioner runs them."""
    server_ca, client_ca = LabCa("vmlab server CA"), LabCa("vmlab client CA")

    def docker(hostname: str) -> None:
        key, cert = server_ca.issue(drbd_site.host(hostname).private_ip)
        started = time.monotonic()
        drbd_site.host_step("docker", hostname, stdin=key + cert + server_ca.pem + client_ca.pem).check()
        TIMINGS[f"docker step {hostname}"] = time.monotonic() - started
        drbd_site.ok(hostname, BUILD_IMAGE, timeout=600)

    parallel(docker, HIVES)
    drbd_site.host_step("swarm-init", HIVES[0]).check()
    token = drbd_site.ok(HIVES[0], "sudo docker swarm join-token -q manager", timeout=60).strip()
    parallel(lambda h: drbd_site.host_step("swarm-join", h, stdin=token).check(), HIVES)
    wait_until("three ready managers", lambda: ready_managers(drbd_site, HIVES[0]) == len(HIVES), 300)


@needs_volumes
def test_a_service_on_the_drbd_volume_follows_a_powered_off_hive_with_its_data(
    drbd_site: DrbdSite, swarm: None
) -> None:
    """A swarm service mounts the volume as the program renders it (docker's local driver on /dev/drbdN: the
    hive that opens it becomes Primary); its hive is powered off; swarm starts the task on another hive, which
    auto-promotes, and the file the first task wrote is there, byte for byte."""
    service = next(s for s in drbd_site.site.catalog.services if s.name == SERVICE)
    (mount,) = service.volumes
    spec = service_spec.mount_input(mount, {v.name: v for v in drbd_site.site.volumes}, service_spec.SiteNumbers(
        drbd_site.site))  # fmt: skip
    assert spec["volume_options"]["driver_options"]["device"] == drbd_site.device
    drbd_site.ok(
        HIVES[0],
        f"sudo docker service create --detach --quiet --name {SERVICE} --no-resolve-image --replicas 1"
        f" --update-order {update_policy.update_order(drbd_site.site, service)} --mount {mount_flag(spec)}"
        f" {SERVICE_IMAGE} /bin/busybox sh -c {shlex.quote(SERVICE_SCRIPT)}",
        timeout=120,
    )
    first, digest = wait_until("the task writes its file", lambda: running_task(drbd_site, list(HIVES)), 300)
    assert primaries(drbd_site) == [first]

    started = time.monotonic()
    drbd_site.lab.power_off(first)
    survivors = [h for h in HIVES if h != first]
    second, digest_after = wait_until(
        f"the task running again on another hive after {first} was powered off",
        lambda: running_task(drbd_site, survivors),
        600,
    )
    TIMINGS[f"service failover: {first} powered off → task with its data on {second}"] = time.monotonic() - started
    assert digest_after == digest
    assert primaries(drbd_site, survivors) == [second]

    started = time.monotonic()
    power_on(drbd_site, [first])
    wait_until(f"{first} back: resynced and a ready manager", lambda: all_up_to_date(drbd_site)
               and ready_managers(drbd_site, second) == len(HIVES), 900)  # fmt: skip
    TIMINGS[f"service failover: {first} back, UpToDate and a ready manager"] = time.monotonic() - started
    assert running_task(drbd_site, list(HIVES)) == (second, digest)  # the task stays where it runs

    drbd_site.ok(second, f"sudo docker service rm {SERVICE}", timeout=60)
    wait_until("the volume released on every hive", lambda: primaries(drbd_site) == [], 300)


def primaries(site: DrbdSite, hosts: list[str] | tuple[str, ...] = HIVES) -> list[str]:
    """The hives whose DRBD role for the volume is Primary."""
    return [h for h in hosts if site.status(h)[0]["role"] == "Primary"]
