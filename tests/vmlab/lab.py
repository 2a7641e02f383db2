"""The VM lab: Debian 13 virtual machines (QEMU) on a bridge of this machine, for what a container cannot do —
load DRBD's kernel module, device-mapper thin pools, power a machine off.

    lab = VmLab("hv1234-drbd", "10.232.7.0/24")        # a bridge, NAT to Debian's mirror, an SSH key
    lab.start_vms([("s-hive0", ip0), ("s-hive1", ip1), ...])   # booted in parallel, each with a second disk
    lab.ssh(ip, "sudo ...") -> (rc, out, err)
    lab.power_off("s-hive1"); lab.power_on("s-hive1")  # the same disks; replace_vm(): fresh disks, same address
    lab.close()                                        # VMs killed, taps/bridge/NAT rules and disks removed

Like the container lab (tests/rehearsal/lab.py, whose SSH helpers and key generation this reuses), a lab
records its owner process in its state directory (``STATE_DIR/<name>/owner``); ``remove_stale_labs()`` removes
the labs of processes that are gone (a killed test session), so nothing accumulates.

Accelerator: KVM when ``/dev/kvm`` can run a guest (``HIVE_VMLAB_ACCEL=kvm`` forces it, ``tcg`` forbids it);
the probe boots the image's kernel for a few seconds with ``-accel kvm`` and looks for its first console line.
Under TCG a VM answers SSH in about a minute (1 vCPU, ``VM_MEMORY_MIB``).
"""

from __future__ import annotations

import base64
import contextlib
import ipaddress
import os
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from tests.rehearsal.lab import (
    ADMIN_USER,
    _owner_alive,
    _owner_token,
    file_lock,
    generate_ssh_key,
    ssh_connect,
    ssh_run,
)
from tests.vmlab.image import CACHE_DIR, VmImage

STATE_DIR = Path(os.environ.get("HIVE_VMLAB_STATE", "/run/hive-vmlab"))
VM_MEMORY_MIB = int(os.environ.get("HIVE_VMLAB_MEMORY", "1536"))
DATA_DISK_SIZE = "4G"  # the mirrored disk (/dev/vdb)
SSH_READY_TIMEOUT = float(os.environ.get("HIVE_VMLAB_BOOT_TIMEOUT", "900"))
RULE_COMMENT = "hive-vmlab"


class VmLabUnavailable(RuntimeError):
    """QEMU cannot run here (not root, no qemu-system-x86_64, no /dev/net/tun...); str() is the reason."""


def check_available() -> None:
    if os.geteuid() != 0:
        raise VmLabUnavailable("the VM lab needs root (bridge, tap devices, NAT)")
    for tool in ("qemu-system-x86_64", "qemu-img", "debootstrap", "mke2fs", "ip", "iptables"):
        if shutil.which(tool) is None:
            raise VmLabUnavailable(f"{tool} is not installed (.ci/run installs it)")
    if not Path("/dev/net/tun").exists():
        raise VmLabUnavailable("/dev/net/tun is missing: no tap devices")


