"""The VM lab itself: three Debian 13 VMs with their own kernel, a second disk, the lab's key, Debian's mirror."""

from __future__ import annotations

import pytest

from tests.vmlab.conftest import HIVES, lab_addresses
from tests.vmlab.lab import VmLab

pytestmark = pytest.mark.vmlab


def test_each_vm_is_the_named_host_at_its_address(vmlab: VmLab) -> None:
    for name, ip in lab_addresses(vmlab.cidr).items():
        rc, out, err = vmlab.ssh(ip, "uname -n; ip -4 -o addr show dev eth0", timeout=60)
        assert rc == 0, err
        assert out.splitlines()[0] == name
        assert f"inet {ip}/" in out


def test_each_vm_runs_debian_13_kernel_with_an_empty_second_disk(vmlab: VmLab) -> None:
    for ip in lab_addresses(vmlab.cidr).values():
        rc, out, err = vmlab.ssh(
            ip,
            "uname -r; . /etc/os-release; echo $VERSION_ID; lsblk -dno NAME,SIZE,TYPE /dev/vdb; "
            "sudo blkid -p /dev/vdb; echo blkid=$?",
            timeout=60,
        )
        assert rc == 0, err
        lines = out.splitlines()
        assert lines[0] == vmlab.image.release
        assert lines[1] == "13"
        assert lines[2].split() == ["vdb", "4G", "disk"]
        assert lines[-1] == "blkid=2", "the mirrored disk must carry no signature"


def test_vms_reach_each_other_and_debian_mirror(vmlab: VmLab) -> None:
    addresses = lab_addresses(vmlab.cidr)
    first = addresses[HIVES[0]]
    others = " ".join(addresses[h] for h in HIVES[1:])
    probe = f"for ip in {others}; do sudo ping -c1 -W5 $ip >/dev/null || echo unreachable $ip; done"
    rc, out, err = vmlab.ssh(first, f"{probe}; sudo apt-get update -qq && echo mirror-ok", timeout=600)
    assert rc == 0, err
    assert "unreachable" not in out
    assert "mirror-ok" in out
