"""The DRBD host steps' input checks and their no-op paths (hostsetup/drbd-*.sh).

Only paths that end before a step touches the machine run here (bad input, a diskless hive, a volume that is
not configured, no DRBD module in this kernel); shellcheck and the conventions are in test_hostsetup_scripts.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

HOSTSETUP = Path(__file__).resolve().parents[2] / "hostsetup"
GOLDEN = Path(__file__).parent / "golden" / "drbd_three_hives_one_diskless.res"
VOLUME_ENV = {
    "HIVE_VOLUME": "db_data",
    "HIVE_MINOR": "12",
    "HIVE_SIZE": str(1 << 30),
    "HIVE_FSTYPE": "xfs",
    "HIVE_DISKLESS": "0",
    "HIVE_FORMAT": "1",
}

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="the steps refuse to run without root (require_root)")


def step(name: str, env: dict[str, str], stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", str(HOSTSETUP / f"{name}.sh")],
        env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", **env},
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_volume_needs_its_environment() -> None:
    result = step("drbd-volume", {"HIVE_VOLUME": "db_data"})
    assert result.returncode == 2
    assert "missing environment: HIVE_MINOR HIVE_SIZE HIVE_FSTYPE HIVE_DISKLESS HIVE_FORMAT" in result.stderr


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ({"HIVE_MINOR": "0"}, "HIVE_MINOR '0' is not in 1..255"),
        ({"HIVE_MINOR": "256"}, "HIVE_MINOR '256' is not in 1..255"),
        ({"HIVE_SIZE": "1G"}, "HIVE_SIZE '1G' is not a size in bytes"),
        ({"HIVE_SIZE": "1024"}, "HIVE_SIZE '1024' is not a size in bytes of at least 16 MiB"),
        ({"HIVE_FSTYPE": "btrfs"}, "HIVE_FSTYPE 'btrfs' is not xfs or ext4"),
        ({"HIVE_VOLUME": "../x"}, "HIVE_VOLUME '../x' is not a volume name"),
        ({"HIVE_DISKLESS": "yes"}, "HIVE_DISKLESS and HIVE_FORMAT must be 0 or 1"),
        ({"HIVE_DISKLESS": "1"}, "the format host must hold a copy"),
        ({"HIVE_VG": "bad vg"}, "HIVE_VG 'bad vg' is not a volume group name"),
    ],
)
def test_volume_rejects_bad_input(override: dict[str, str], message: str) -> None:
    result = step("drbd-volume", {**VOLUME_ENV, **override}, GOLDEN.read_text())
    assert result.returncode == 1
    assert message in result.stderr
    assert result.stdout == ""


def test_volume_wants_the_resource_file_on_stdin() -> None:
    result = step("drbd-volume", VOLUME_ENV, "resource other {\n}\n")
    assert result.returncode == 1
    assert "stdin is not the resource file of volume db_data" in result.stderr


@pytest.mark.skipif(Path("/sys/module/drbd").exists(), reason="this kernel has DRBD loaded")
def test_volume_needs_the_module() -> None:
    result = step("drbd-volume", VOLUME_ENV, GOLDEN.read_text())
    assert result.returncode == 1
    assert "the DRBD kernel module is not loaded (the drbd-install step)" in result.stderr
    assert not Path("/etc/drbd.d/db_data.res").exists() or Path("/sys/module/drbd").exists()


def test_growfs_without_the_device_does_nothing() -> None:
    env = {"HIVE_VOLUME": "db_data", "HIVE_MINOR": "254", "HIVE_FSTYPE": "ext4", "HIVE_FORMAT": "1"}
    if Path("/sys/block/drbd254").exists():
        pytest.skip("/dev/drbd254 exists here")
    result = step("drbd-growfs", env)
    assert result.returncode == 0, result.stderr
    assert "/dev/drbd254 is not configured on this hive: nothing to grow" in result.stderr
    assert result.stderr.splitlines()[-1] == "unchanged: drbd-growfs"


def test_growfs_rejects_bad_input() -> None:
    env = {"HIVE_VOLUME": "db_data", "HIVE_MINOR": "1", "HIVE_FSTYPE": "zfs", "HIVE_FORMAT": "0"}
    result = step("drbd-growfs", env)
    assert result.returncode == 1 and "HIVE_FSTYPE 'zfs' is not xfs or ext4" in result.stderr


def test_pool_on_a_diskless_hive_reports_and_exits() -> None:
    result = step("drbd-pool", {"HIVE_DISKLESS": "1"})
    assert result.returncode == 0, result.stderr
    assert "this hive is diskless (no mirrored disk)" in result.stderr
    assert result.stderr.splitlines()[-1] == "unchanged: drbd-pool"
    bad = step("drbd-pool", {"HIVE_DISKLESS": "maybe"})
    assert bad.returncode == 1 and "HIVE_DISKLESS must be 0 or 1" in bad.stderr


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"HIVE_DRBD_VERSION": "9.2.16"}, "missing environment: HIVE_DRBD_URL"),
        ({"HIVE_DRBD_VERSION": "8.4.11", "HIVE_DRBD_URL": "https://x/y.tgz"}, "is not a DRBD 9 release"),
        ({"HIVE_DRBD_VERSION": "9.2.16", "HIVE_DRBD_URL": "ftp://x/{version}.tgz"}, "ftp://x/9.2.16.tgz' is not"),
        ({"HIVE_DRBD_VERSION": "9.2.16", "HIVE_DRBD_URL": "http://x/y.tgz"}, "'http://x/y.tgz' is not an https URL"),
        (
            {"HIVE_DRBD_VERSION": "9.2.16", "HIVE_DRBD_URL": "https://x/y.tgz", "HIVE_DRBD_SHA256": "abc"},
            "HIVE_DRBD_SHA256 'abc' is not 64 hexadecimal digits",
        ),
        (
            {
                "HIVE_DRBD_VERSION": "9.2.16",
                "HIVE_DRBD_URL": "https://x/y.tgz",
                "HIVE_DRBD_MODULE_URL": "/tmp/{version}",
            },
            "HIVE_DRBD_MODULE_URL '/tmp/9.2.16' is not an https URL",
        ),
    ],
)
def test_install_rejects_bad_input(env: dict[str, str], message: str) -> None:
    result = step("drbd-install", env)
    assert result.returncode in (1, 2)
    assert message in result.stderr