def _sh(*argv: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(argv, capture_output=True, text=True, stdin=subprocess.DEVNULL, check=False)
    if check and proc.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed (rc={proc.returncode}): {proc.stderr.strip()}")
    return proc


# --------------------------------------------------------------------------------------------------------------
# Accelerator


_ACCEL: dict[str, str] = {}


def accelerator(image: VmImage) -> str:
    """``kvm`` when /dev/kvm runs a guest here, else ``tcg`` (probed once per process, see the module doc)."""
    forced = os.environ.get("HIVE_VMLAB_ACCEL", "")
    if forced in ("kvm", "tcg"):
        return forced
    if "accel" not in _ACCEL:
        _ACCEL["accel"] = "kvm" if _kvm_boots(image) else "tcg"
    return _ACCEL["accel"]


def _kvm_boots(image: VmImage, seconds: float = 15.0) -> bool:
    if not os.access("/dev/kvm", os.R_OK | os.W_OK):
        return False
    argv = [
        "qemu-system-x86_64", "-accel", "kvm", "-cpu", "host", "-m", "256", "-nodefaults", "-display", "none",
        "-no-reboot", "-serial", "stdio", "-kernel", str(image.kernel), "-append", "console=ttyS0 panic=-1",
    ]  # fmt: skip
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    seen = b""
    deadline = time.monotonic() + seconds
    try:
        assert proc.stdout is not None
        os.set_blocking(proc.stdout.fileno(), False)
        while time.monotonic() < deadline and proc.poll() is None:
            chunk = proc.stdout.read() or b""
            seen += chunk
            if b"Linux version" in seen:
                return True
            time.sleep(0.2)
        return False
    finally:
        proc.kill()
        proc.wait()


# --------------------------------------------------------------------------------------------------------------
# Lab


@dataclass
class Vm:
    name: str
    ip: str
    index: int
    mac: str
    tap: str
    directory: Path
    process: subprocess.Popen[bytes] | None = None
    boots: list[float] = field(default_factory=list)  # seconds from start to SSH, per boot

    @property
    def console(self) -> Path:
        return self.directory / "console.log"

    def console_tail(self, lines: int = 25) -> str:
        with contextlib.suppress(OSError):
            return "\n".join(self.console.read_text(errors="replace").splitlines()[-lines:])
        return "(no console output)"


def _short(name: str) -> str:
    import hashlib

    return hashlib.sha256(name.encode()).hexdigest()[:6]


class VmLab:
    """Hive VMs on one bridge (``cidr``'s first address is this machine, the gateway and NAT for the guests)."""

    def __init__(self, name: str, cidr: str, image: VmImage, log: Callable[[str], None] = print) -> None:
        check_available()
        self.name = name
        self.cidr = cidr
        network = ipaddress.ip_network(cidr)
        self.gateway = str(network[1])
        self.image = image
        self.log = log
        self.accel = accelerator(image)
        self.bridge = f"hvb{_short(name)}"
        self.directory = STATE_DIR / name
        self.private_key_pem, self.public_key_openssh = generate_ssh_key("hive-vmlab")
        self.vms: dict[str, Vm] = {}
        self._lock = threading.Lock()
        self._closed = False
        self.directory.mkdir(parents=True, exist_ok=False)
        (self.directory / "owner").write_text(_owner_token())
        (self.directory / "cidr").write_text(cidr)
        # for a look inside a kept lab: ssh -i <dir>/id_ed25519 admin@<ip> (a throwaway key, root-only file)
        key = self.directory / "id_ed25519"
        key.touch(mode=0o600)
        key.write_text(self.private_key_pem)
        self._network_up()

    # -- network -------------------------------------------------------------------------------------------
    def _rules(self) -> list[tuple[str, ...]]:
        tag = ("-m", "comment", "--comment", f"{RULE_COMMENT}:{self.name}")
        return [
            ("nat", "POSTROUTING", "-s", self.cidr, "!", "-d", self.cidr, "-j", "MASQUERADE", *tag),
            ("filter", "FORWARD", "-i", self.bridge, "-j", "ACCEPT", *tag),
            ("filter", "FORWARD", "-o", self.bridge, "-j", "ACCEPT", *tag),
        ]

    def _network_up(self) -> None:
        _sh("ip", "link", "add", self.bridge, "type", "bridge")
        _sh("ip", "addr", "add", f"{self.gateway}/{ipaddress.ip_network(self.cidr).prefixlen}", "dev", self.bridge)
        _sh("ip", "link", "set", self.bridge, "up")
        (self.directory / "bridge").write_text(self.bridge)
        Path("/proc/sys/net/ipv4/ip_forward").write_text("1")
        for table, chain, *rule in self._rules():
            _sh("iptables", "-t", table, "-I", chain, "1", *rule)

    # -- VMs -----------------------------------------------------------------------------------------------
    def start_vms(self, vms: Iterable[tuple[str, str]]) -> list[Vm]:
        """Create and boot VMs (name, ip) in parallel; return when each answers SSH."""
        items = list(vms)
        made = [self._create(name, ip) for name, ip in items]
        with ThreadPoolExecutor(max_workers=len(made) or 1) as pool:
            list(pool.map(self.power_on, [vm.name for vm in made]))
        return made

    def _create(self, name: str, ip: str) -> Vm:
        with self._lock:
            index = len(self.vms)
            tap = f"hvt{_short(self.name)}{index}"
            vm = Vm(name, ip, index, f"52:54:00:{_short(self.name)[:2]}:{_short(name)[:2]}:{index:02x}", tap,
                    self.directory / name)  # fmt: skip
            self.vms[name] = vm
        self._fresh_disks(vm)
        _sh("ip", "tuntap", "add", "dev", tap, "mode", "tap")
        _sh("ip", "link", "set", tap, "master", self.bridge)
        _sh("ip", "link", "set", tap, "up")
        return vm

    def _fresh_disks(self, vm: Vm) -> None:
        vm.directory.mkdir(parents=True, exist_ok=True)
        for disk in ("root.qcow2", "data.raw"):
            (vm.directory / disk).unlink(missing_ok=True)
        _sh("qemu-img", "create", "-q", "-f", "qcow2", "-F", "raw", "-b", str(self.image.root),
            str(vm.directory / "root.qcow2"))  # fmt: skip
        _sh("qemu-img", "create", "-q", "-f", "raw", str(vm.directory / "data.raw"), DATA_DISK_SIZE)

    def vm(self, name: str) -> Vm:
        return self.vms[name]

    def power_on(self, name: str) -> float:
        """Boot VM ``name`` (its disks as they are); return the seconds until SSH answered."""
        vm = self.vms[name]
        if vm.process is not None and vm.process.poll() is None:
            raise RuntimeError(f"{name} is running")
        network = ipaddress.ip_network(self.cidr)
        key = base64.b64encode(self.public_key_openssh.encode()).decode()
        cmdline = " ".join([
            "root=/dev/vda", "rw", "console=ttyS0", "net.ifnames=0", "systemd.show_status=0",
            # nothing a hive needs, and slow to probe under TCG
            "modprobe.blacklist=kvm,kvm_amd,kvm_intel,cfg80211,pcspkr,joydev,floppy",
            "mitigations=off", "cryptomgr.notests", "nowatchdog", "audit=0",
            f"hive.ip={vm.ip}/{network.prefixlen}", f"hive.gw={self.gateway}", f"hive.dns={_nameserver()}",
            f"hive.hostname={name}", f"hive.key={key}",
        ])  # fmt: skip
        accel = ["-accel", "kvm", "-cpu", "host"] if self.accel == "kvm" else ["-accel", "tcg", "-cpu", "max"]
        argv = [
            "qemu-system-x86_64", "-name", f"hive-vmlab:{self.name}:{name}", *accel, "-smp", "1",
            "-m", str(VM_MEMORY_MIB), "-nodefaults", "-display", "none", "-no-reboot",
            "-serial", f"file:{vm.console}", "-kernel", str(self.image.kernel), "-initrd", str(self.image.initrd),
            "-append", cmdline,
            "-drive", f"file={vm.directory / 'root.qcow2'},if=virtio,format=qcow2",
            "-drive", f"file={vm.directory / 'data.raw'},if=virtio,format=raw",
            "-netdev", f"tap,id=net0,ifname={vm.tap},script=no,downscript=no",
            "-device", f"virtio-net-pci,netdev=net0,mac={vm.mac}",
            "-device", "virtio-rng-pci",
        ]  # fmt: skip
        started = time.monotonic()
        with (vm.directory / "qemu.err").open("wb") as err:
            vm.process = subprocess.Popen(
                argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err, start_new_session=True
            )
        (vm.directory / "pid").write_text(str(vm.process.pid))
        self.wait_ssh(vm, started)
        took = time.monotonic() - started
        vm.boots.append(took)
        self.log(f"vmlab: {name} ({vm.ip}, {self.accel}) answers SSH after {took:.0f}s")
        return took

    def wait_ssh(self, vm: Vm, started: float, timeout: float = SSH_READY_TIMEOUT) -> None:
        deadline = started + timeout
        last = ""
        while time.monotonic() < deadline:
            if vm.process is not None and vm.process.poll() is not None:
                err = (vm.directory / "qemu.err").read_text(errors="replace").strip()
                raise RuntimeError(f"{vm.name}: qemu exited rc={vm.process.returncode}: {err}\n{vm.console_tail()}")
            try:
                rc, out, _ = ssh_run(vm.ip, 22, ADMIN_USER, self.private_key_pem, "systemctl is-system-running --wait",
                                     timeout=60, connect_timeout=5, attempts=1)  # fmt: skip
                if out.strip() in ("running", "degraded"):
                    return
                last = f"system is {out.strip()!r} (rc={rc})"
            except Exception as exc:
                last = f"{type(exc).__name__}: {exc}"
            time.sleep(3)
        raise TimeoutError(
            f"{vm.name} ({vm.ip}) did not answer SSH within {timeout:.0f}s (last: {last});"
            f" console:\n{vm.console_tail()}"
        )

    def power_off(self, name: str) -> None:
        """Pull the plug: the VM's process is killed, its disks keep what reached them."""
        vm = self.vms[name]
        if vm.process is not None and vm.process.poll() is None:
            vm.process.kill()
            vm.process.wait(timeout=30)
        vm.process = None

    def replace_vm(self, name: str) -> float:
        """A new machine at the same address: powered off, fresh root and empty mirrored disk, booted."""
        self.power_off(name)
        vm = self.vms[name]
        self._fresh_disks(vm)
        return self.power_on(name)

    def is_running(self, name: str) -> bool:
        process = self.vms[name].process
        return process is not None and process.poll() is None

    # -- SSH -----------------------------------------------------------------------------------------------
    def ssh(self, host_ip: str, command: str, stdin: str | bytes | None = None, env: dict[str, str] | None = None,
            user: str = ADMIN_USER, timeout: float | None = None) -> tuple[int, str, str]:  # fmt: skip
        return ssh_run(host_ip, 22, user, self.private_key_pem, command, stdin=stdin, env=env, timeout=timeout)

    def connect(self, host_ip: str, user: str = ADMIN_USER) -> object:
        return ssh_connect(host_ip, 22, user, self.private_key_pem)

    # -- cleanup -------------------------------------------------------------------------------------------
    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        for name in list(self.vms):
            with contextlib.suppress(Exception):
                self.power_off(name)
        remove_lab(self.name)

    def __enter__(self) -> VmLab:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _nameserver() -> str:
    for line in Path("/etc/resolv.conf").read_text().splitlines():
        words = line.split()
        if len(words) >= 2 and words[0] == "nameserver" and not words[1].startswith("127."):
            return words[1]
    return "1.1.1.1"


def remove_lab(name: str) -> None:
    """Kill the lab's VMs, delete its taps, bridge, NAT/forward rules and state directory."""
    directory = STATE_DIR / name
    for pidfile in directory.glob("*/pid"):
        with contextlib.suppress(ValueError, OSError):
            pid = int(pidfile.read_text())
            if f"hive-vmlab:{name}:".encode() in Path(f"/proc/{pid}/cmdline").read_bytes():
                os.kill(pid, signal.SIGKILL)
                for _ in range(100):
                    if not Path(f"/proc/{pid}").exists():
                        break
                    time.sleep(0.1)
    tag = f"{RULE_COMMENT}:{name}"
    for table in ("nat", "filter"):
        for line in _sh("iptables", "-t", table, "-S", check=False).stdout.splitlines():
            if f'"{tag}"' in line or f" {tag} " in line + " ":
                _sh("iptables", "-t", table, *line.replace("-A ", "-D ", 1).replace('"', "").split(), check=False)
    bridge = f"hvb{_short(name)}"
    for link in _sh("ip", "-o", "link", "show", check=False).stdout.splitlines():
        dev = link.split(":")[1].strip().split("@")[0]
        if dev.startswith(f"hvt{_short(name)}"):
            _sh("ip", "link", "del", dev, check=False)
    _sh("ip", "link", "del", bridge, check=False)
    shutil.rmtree(directory, ignore_errors=True)


def remove_stale_labs() -> list[str]:
    """Remove the labs whose owning process is gone; return their names."""
    removed = []
    with file_lock(CACHE_DIR / "labs.lock"):
        for directory in sorted(STATE_DIR.glob("*")) if STATE_DIR.is_dir() else []:
            owner = directory / "owner"
            token = owner.read_text() if owner.is_file() else ""
            if not token or not _owner_alive(token):
                remove_lab(directory.name)
                removed.append(directory.name)
    return removed


def free_subnet(base: str = "10.232.0.0/16", prefix: int = 24, seed: str = "") -> str:
    """A /24 in ``base`` no route of this machine overlaps."""
    routes = []
    for line in _sh("ip", "-4", "-o", "route", "show", "table", "all", check=False).stdout.splitlines():
        dest = line.split()[0] if not line.startswith(("local", "broadcast")) else line.split()[1]
        with contextlib.suppress(ValueError):
            routes.append(ipaddress.ip_network(dest if dest != "default" else "0.0.0.0/32", strict=False))
    start = int(_short(seed or str(os.getpid())), 16)
    subnets = list(ipaddress.ip_network(base).subnets(new_prefix=prefix))
    for i in range(len(subnets)):
        candidate = subnets[(start + i) % len(subnets)]
        if not any(candidate.overlaps(r) for r in routes if r.prefixlen > 0):
            return str(candidate)
    raise VmLabUnavailable(f"no free /{prefix} in {base}")
