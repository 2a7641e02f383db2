"""Fixtures of the VM lab: one lab of three hive VMs for the whole session, shared by every DRBD test.

Skipped with the reason only where QEMU cannot run at all (not root, no qemu-system-x86_64, no /dev/net/tun);
CI installs QEMU (.ci/run), so there these tests run. HIVE_VMLAB_KEEP=1 keeps the VMs of a failed session for
inspection (``ip a`` shows the bridge; the next session removes them).
"""

from __future__ import annotations

import functools
import http.server
import ipaddress
import os
import ssl
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.vmlab import image as vmimage
from tests.vmlab.lab import VmLab, VmLabUnavailable, check_available, free_subnet, remove_stale_labs
from tests.vmlab.pki import LabCa

DRBD_TARBALL = Path(os.environ.get("HIVE_VMLAB_DRBD_TARBALL", "/work/shared/drbd/drbd-9.2.16.tar.gz"))
HIVES = ("s-hive0", "s-hive1", "s-hive2")
TIMINGS: dict[str, float] = {}  # what the session measured, printed in pytest's summary (the README quotes them)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "vmlab: runs in QEMU virtual machines (real kernels: DRBD, device-mapper); one shared lab"
    )


def lab_addresses(cidr: str) -> dict[str, str]:
    """The hives' addresses: the rehearsal stage's rule (hive i in the i-th quarter of the network, at +5)."""
    network = ipaddress.ip_network(cidr)
    quarters = list(network.subnets(new_prefix=network.prefixlen + 2))
    return {name: str(quarters[i][5]) for i, name in enumerate(HIVES)}


@pytest.fixture(scope="session")
def vm_image() -> vmimage.VmImage:
    try:
        check_available()
    except VmLabUnavailable as exc:
        pytest.skip(f"VM lab unavailable: {exc}")
    return vmimage.vm_image()


@pytest.fixture(scope="session")
def vmlab(vm_image: vmimage.VmImage, request: pytest.FixtureRequest) -> Iterator[VmLab]:
    """Three hive VMs (s-hive0..2, each with an empty 4 GiB second disk /dev/vdb), booted in parallel."""
    for name in remove_stale_labs():
        print(f"removed stale VM lab {name} (its process is gone)")
    name = f"hv{os.getpid():x}"
    cidr = free_subnet(seed=name)
    lab = VmLab(name, cidr, vm_image)
    failed_before = request.session.testsfailed
    try:
        started = time.monotonic()
        lab.start_vms(lab_addresses(cidr).items())
        TIMINGS[f"boot of {len(HIVES)} VMs in parallel to SSH ({lab.accel})"] = time.monotonic() - started
    except BaseException:
        lab.close()
        raise
    yield lab
    if request.session.testsfailed > failed_before and os.environ.get("HIVE_VMLAB_KEEP"):
        print(f"keeping VM lab {lab.name} (HIVE_VMLAB_KEEP): {lab.cidr}, state in {lab.directory}")
        return
    lab.close()


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if TIMINGS:
        terminalreporter.write_sep("-", "VM lab timings (seconds)")
        for what, seconds in TIMINGS.items():
            terminalreporter.write_line(f"{seconds:7.0f}  {what}")


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        return


def _tls_context(address: str) -> tuple[ssl.SSLContext, str]:
    """A throwaway CA and a server certificate for ``address`` (the host steps download over https only)."""
    ca = LabCa("vmlab files CA")
    key_pem, cert_pem = ca.issue(address)
    directory = Path(tempfile.mkdtemp(prefix="vmlab-tls-"))
    (directory / "cert.pem").write_text(cert_pem)
    (directory / "key.pem").write_text(key_pem)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(directory / "cert.pem", directory / "key.pem")
    return context, ca.pem


@pytest.fixture(scope="session")
def file_server(vmlab: VmLab) -> Iterator[tuple[str, Path, str]]:
    """(base URL, directory, CA certificate PEM): an https server on the lab's gateway address serving one
    directory — the DRBD source tarball (nothing outside Debian's mirror is reachable) and the prebuilt module
    package. https because drbd-install.sh refuses anything else; the hosts trust its CA through
    CURL_CA_BUNDLE (drbd_site.DrbdSite.install)."""
    directory = vmlab.directory / "www"
    directory.mkdir(exist_ok=True)
    if not DRBD_TARBALL.is_file():
        pytest.fail(f"{DRBD_TARBALL} is missing (HIVE_VMLAB_DRBD_TARBALL names the DRBD 9 source tarball)")
    (directory / DRBD_TARBALL.name).symlink_to(DRBD_TARBALL)
    handler = functools.partial(_Quiet, directory=str(directory))
    server = http.server.ThreadingHTTPServer((vmlab.gateway, 0), handler)
    context, ca_pem = _tls_context(vmlab.gateway)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"https://{vmlab.gateway}:{server.server_address[1]}", directory, ca_pem
    server.shutdown()
    server.server_close()
