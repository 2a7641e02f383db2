"""The local provider's capability list: CapBnd parsing and what is always left out."""

from __future__ import annotations

from pathlib import Path

from components.infra.local_caps import (
    CAPABILITY_NAMES,
    ENGINE_MAY_REJECT,
    bounding_set,
    capability_names,
    container_capabilities,
    read_proc_status,
)

# /proc/self/status of the CI machine this was built on: everything up to CHECKPOINT_RESTORE but SYS_RESOURCE.
CI_STATUS = "Name:\tcat\nCapInh:\t0000000000000000\nCapPrm:\t000001fffeffffff\nCapBnd:\t000001fffeffffff\n"
FULL_41 = (1 << 41) - 1


def test_bounding_set_is_read_from_the_capbnd_line():
    assert bounding_set(CI_STATUS) == 0x1FFFEFFFFFF
    assert bounding_set("Name:\tx\nCapPrm:\t0000003fffffffff\n") is None


def test_names_follow_the_kernel_bit_order():
    assert len(CAPABILITY_NAMES) == 41
    assert capability_names(1) == ["CHOWN"]
    assert capability_names(1 << 21) == ["SYS_ADMIN"]
    assert capability_names(1 << 40) == ["CHECKPOINT_RESTORE"]
    assert capability_names(FULL_41) == list(CAPABILITY_NAMES)
    # bits a newer kernel may add are ignored rather than guessed
    assert capability_names(FULL_41 | 1 << 41 | 1 << 50) == list(CAPABILITY_NAMES)


def test_the_ci_machine_has_no_sys_resource():
    caps = container_capabilities(CI_STATUS)
    assert "SYS_RESOURCE" not in caps
    assert {"SYS_ADMIN", "NET_ADMIN", "SYS_MODULE", "MKNOD", "AUDIT_READ"} <= set(caps)


def test_names_an_old_engine_rejects_are_always_left_out():
    assert sorted(ENGINE_MAY_REJECT) == ["BPF", "CHECKPOINT_RESTORE", "PERFMON"]
    for status in (CI_STATUS, f"CapBnd:\t{FULL_41:016x}\n", None, "Name:\tx\n"):
        assert not set(container_capabilities(status)) & ENGINE_MAY_REJECT


def test_without_procfs_every_known_capability_is_added():
    expected = [n for n in CAPABILITY_NAMES if n not in ENGINE_MAY_REJECT]
    assert container_capabilities(None) == expected
    assert container_capabilities("Name:\tx\n") == expected
    assert read_proc_status(Path("/nonexistent/status")) is None


def test_this_process_status_is_readable_on_linux():
    status = read_proc_status()
    if status is not None:
        assert bounding_set(status) is not None
