"""The VM lab's Debian 13 image: a debootstrap tree with Debian's kernel, as a raw ext4 file made by ``mke2fs -d``.

No loop device, no partition table: QEMU boots the image's own kernel and initramfs (copied out beside it) with
``-kernel``/``-initrd`` and ``root=/dev/vda``. Everything a guest needs to differ (address, gateway, hostname,
the lab's SSH key) comes from the kernel command line (``hive.*=`` words), read at boot by
``hive-vmlab-guest.service`` — so one cached image serves every VM and every lab.

The image is cached under ``CACHE_DIR`` by the hash of its recipe (package list, guest script, mirror):
``<CACHE_DIR>/image-<hash>/{root.raw,vmlinuz,initrd.img,kernel-release}``. A second run only checks it exists.

Pre-installed beyond a base system: the packages ``hostsetup/drbd-install.sh`` would fetch (DRBD's build
chain, LVM, drbd-utils). ``apt_install`` then finds them installed: under TCG, unpacking gcc, the kernel headers
and coccinelle in every VM would cost minutes per test run, and the build itself — the part under test — still
runs in the guest.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from tests.rehearsal.lab import ADMIN_UID, ADMIN_USER, SUITE, _sources_deb822, apt_mirrors, file_lock, recipe_digest

CACHE_DIR = Path(os.environ.get("HIVE_VMLAB_CACHE", "/var/cache/hive-vmlab"))
DRBD_TARBALL = Path(os.environ.get("HIVE_VMLAB_DRBD_TARBALL", "/work/shared/drbd/drbd-9.2.16.tar.gz"))
DRBD_VERSION = "9.2.16"
IMAGE_SIZE = "6G"

# debootstrap (minbase) then apt-get inside the tree: apt resolves dependencies better than debootstrap.
DEBOOTSTRAP_INCLUDE = ("ca-certificates",)
PACKAGES = (
    "linux-image-amd64",
    "initramfs-tools",
    "systemd",
    "systemd-sysv",
    "udev",
    "dbus",
    "kmod",
    "openssh-server",
    "sudo",
    "iproute2",
    "iputils-ping",
    "python3",
    "curl",
    "e2fsprogs",
    # what hostsetup/drbd-install.sh installs (the DKMS build chain and DRBD's user space)
    "linux-headers-amd64",
    "dkms",
    "make",
    "gcc",
    "libc6-dev",
    "bc",
    "patch",
    "coccinelle",
    "drbd-utils",
    "lvm2",
    "thin-provisioning-tools",
    "xfsprogs",
    "jq",
    # what hostsetup/docker.sh installs (its package work is rehearsed on the container hosts; under TCG it took
    # about 460 s per VM, so the lab spends its emulated CPU on what only a VM can prove), and the lab
    # service's one-binary image (tests/vmlab/test_site_drbd.py)
    "docker.io",
    "docker-cli",
    "apparmor",
    "openssl",
    "busybox-static",
)

GUEST_SCRIPT = r"""#!/bin/sh
# hive-vmlab-guest: this VM's identity from the kernel command line (tests/vmlab/image.py).
set -eu
for word in $(cat /proc/cmdline); do
    case $word in
    hive.ip=*) ip=${word#hive.ip=} ;;
    hive.gw=*) gw=${word#hive.gw=} ;;
    hive.dns=*) dns=${word#hive.dns=} ;;
    hive.hostname=*) name=${word#hive.hostname=} ;;
    hive.key=*) key=${word#hive.key=} ;;
    esac
done
mkdir -p /etc/systemd/network
if [ -n "${ip:-}" ]; then
    {
        echo '[Match]'
        echo 'Name=eth0'
        echo '[Network]'
        echo "Address=$ip"
        [ -z "${gw:-}" ] || echo "Gateway=$gw"
    } >/etc/systemd/network/10-hive-vmlab.network
fi
[ -z "${dns:-}" ] || echo "nameserver $dns" >/etc/resolv.conf
if [ -n "${name:-}" ] && [ ! -s /etc/hive-vmlab-named ]; then
    echo "$name" >/etc/hostname
    hostname "$name"
    printf '127.0.0.1\tlocalhost\n127.0.1.1\t%s\n' "$name" >/etc/hosts
    echo "$name" >/etc/hive-vmlab-named
fi
if [ -n "${key:-}" ]; then
    install -d -m 700 -o {user} -g {user} /home/{user}/.ssh
    echo "$key" | base64 -d >/home/{user}/.ssh/authorized_keys
    chown {user}:{user} /home/{user}/.ssh/authorized_keys
    chmod 600 /home/{user}/.ssh/authorized_keys
fi
[ -f /etc/ssh/ssh_host_ed25519_key ] || ssh-keygen -A
""".replace("{user}", ADMIN_USER)

GUEST_UNIT = """[Unit]
Description=hive VM lab: address, hostname and SSH key from the kernel command line
DefaultDependencies=no
After=local-fs.target
Before=systemd-networkd.service ssh.service network-pre.target
Wants=network-pre.target

[Service]
Type=oneshot
ExecStart=/usr/local/sbin/hive-vmlab-guest
RemainAfterExit=yes

[Install]
WantedBy=sysinit.target
"""

CONFIGURE = r"""
set -eu
export DEBIAN_FRONTEND=noninteractive LC_ALL=C
rm -f /etc/apt/sources.list
apt-get update -qq
apt-get install -y -qq --no-install-recommends {packages} >/dev/null
useradd --uid {uid} --user-group --create-home --shell /bin/bash {user}
usermod -p '*' {user}
echo '{user} ALL=(ALL) NOPASSWD:ALL' > /etc/sudoers.d/{user}
chmod 440 /etc/sudoers.d/{user}
rm -f /etc/ssh/ssh_host_*
systemctl enable systemd-networkd.service hive-vmlab-guest.service ssh.service
systemctl mask serial-getty@ttyS0.service getty@tty1.service
: > /etc/machine-id
rm -f /var/lib/dbus/machine-id
echo debian > /etc/hostname
echo LANG=C.UTF-8 > /etc/default/locale
echo 'UseDNS no' > /etc/ssh/sshd_config.d/hive-vmlab.conf
printf '/dev/vda / ext4 defaults,noatime 0 1\n' > /etc/fstab
apt-get clean
rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin /var/log/*.log /tmp/* /var/tmp/*
"""


# The prebuilt module package an operator would make once with `dkms mkbmdeb` (same layout: the modules under
# /lib/modules/<release>/updates/dkms/, depmod after install), built here at native speed in the image's tree.
MODULE_PACKAGE = r"""
set -Eeuo pipefail
cd /var/tmp
rm -rf drbd pkg && mkdir drbd
tar -xzf drbd.tar.gz -C drbd --strip-components=1
make -s -j2 -C drbd/drbd KDIR=/usr/src/linux-headers-{release} >/dev/null
mkdir -p pkg/DEBIAN pkg/lib/modules/{release}/updates/dkms
cp drbd/drbd/build-current/drbd.ko drbd/drbd/build-current/drbd_transport_tcp.ko pkg/lib/modules/{release}/updates/dkms/
cat >pkg/DEBIAN/control <<CONTROL
Package: drbd-modules-{release}
Version: {version}
Architecture: amd64
Maintainer: hive VM lab <root@localhost>
Section: kernel
Priority: optional
Description: DRBD {version} kernel modules for Linux {release} (prebuilt, like dkms mkbmdeb)
CONTROL
printf '#!/bin/sh\nset -e\ndepmod -a {release}\n' >pkg/DEBIAN/postinst
cp pkg/DEBIAN/postinst pkg/DEBIAN/postrm
chmod 755 pkg/DEBIAN/postinst pkg/DEBIAN/postrm
dpkg-deb --root-owner-group -Zxz --build pkg drbd-module.deb >/dev/null
rm -rf pkg
"""


@dataclass(frozen=True)
class VmImage:
    """A built image: the root file system and the kernel it boots."""

    root: Path  # raw ext4, used read-only as the backing file of each VM's qcow2 overlay
    kernel: Path
    initrd: Path
    release: str  # `uname -r` in the guest
    module_deb: Path  # DRBD_VERSION's modules for `release`, built natively in the image's tree (a prebuilt package)


def recipe(mirror: str, security: str) -> dict[str, object]:
    return {
        "suite": SUITE,
        "include": list(DEBOOTSTRAP_INCLUDE),
        "packages": list(PACKAGES),
        "mirror": mirror,
        "sources": _sources_deb822(mirror, security),
        "guest": GUEST_SCRIPT,
        "unit": GUEST_UNIT,
        "configure": CONFIGURE,
        "size": IMAGE_SIZE,
        "module": MODULE_PACKAGE,
        "drbd": _file_digest(DRBD_TARBALL) if DRBD_TARBALL.is_file() else None,
        "format": 2,
    }


def _file_digest(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _run(argv: list[str], **kwargs: object) -> str:
    proc = subprocess.run(argv, capture_output=True, text=True, stdin=subprocess.DEVNULL, check=False, **kwargs)  # type: ignore[call-overload]
    if proc.returncode != 0:
        tail = "\n".join((proc.stdout + proc.stderr).splitlines()[-30:])
        raise RuntimeError(f"{' '.join(argv[:3])} failed (rc={proc.returncode}):\n{tail}")
    return proc.stdout


def _load(directory: Path) -> VmImage | None:
    release = directory / "kernel-release"
    if not release.is_file():
        return None
    text = release.read_text().strip()
    deb = directory / f"drbd-module-{text}_{DRBD_VERSION}_amd64.deb"
    return VmImage(directory / "root.raw", directory / "vmlinuz", directory / "initrd.img", text, deb)


def _unmount_below(path: Path) -> None:
    prefix = str(path.resolve()) + "/"
    points = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        point = line.split()[4].replace("\\040", " ")
        if point.startswith(prefix):
            points.append(point)
    for point in sorted(points, key=len, reverse=True):
        subprocess.run(["umount", "-l", point], check=False, capture_output=True)


def vm_image(log: Callable[[str], None] = print) -> VmImage:
    """Build (once, cached by recipe hash) the Debian 13 VM image; return where it is."""
    mirror, security = apt_mirrors()
    spec = recipe(mirror, security)
    directory = CACHE_DIR / f"image-{recipe_digest(spec)}"
    image = _load(directory)
    if image is not None:
        return image
    with file_lock(CACHE_DIR / "build.lock"):
        image = _load(directory)
        if image is not None:
            return image
        started = time.monotonic()
        work = Path(tempfile.mkdtemp(dir=CACHE_DIR, prefix="build-"))
        try:
            root = work / "root"
            log(f"vmlab: debootstrap {SUITE} from {mirror}")
            _run(
                [
                    "debootstrap",
                    "--variant=minbase",
                    "--include=" + ",".join(DEBOOTSTRAP_INCLUDE),
                    SUITE,
                    str(root),
                    mirror,
                ]
            )
            (root / "etc/apt/sources.list.d").mkdir(parents=True, exist_ok=True)
            (root / "etc/apt/sources.list.d/debian.sources").write_text(_sources_deb822(mirror, security))
            guest = root / "usr/local/sbin/hive-vmlab-guest"
            guest.parent.mkdir(parents=True, exist_ok=True)
            guest.write_text(GUEST_SCRIPT)
            guest.chmod(0o755)
            (root / "etc/systemd/system/hive-vmlab-guest.service").write_text(GUEST_UNIT)
            shutil.copy("/etc/resolv.conf", root / "etc/resolv.conf")
            for fs, point in (("proc", "proc"), ("sysfs", "sys")):
                _run(["mount", "-t", fs, fs, str(root / point)])
            _run(["mount", "--bind", "/dev", str(root / "dev")])
            try:
                log(f"vmlab: installing {len(PACKAGES)} packages in the image (kernel, DKMS build chain)")
                script = CONFIGURE.format(packages=" ".join(PACKAGES), uid=ADMIN_UID, user=ADMIN_USER)
                _run(["chroot", str(root), "/bin/sh", "-c", script])
            finally:
                _unmount_below(root)
            (root / "etc/resolv.conf").write_text("")
            releases = sorted(p.name for p in (root / "lib/modules").iterdir())
            if len(releases) != 1:
                raise RuntimeError(f"expected one kernel in the image, found {releases}")
            release = releases[0]
            if DRBD_TARBALL.is_file():
                log(f"vmlab: building DRBD {DRBD_VERSION} for {release} in the image's tree (the prebuilt package)")
                shutil.copy(DRBD_TARBALL, root / "var/tmp/drbd.tar.gz")
                script = MODULE_PACKAGE.replace("{version}", DRBD_VERSION).replace("{release}", release)
                _run(["chroot", str(root), "/bin/bash", "-c", script])
                shutil.move(root / "var/tmp/drbd-module.deb", work / f"drbd-module-{release}_{DRBD_VERSION}_amd64.deb")
                subprocess.run(
                    ["rm", "-rf", str(root / "var/tmp/drbd"), str(root / "var/tmp/drbd.tar.gz")], check=False
                )
            shutil.copy(root / f"boot/vmlinuz-{release}", work / "vmlinuz")
            shutil.copy(root / f"boot/initrd.img-{release}", work / "initrd.img")
            log(f"vmlab: mke2fs -d ({IMAGE_SIZE}) for kernel {release}")
            _run(["mke2fs", "-q", "-t", "ext4", "-L", "hive-root", "-d", str(root), str(work / "root.raw"), IMAGE_SIZE])
            subprocess.run(["rm", "-rf", "--one-file-system", str(root)], check=False)
            (work / "kernel-release").write_text(release + "\n")
            work.rename(directory)
        finally:
            if work.exists():
                _unmount_below(work)
                shutil.rmtree(work, ignore_errors=True)
        log(f"vmlab: image {directory.name} built in {time.monotonic() - started:.0f}s")
        for old in CACHE_DIR.glob("image-*"):  # older recipes (a running VM keeps its open files)
            if old != directory:
                shutil.rmtree(old, ignore_errors=True)
        image = _load(directory)
        assert image is not None
        return image


if __name__ == "__main__":
    print(vm_image())
