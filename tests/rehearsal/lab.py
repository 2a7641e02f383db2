"""The real-host rehearsal lab: Debian 13 "machines" as systemd containers on the local Docker engine.

A host here is a container that behaves like a freshly provisioned cloud VM as far as the host provisioner
can tell: systemd is PID 1, sshd accepts the lab's key for user ``admin`` (NOPASSWD sudo), it has its own
address on a routed subnet with outbound NAT to the Debian mirror, and a nested ``dockerd`` (installed by the
provisioner from Debian's ``docker.io``) runs with overlay2 on a volume at ``/var/lib/docker``.

Public API (see the docstrings):

    engine() -> docker.DockerClient                      # or raises LabUnavailable(reason)
    host_image(client=None, log=None) -> str              # cached "hive-rehearsal/debian13:<recipe hash>"
    free_subnet(client, base="10.231.0.0/16", prefix=24) -> str
    Lab(name, cidr=None, *, client=None, image=None)      # context manager
        .start_host(name, ip, authorized_key=None) -> Host
        .start_hosts([(name, ip), ...]) -> list[Host]    # in parallel
        .start_outsider(name, ip) -> Host
        .replace_host(name) -> Host
        .ssh(host_ip, command, stdin=None, env=None, user="admin", timeout=None) -> (rc, out, err)
        .connect(host_ip, user="admin") -> paramiko.SSHClient
        .exec(name, command) -> (rc, output)             # docker exec as root, for inspection only
        .close()
        .private_key_pem / .public_key_openssh / .hosts / .outsiders / .network_name / .cidr / .gateway
    remove_stale_labs(client) -> [names]                 # labs whose owning process is gone
    remove_lab(client, name)
    ssh_run(host, port, user, private_key_pem, command, stdin=None, env=None, *, timeout=None) -> (rc, out, err)
    ssh_connect(host, port, user, private_key_pem) -> paramiko.SSHClient
    generate_ssh_key() -> (private_key_pem, public_key_openssh)

Facts of the machine this was built on (Firecracker VM, kernel 6.18, cgroup v1 hybrid, Docker 20.10 from
Debian 12) that shaped the container settings are in ``HOST_SETTINGS_NOTES`` below.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import fcntl
import hashlib
import io
import ipaddress
import json
import logging
import os
import re
import select
import shutil
import socket
import struct
import subprocess
import tarfile
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from components.infra.local_caps import PROC_STATUS, bounding_set, capability_names

try:  # the SDKs come from requirements-dev.txt; without them the lab is "unavailable", not an import error
    import docker
    import docker.errors
    import docker.types
except ImportError:  # pragma: no cover
    docker = None
try:
    import paramiko
except ImportError:  # pragma: no cover
    paramiko = None

# paramiko's transport thread logs every failed handshake (e.g. while sshd is still starting, or when sshd's
# MaxStartups drops a connection) as an ERROR with a traceback; ssh_connect() retries and raises the real
# error itself, so those records are only noise in pytest's captured logs.
logging.getLogger("paramiko.transport").setLevel(logging.CRITICAL)

HOST_SETTINGS_NOTES = """
* --privileged fails (the VM's capability bounding set lacks CAP_SYS_RESOURCE): cap_add is every capability
  CapBnd allows (minus names the engine does not know: Docker 20.10 rejects BPF, PERFMON, CHECKPOINT_RESTORE).
* seccomp=unconfined (systemd and nested runc use syscalls the default profile blocks), apparmor=unconfined
  (the kernel has no AppArmor; harmless), /proc/sys writable (Docker's default ReadonlyPaths without
  /proc/sys; the API has no "systempaths=unconfined", that is a CLI option): the nested dockerd sets
  ip_forward and bridge sysctls of the host's own network namespace.
* cgroup v1 hybrid host: cgroupns=private gives each host its own cgroup tree; Docker mounts it read-only
  when not privileged, so the image's PID 1 is a wrapper that remounts each cgroup mount read-write (its own
  subtree only) and execs systemd — systemd then creates its slices and the nested dockerd its containers'
  cgroups. systemd 257 runs on v1 (hybrid, "tainted: cgroupsv1").
* tmpfs at /run and /run/lock (systemd expects them to be tmpfs); a named volume at /var/lib/docker (else the
  nested dockerd falls back to vfs: overlay2 cannot be stacked on the container's overlay root).
* /sys stays read-only: the nested dockerd logs "set bridge default vlan failed ... default_pvid: permission
  denied" for overlay networks, which is harmless.
* Docker's embedded DNS (127.0.0.11) depends on NAT rules inside the host's own network namespace, which a
  firewall step may flush, and a nested dockerd refuses a loopback resolver; so /etc/resolv.conf is rewritten
  in place (it is a bind mount) to this machine's own nameservers when they answer from inside a host.
"""

IMAGE_REPOSITORY = "hive-rehearsal/debian13"
SUITE = "trixie"
DEBOOTSTRAP_INCLUDE = (
    "systemd",
    "systemd-sysv",
    "dbus",
    "openssh-server",
    "sudo",
    "iproute2",
    "iputils-ping",
    "ca-certificates",
    "python3",
)
ADMIN_USER = "admin"
ADMIN_UID = 1000
LAB_LABEL = "hive-rehearsal.lab"
ROLE_LABEL = "hive-rehearsal.role"
OWNER_LABEL = "hive-rehearsal.owner"
CACHE_DIR = Path(os.environ.get("HIVE_REHEARSAL_CACHE", "/var/cache/hive-rehearsal"))
DEFAULT_MIRROR = "http://deb.debian.org/debian"
SSH_READY_TIMEOUT = 120.0


class LabUnavailable(RuntimeError):
    """The rehearsal cannot run on this machine (no engine, not root, no debootstrap...); str() is the reason."""


def _log_default(message: str) -> None:
    print(f"[lab] {message}", flush=True)


# --------------------------------------------------------------------------------------------------------------
# Engine


def engine(timeout: int = 300) -> Any:
    """A Docker SDK client for the local engine, or LabUnavailable with the reason it cannot be used."""
    if os.geteuid() != 0:
        raise LabUnavailable("rehearsal needs root (debootstrap, host containers with systemd)")
    if docker is None or paramiko is None:
        raise LabUnavailable("python packages 'docker' and 'paramiko' are needed (pip install -r requirements-dev.txt)")
    base_url = os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock")
    if base_url.startswith("unix://") and not Path(base_url[len("unix://") :]).exists():
        raise LabUnavailable(f"no Docker engine: {base_url} does not exist (run .ci/start-dockerd.sh)")
    try:
        client = docker.DockerClient(base_url=base_url, version="auto", timeout=timeout)
        client.ping()
    except Exception as exc:
        raise LabUnavailable(f"no Docker engine answers on {base_url}: {exc}") from exc
    return client


# --------------------------------------------------------------------------------------------------------------
# Debian mirror of this machine


def _parse_sources() -> list[tuple[str, list[str]]]:
    """(uri, suites) of every enabled ``deb`` entry in this machine's apt sources (deb822 and one-line)."""
    entries: list[tuple[str, list[str]]] = []
    d = Path("/etc/apt/sources.list.d")
    for path in sorted(d.glob("*.sources")) if d.is_dir() else []:
        for para in re.split(r"\n\s*\n", path.read_text(errors="replace")):
            fields: dict[str, str] = {}
            for line in para.splitlines():
                if line.startswith("#") or ":" not in line or line[:1].isspace():
                    continue
                key, _, value = line.partition(":")
                fields[key.strip().lower()] = value.strip()
            if "deb" not in fields.get("types", "").split() or fields.get("enabled", "yes").lower() == "no":
                continue
            entries.extend((uri, fields.get("suites", "").split()) for uri in fields.get("uris", "").split())
    lists = [Path("/etc/apt/sources.list"), *sorted(d.glob("*.list"))] if d.is_dir() else []
    for path in lists:
        if not path.is_file():
            continue
        for line in path.read_text(errors="replace").splitlines():
            words = re.sub(r"\[[^\]]*\]", " ", line.split("#", 1)[0]).split()
            if len(words) >= 3 and words[0] == "deb":
                entries.append((words[1], [words[2]]))
    return entries


def apt_mirrors() -> tuple[str, str]:
    """(debian, debian-security) mirror URLs this machine's apt uses; HIVE_REHEARSAL_MIRROR[_SECURITY] override."""
    mirror = os.environ.get("HIVE_REHEARSAL_MIRROR", "")
    security = os.environ.get("HIVE_REHEARSAL_MIRROR_SECURITY", "")
    for uri, suites in _parse_sources():
        path = urlsplit(uri).path.rstrip("/")
        if not mirror and path.endswith("/debian") and not any("security" in s for s in suites):
            mirror = uri.rstrip("/")
        if not security and path.endswith("/debian-security"):
            security = uri.rstrip("/")
    mirror = mirror or DEFAULT_MIRROR
    security = security or re.sub(r"/debian$", "/debian-security", mirror)
    return mirror, security


# --------------------------------------------------------------------------------------------------------------
# Host image

INIT_WRAPPER = """#!/bin/sh
# PID 1 of a rehearsal host (see tests/rehearsal/lab.py): Docker mounts the container's own cgroup (v1)
# hierarchies read-only when it is not privileged; make them writable so that systemd can create its slices
# and a nested dockerd its containers' cgroups, then become systemd.
for m in /sys/fs/cgroup /sys/fs/cgroup/*; do
    case "$(stat -f -c %T "$m" 2>/dev/null)" in
    cgroupfs | cgroup2fs)
        mount -o remount,bind,rw "$m" 2>/dev/null || echo "hive-rehearsal-init: cannot remount $m rw" >&2 ;;
    esac
done
exec /sbin/init "$@"
"""

SSHD_KEYGEN_DROPIN = """[Unit]
# Every host (and every replaced host) generates its own host keys at boot; the image ships none.
ConditionFirstBoot=
ConditionPathExists=!/etc/ssh/ssh_host_ed25519_key
"""

# Units that cannot work in a container and only make the system "degraded".
MASKED_UNITS = ("systemd-modules-load.service",)

CONFIGURE = r"""
set -eu
export DEBIAN_FRONTEND=noninteractive LC_ALL=C
rm -f /etc/apt/sources.list
useradd --uid {uid} --user-group --create-home --shell /bin/bash {user}
usermod -p '*' {user}
install -d -m 700 -o {user} -g {user} /home/{user}/.ssh
echo '{user} ALL=(ALL) NOPASSWD:ALL' > /etc/sudoers.d/{user}
chmod 440 /etc/sudoers.d/{user}
rm -f /etc/ssh/ssh_host_*
for unit in {masked}; do ln -sf /dev/null "/etc/systemd/system/$unit"; done
# /proc/sys is writable in a host (the nested dockerd needs it): the vendor sysctl files would set host-wide
# parameters (kernel.core_pattern, pid_max) of the machine running the lab. Mask them.
for f in /usr/lib/sysctl.d/*.conf; do ln -sf /dev/null "/etc/sysctl.d/${{f##*/}}"; done
: > /etc/machine-id
rm -f /var/lib/dbus/machine-id
echo debian > /etc/hostname
echo LANG=C.UTF-8 > /etc/default/locale
printf '127.0.0.1\tlocalhost\n::1\t\tlocalhost ip6-localhost ip6-loopback\n' > /etc/hosts
apt-get clean
rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin /var/log/*.log /tmp/* /var/tmp/*
"""


def _sources_deb822(mirror: str, security: str) -> str:
    return (
        f"Types: deb\nURIs: {mirror}\nSuites: {SUITE} {SUITE}-updates\nComponents: main\n"
        "Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg\n\n"
        f"Types: deb\nURIs: {security}\nSuites: {SUITE}-security\nComponents: main\n"
        "Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg\n"
    )


def _recipe(mirror: str, security: str) -> dict[str, Any]:
    return {
        "suite": SUITE,
        "variant": "minbase",
        "include": list(DEBOOTSTRAP_INCLUDE),
        "mirror": mirror,
        "sources": _sources_deb822(mirror, security),
        "init": INIT_WRAPPER,
        "sshd_keygen": SSHD_KEYGEN_DROPIN,
        "masked": list(MASKED_UNITS),
        "configure": CONFIGURE,
        "user": [ADMIN_USER, ADMIN_UID],
        "format": 2,
    }


def recipe_digest(obj: Any, n: int = 12) -> str:
    """A short content hash of a JSON-able recipe (image cache keys here and in the VM lab)."""
    return hashlib.sha256(json.dumps(obj, sort_keys=True).encode()).hexdigest()[:n]


@contextlib.contextmanager
def file_lock(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _run(argv: list[str], log: Callable[[str], None], **kwargs: Any) -> None:
    proc = subprocess.run(argv, capture_output=True, text=True, stdin=subprocess.DEVNULL, check=False, **kwargs)
    if proc.returncode != 0:
        tail = "\n".join((proc.stdout + proc.stderr).splitlines()[-30:])
        raise RuntimeError(f"{argv[0]} failed (rc={proc.returncode}):\n{tail}")


def image_tag() -> str:
    """The tag the current recipe builds (depends on the recipe and this machine's mirror)."""
    return f"{IMAGE_REPOSITORY}:{recipe_digest(_recipe(*apt_mirrors()))}"


def host_image(client: Any = None, log: Callable[[str], None] | None = None) -> str:
    """Build (once, cached by recipe hash) the Debian 13 host image offline with debootstrap; return its tag.

    The debootstrap download is cached as a tarball under CACHE_DIR, so a rebuild (recipe change, pruned
    image) only unpacks it. Concurrent callers (pytest-xdist workers) serialize on a lock file.
    """
    log = log or _log_default
    client = client or engine()
    mirror, security = apt_mirrors()
    recipe = _recipe(mirror, security)
    tag = f"{IMAGE_REPOSITORY}:{recipe_digest(recipe)}"
    if _image_exists(client, tag):
        return tag
    for tool in ("debootstrap", "chroot", "tar"):
        if shutil.which(tool) is None:
            raise LabUnavailable(f"{tool} is not installed (run .ci/start-dockerd.sh) and {tag} is not built")
    with file_lock(CACHE_DIR / "build.lock"):
        if _image_exists(client, tag):
            return tag
        started = time.monotonic()
        boot_args = [
            "--variant=minbase",
            "--include=" + ",".join(DEBOOTSTRAP_INCLUDE),
        ]
        tarball = CACHE_DIR / f"debootstrap-{SUITE}-{recipe_digest([boot_args, mirror])}.tgz"
        for stale in [*CACHE_DIR.glob("dl-*"), *CACHE_DIR.glob("build-*")]:  # of a killed build (we hold the lock)
            _remove_tree(stale)
        if not tarball.exists():
            log(f"debootstrap {SUITE} from {mirror} (download, cached as {tarball})")
            with _work_dir("dl-") as work:
                partial = work / tarball.name
                _run(["debootstrap", *boot_args, f"--make-tarball={partial}", SUITE, f"{work}/target", mirror], log)
                partial.rename(tarball)
            log(f"downloaded in {time.monotonic() - started:.0f}s")
        with _work_dir("build-") as work:
            root = work / "root"
            log(f"debootstrap {SUITE} into {root} from {tarball.name}")
            _run(["debootstrap", *boot_args, f"--unpack-tarball={tarball}", SUITE, str(root), mirror], log)
            _configure_root(root, mirror, security, log)
            archive = work / "rootfs.tar"
            _run(
                [
                    "tar", "--numeric-owner", "--xattrs", "--xattrs-include=security.capability",
                    "-C", str(root), "-cf", str(archive), ".",
                ],
                log,
            )  # fmt: skip
            log(f"docker import as {tag}")
            repository, _, version = tag.partition(":")
            client.api.import_image_from_file(
                str(archive),
                repository=repository,
                tag=version,
                changes=[
                    'CMD ["/usr/local/sbin/hive-rehearsal-init"]',
                    "ENV container=docker",
                    f"LABEL hive-rehearsal.recipe={recipe_digest(recipe)} hive-rehearsal.mirror={mirror}",
                ],
            )
        if not _image_exists(client, tag):
            raise RuntimeError(f"docker import did not produce {tag}")
        log(f"built {tag} in {time.monotonic() - started:.0f}s")
        # Images of older recipes: drop them unless a container still uses them.
        for image in client.images.list(name=IMAGE_REPOSITORY):
            for old in image.tags:
                if old != tag:
                    with contextlib.suppress(docker.errors.APIError):
                        client.images.remove(old)
    return tag


def _remove_tree(path: Path) -> None:
    """rm -rf that first unmounts what a killed debootstrap may have left mounted inside (proc, sys, dev/pts)."""
    prefix = str(path.resolve()) + "/"
    mounts = []
    with contextlib.suppress(OSError):
        for line in Path("/proc/self/mountinfo").read_text().splitlines():
            point = line.split()[4].replace("\\040", " ")
            if point.startswith(prefix):
                mounts.append(point)
    for point in sorted(mounts, key=len, reverse=True):
        subprocess.run(["umount", "-l", point], check=False, capture_output=True)
    shutil.rmtree(path, ignore_errors=True)


@contextlib.contextmanager
def _work_dir(prefix: str) -> Iterator[Path]:
    CACHE_DIR.mkdir(parents=True, exist_ok=True)
    path = Path(tempfile.mkdtemp(dir=CACHE_DIR, prefix=prefix))
    try:
        yield path
    finally:
        _remove_tree(path)


def _image_exists(client: Any, tag: str) -> bool:

    try:
        client.images.get(tag)
    except docker.errors.ImageNotFound:
        return False
    return True


def _configure_root(root: Path, mirror: str, security: str, log: Callable[[str], None]) -> None:
    (root / "etc/apt/sources.list.d").mkdir(parents=True, exist_ok=True)
    (root / "etc/apt/sources.list.d/debian.sources").write_text(_sources_deb822(mirror, security))
    init = root / "usr/local/sbin/hive-rehearsal-init"
    init.parent.mkdir(parents=True, exist_ok=True)
    init.write_text(INIT_WRAPPER)
    init.chmod(0o755)
    dropin = root / "etc/systemd/system/sshd-keygen.service.d/hive-rehearsal.conf"
    dropin.parent.mkdir(parents=True, exist_ok=True)
    dropin.write_text(SSHD_KEYGEN_DROPIN)
    script = CONFIGURE.format(uid=ADMIN_UID, user=ADMIN_USER, masked=" ".join(MASKED_UNITS))
    _run(["chroot", str(root), "/bin/sh", "-c", script], log)


# --------------------------------------------------------------------------------------------------------------
# SSH


def generate_ssh_key(comment: str = "hive-rehearsal") -> tuple[str, str]:
    """A new ed25519 key: (private key in OpenSSH format, public key line)."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ed25519

    key = ed25519.Ed25519PrivateKey.generate()
    private = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH, serialization.NoEncryption()
    ).decode()
    public = key.public_key().public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
    return private, f"{public.decode()} {comment}"


def _load_pkey(private_key_pem: str) -> Any:

    errors = []
    for cls in (paramiko.Ed25519Key, paramiko.ECDSAKey, paramiko.RSAKey):
        try:
            return cls.from_private_key(io.StringIO(private_key_pem))
        except (paramiko.SSHException, ValueError, TypeError) as exc:
            errors.append(f"{cls.__name__}: {exc}")
    raise ValueError("unusable private key: " + "; ".join(errors))


class HostKeyMismatch(paramiko.SSHException):
    """The host answered with another key than the pinned one (x/crypto's ``ssh.FixedHostKey``)."""


def pinned_host_key(host_key: str) -> tuple[str, bytes]:
    """``(type, blob)`` of an authorized_keys line as ``ssh.ParseAuthorizedKey`` reads it (golang/crypto v0.48.0
    ssh/keys.go: the first field that decodes as a public key wins; its type is the blob's own): an unparsable
    key fails the connection with ``failed to parse host key: …`` (pulumi-command 1.2.1 connection.go 89–92)."""
    for field_ in host_key.split():
        try:
            blob = base64.b64decode(field_, validate=True)
            (length,) = struct.unpack(">I", blob[:4])
            inner = blob[4 : 4 + length].decode("ascii")
        except (binascii.Error, struct.error, UnicodeDecodeError, ValueError):
            continue
        if inner and 4 + length < len(blob):
            return inner, blob
    raise ValueError("failed to parse host key: ssh: no key found")


def ssh_connect(
    host: str,
    port: int = 22,
    user: str = ADMIN_USER,
    private_key_pem: str = "",
    *,
    connect_timeout: float = 10.0,
    attempts: int = 10,
    host_key: str | None = None,
) -> Any:
    """A connected paramiko SSHClient, checking the host key as pulumi-command 1.2.1 does
    (provider/pkg/provider/remote/connection.go 85–105): without ``host_key`` any key is accepted
    (``ssh.InsecureIgnoreHostKey``); with it only that key (``ssh.FixedHostKey``: anything else fails with
    ``ssh: handshake failed: ssh: host key mismatch``, golang/crypto v0.48.0 ssh/client.go 85, 258–265) and only
    its algorithm is offered (``HostKeyAlgorithms = [key.Type()]``).

    Connection errors — a host key mismatch too, as in the provider's ``dialWithRetry`` — are retried
    (``attempts`` dials, backoff up to 5 s); the last one is raised, a mismatch as the provider words it
    (``after N failed attempts: …``). An authentication failure is not retried.
    """
    pinned = pinned_host_key(host_key) if host_key is not None else None

    class _HostKeyPolicy(paramiko.MissingHostKeyPolicy):
        def missing_host_key(self, client: Any, hostname: str, key: Any) -> None:
            if pinned is not None and key.asbytes() != pinned[1]:
                raise HostKeyMismatch("ssh: handshake failed: ssh: host key mismatch")
            return None

    disabled = None
    if pinned is not None:
        disabled = {"keys": [k for k in paramiko.Transport._preferred_keys if k != pinned[0]]}
    pkey = _load_pkey(private_key_pem)
    delay = 0.5
    for attempt in range(1, attempts + 1):
        client = paramiko.SSHClient()
        client.set_missing_host_key_policy(_HostKeyPolicy())
        try:
            client.connect(
                host,
                port=port,
                username=user,
                pkey=pkey,
                timeout=connect_timeout,
                banner_timeout=connect_timeout,
                auth_timeout=connect_timeout,
                look_for_keys=False,
                allow_agent=False,
                disabled_algorithms=disabled,
            )
            return client
        except paramiko.AuthenticationException:
            client.close()
            raise
        except (OSError, EOFError, paramiko.SSHException) as exc:
            client.close()
            if attempt == attempts:
                if isinstance(exc, HostKeyMismatch):
                    raise HostKeyMismatch(f"after {attempt - 1} failed attempts: {exc}") from exc
                raise
            time.sleep(delay)
            delay = min(delay * 2, 5.0)
    raise AssertionError("unreachable")


def ssh_run(
    host: str,
    port: int = 22,
    user: str = ADMIN_USER,
    private_key_pem: str = "",
    command: str = "true",
    stdin: str | bytes | None = None,
    env: dict[str, str] | None = None,
    *,
    timeout: float | None = None,
    connect_timeout: float = 10.0,
    attempts: int = 10,
    host_key: str | None = None,
) -> tuple[int, str, str]:
    """Run ``command`` over SSH the way pulumi-command's ``remote.Command`` does; return (rc, stdout, stderr).

    One connection and one session per call; ``env`` is sent as SSH "env" requests and silently dropped when
    sshd's AcceptEnv refuses it (pulumi-command ignores Setenv errors too; Debian accepts only LANG/LC_*);
    ``stdin`` is written and then closed (nothing is sent when it is empty). Output is returned untrimmed
    (pulumi-command strips one trailing newline from each and fails the resource when rc != 0: that is the
    caller's business). ``timeout`` bounds the whole command (TimeoutError).
    """

    client = ssh_connect(
        host, port, user, private_key_pem, connect_timeout=connect_timeout, attempts=attempts, host_key=host_key
    )
    try:
        transport = client.get_transport()
        chan = transport.open_session(timeout=connect_timeout)
        for key, value in (env or {}).items():
            with contextlib.suppress(paramiko.SSHException):
                chan.set_environment_variable(key, value)
        chan.exec_command(command)
        data = stdin.encode() if isinstance(stdin, str) else (stdin or b"")

        def feed() -> None:
            with contextlib.suppress(OSError, EOFError, paramiko.SSHException):
                if data:
                    chan.sendall(data)
                chan.shutdown_write()

        feeder = threading.Thread(target=feed, daemon=True)
        feeder.start()
        out, err = bytearray(), bytearray()
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            progressed = False
            while chan.recv_ready():
                out += chan.recv(65536)
                progressed = True
            while chan.recv_stderr_ready():
                err += chan.recv_stderr(65536)
                progressed = True
            if chan.exit_status_ready() and not chan.recv_ready() and not chan.recv_stderr_ready():
                break
            if deadline is not None and time.monotonic() > deadline:
                chan.close()
                raise TimeoutError(f"ssh {user}@{host}: {command!r} did not finish within {timeout}s")
            if not progressed:
                select.select([chan], [], [], 0.2)
        # Everything the server sent before exit-status is buffered; read the rest up to EOF.
        chan.settimeout(connect_timeout)
        with contextlib.suppress(socket.timeout):
            while chunk := chan.recv(65536):
                out += chunk
        with contextlib.suppress(socket.timeout):
            while chunk := chan.recv_stderr(65536):
                err += chunk
        rc = chan.recv_exit_status()
        feeder.join(timeout=1)
        return rc, out.decode(errors="replace"), err.decode(errors="replace")
    finally:
        client.close()


# --------------------------------------------------------------------------------------------------------------
# The lab


@dataclass
class Host:
    name: str
    ip: str
    container: str  # container name
    volume: str  # the /var/lib/docker volume
    role: str  # "host" or "outsider"
    started_in: float = 0.0  # seconds from create to sshd accepting the key
    notes: list[str] = field(default_factory=list)


def _sanitize(name: str) -> str:
    s = re.sub(r"[^a-zA-Z0-9_.-]+", "-", name).strip("-.")
    return (s or "lab")[:48]


def free_subnet(client: Any, base: str = "10.231.0.0/16", prefix: int = 24, seed: str = "") -> str:
    """A /prefix inside ``base`` that no Docker network uses (first free, starting at a seed-dependent one)."""
    used = []
    for net in client.api.networks():
        for cfg in (net.get("IPAM") or {}).get("Config") or []:
            with contextlib.suppress(ValueError, KeyError, TypeError):
                used.append(ipaddress.ip_network(cfg["Subnet"], strict=False))
    candidates = list(ipaddress.ip_network(base).subnets(new_prefix=prefix))
    start = int(hashlib.sha256(seed.encode()).hexdigest(), 16) % len(candidates) if seed else 0
    for i in range(len(candidates)):
        cand = candidates[(start + i) % len(candidates)]
        if not any(cand.overlaps(u) for u in used):
            return str(cand)
    raise RuntimeError(f"no free /{prefix} left in {base}")


def _capabilities() -> list[str]:
    """Every capability the bounding set of this process allows (what --privileged would want to grant)."""
    return capability_names(bounding_set(PROC_STATUS.read_text()) or 0)


_accepted_caps: list[str] | None = None
_caps_lock = threading.Lock()


def _host_nameservers() -> list[str]:
    servers = []
    with contextlib.suppress(OSError):
        for line in Path("/etc/resolv.conf").read_text().splitlines():
            words = line.split()
            if len(words) >= 2 and words[0] == "nameserver":
                with contextlib.suppress(ValueError):
                    if not ipaddress.ip_address(words[1]).is_loopback:
                        servers.append(words[1])
    return servers


def _proc_start_time(pid: int) -> str:
    """Start time (clock ticks since boot) of process ``pid``, "" when it does not exist."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return ""
    return stat.rsplit(")", 1)[1].split()[19]


def _owner_token() -> str:
    pid = os.getpid()
    return f"{socket.gethostname()}:{pid}:{_proc_start_time(pid)}"


def _owner_alive(token: str) -> bool:
    """False only when the owner is known to be gone (a process of this machine that no longer runs)."""
    parts = token.split(":")
    if len(parts) != 3 or parts[0] != socket.gethostname() or not parts[1].isdigit():
        return True
    return _proc_start_time(int(parts[1])) == parts[2]


def _lab_owners(client: Any) -> dict[str, set[str]]:
    """lab name -> owner tokens ("" for objects without one) of every lab object on the engine."""
    owners: dict[str, set[str]] = {}
    objects = [
        *(c.labels for c in client.containers.list(all=True, filters={"label": LAB_LABEL})),
        *(n.attrs.get("Labels") or {} for n in client.networks.list(filters={"label": LAB_LABEL})),
        *(v.attrs.get("Labels") or {} for v in client.volumes.list(filters={"label": LAB_LABEL})),
    ]
    for labels in objects:
        owners.setdefault(labels[LAB_LABEL], set()).add(labels.get(OWNER_LABEL, ""))
    return owners


def remove_lab(client: Any, name: str) -> None:
    """Remove the containers (with anonymous volumes), the network and the volumes of lab ``name``."""
    flt = {"label": f"{LAB_LABEL}={name}"}
    for c in client.containers.list(all=True, filters=flt):
        with contextlib.suppress(docker.errors.NotFound):
            c.remove(force=True, v=True)
    for n in client.networks.list(names=[name]):
        if n.name != name:
            continue
        with contextlib.suppress(docker.errors.NotFound):
            n.reload()
            for cid in n.attrs.get("Containers") or {}:
                with contextlib.suppress(docker.errors.APIError):
                    n.disconnect(cid, force=True)
            n.remove()
    for v in client.volumes.list(filters=flt):
        with contextlib.suppress(docker.errors.NotFound):
            v.remove(force=True)


def remove_stale_labs(client: Any) -> list[str]:
    """Remove every lab whose owning process (on this machine) is gone; return their names."""
    removed = []
    for name, owners in sorted(_lab_owners(client).items()):
        if owners and all(o and not _owner_alive(o) for o in owners):
            remove_lab(client, name)
            removed.append(name)
    return removed


class Lab:
    """A site's worth of rehearsal hosts on one user-defined bridge network ``<name>`` with subnet ``cidr``.

    Everything the lab creates carries the labels ``hive-rehearsal.lab=<name>`` and
    ``hive-rehearsal.owner=<machine>:<pid>:<start time>``. Creating a Lab removes leftovers of the same name
    whose owner process is gone (and refuses when a live process owns that name); ``close()`` removes all.
    ``remove_stale_labs()`` sweeps the leftovers of dead processes.
    """

    def __init__(
        self,
        name: str,
        cidr: str | None = None,
        *,
        client: Any = None,
        image: str | None = None,
        log: Callable[[str], None] | None = None,
    ) -> None:
        self.log = log or _log_default
        self.client = client or engine()
        self.name = _sanitize(name)
        self.image = image or host_image(self.client, self.log)
        self.private_key_pem, self.public_key_openssh = generate_ssh_key(f"hive-rehearsal@{self.name}")
        self.hosts: dict[str, Host] = {}
        self.outsiders: dict[str, Host] = {}
        self.owner = _owner_token()
        self.labels = {LAB_LABEL: self.name, OWNER_LABEL: self.owner}
        self._closed = False
        owners = _lab_owners(self.client).get(self.name, set())
        live = {o for o in owners if o and _owner_alive(o)}
        if live:
            raise RuntimeError(f"lab {self.name} is in use by a live process ({', '.join(sorted(live))})")
        remove_lab(self.client, self.name)
        self.network_name = self.name
        for attempt in range(8):
            chosen = cidr or free_subnet(self.client, seed=f"{self.name}{attempt}")
            self.cidr = str(ipaddress.ip_network(chosen, strict=True))
            self.gateway = str(next(ipaddress.ip_network(self.cidr).hosts()))
            try:
                self.network = self.client.networks.create(
                    self.network_name,
                    driver="bridge",
                    ipam=docker.types.IPAMConfig(
                        pool_configs=[docker.types.IPAMPool(subnet=self.cidr, gateway=self.gateway)]
                    ),
                    labels=self.labels,
                    check_duplicate=True,
                )
                break
            except docker.errors.APIError as exc:
                # Another lab (another test session) took the subnet between our look and our create.
                if cidr or "overlap" not in str(exc).lower() or attempt == 7:
                    raise
        self.nameservers = _host_nameservers()

    # -- context manager
    def __enter__(self) -> Lab:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Remove every container, volume and the network this lab created (idempotent)."""
        if self._closed:
            return
        self._closed = True
        remove_lab(self.client, self.name)

    # -- hosts
    def start_host(self, name: str, ip: str, authorized_key: str | None = None) -> Host:
        """Start host ``name`` (its hostname) at ``ip`` and wait until sshd accepts the lab key for admin."""
        return self._start(name, ip, authorized_key, role="host")

    def start_outsider(self, name: str, ip: str, authorized_key: str | None = None) -> Host:
        """A machine on the same network that is not part of the site (for firewall checks)."""
        return self._start(name, ip, authorized_key, role="outsider")

    def start_hosts(self, hosts: Iterable[tuple[str, str]], role: str = "host") -> list[Host]:
        """Start several hosts in parallel; [(name, ip), ...] → [Host, ...] in the same order."""
        items = list(hosts)
        with ThreadPoolExecutor(max_workers=max(1, len(items))) as pool:
            futures = [pool.submit(self._start, n, ip, None, role) for n, ip in items]
            return [f.result() for f in futures]

    def replace_host(self, name: str) -> Host:
        """Destroy host ``name`` with its /var/lib/docker volume and start a fresh one at the same address."""
        old = self.hosts.get(name) or self.outsiders.get(name)
        if old is None:
            raise KeyError(name)
        self._destroy(old)
        return self._start(old.name, old.ip, None, role=old.role)

    def host(self, name: str) -> Host:
        return self.hosts.get(name) or self.outsiders[name]

    def _destroy(self, host: Host) -> None:

        with contextlib.suppress(docker.errors.NotFound):
            self.client.containers.get(host.container).remove(force=True, v=True)
        with contextlib.suppress(docker.errors.NotFound):
            self.client.volumes.get(host.volume).remove(force=True)
        self.hosts.pop(host.name, None)
        self.outsiders.pop(host.name, None)

    def _create_container(self, name: str, ip: str, container: str, volume: str, role: str) -> Any:
        """Create (not start) the container; learn which capability names the engine accepts."""
        global _accepted_caps

        api = self.client.api
        binds = {volume: {"bind": "/var/lib/docker", "mode": "rw"}}
        if Path("/lib/modules").is_dir():
            binds["/lib/modules"] = {"bind": "/lib/modules", "mode": "ro"}
        devices = ["/dev/net/tun:/dev/net/tun:rwm"] if Path("/dev/net/tun").exists() else []
        with _caps_lock:
            caps = list(_accepted_caps if _accepted_caps is not None else _capabilities())
            while True:
                host_config = api.create_host_config(
                    cap_add=caps,
                    security_opt=["seccomp=unconfined", "apparmor=unconfined"],
                    cgroupns="private",
                    tmpfs={"/run": "rw,nosuid,nodev,mode=755", "/run/lock": "rw,nosuid,nodev,noexec,mode=1777"},
                    binds=binds,
                    devices=devices,
                )
                # Docker's default read-only paths minus /proc/sys: the nested dockerd writes sysctls of the
                # host's own network namespace (ip_forward, bridge). Masked paths keep their defaults.
                host_config["ReadonlyPaths"] = ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sysrq-trigger"]
                try:
                    created = api.create_container(
                        self.image,
                        name=container,
                        hostname=name,
                        detach=True,
                        stop_signal="SIGRTMIN+3",
                        labels={**self.labels, ROLE_LABEL: role, "hive-rehearsal.host": name},
                        host_config=host_config,
                        networking_config=api.create_networking_config(
                            {self.network_name: api.create_endpoint_config(ipv4_address=ip)}
                        ),
                    )
                except docker.errors.APIError as exc:
                    m = re.search(r'unknown capability: "?(?:CAP_)?([A-Z_]+)', str(exc))
                    if m and m.group(1) in caps:
                        caps.remove(m.group(1))
                        continue
                    raise
                _accepted_caps = caps
                return created["Id"]

    def _start(self, name: str, ip: str, authorized_key: str | None, role: str) -> Host:

        if ipaddress.ip_address(ip) not in ipaddress.ip_network(self.cidr):
            raise ValueError(f"{ip} is not in the lab network {self.cidr}")
        if name in self.hosts or name in self.outsiders:
            raise ValueError(f"host {name} already exists in lab {self.name}")
        started = time.monotonic()
        container = f"{self.name}-{name}"
        volume = f"{container}-docker"
        with contextlib.suppress(docker.errors.NotFound):
            self.client.volumes.get(volume).remove(force=True)
        self.client.volumes.create(volume, labels=self.labels)
        cid = self._create_container(name, ip, container, volume, role)
        key_line = (authorized_key or self.public_key_openssh).strip() + "\n"
        self.client.api.put_archive(cid, f"/home/{ADMIN_USER}/.ssh", _tar_of({"authorized_keys": key_line}))
        self.client.api.start(cid)
        host = Host(name=name, ip=ip, container=container, volume=volume, role=role)
        (self.hosts if role == "host" else self.outsiders)[name] = host
        self._use_machine_resolver(host)
        self.wait_ssh(ip)
        host.started_in = time.monotonic() - started
        return host

    def _use_machine_resolver(self, host: Host) -> None:
        """Point the host's resolv.conf at this machine's nameservers when they answer from inside the host."""
        if not self.nameservers:
            host.notes.append("kept Docker's embedded DNS: this machine has no non-loopback nameserver")
            return
        probe = urlsplit(apt_mirrors()[0]).hostname or "deb.debian.org"
        content = "".join(f"nameserver {ns}\n" for ns in self.nameservers)
        script = (
            "cp /etc/resolv.conf /run/resolv.conf.docker && "
            f"printf %s '{content}' > /etc/resolv.conf && "
            f"for i in 1 2 3; do getent hosts {probe} >/dev/null && exit 0; sleep 1; done; "
            "cat /run/resolv.conf.docker > /etc/resolv.conf; exit 1"
        )
        rc, _ = self.exec(host.name, ["sh", "-c", script])
        if rc != 0:
            host.notes.append(f"kept Docker's embedded DNS: {self.nameservers} did not resolve {probe}")

    def wait_ssh(self, ip: str, timeout: float = SSH_READY_TIMEOUT) -> None:
        """Wait until sshd on ``ip`` accepts the lab key for admin and runs a command."""
        deadline = time.monotonic() + timeout
        last: Exception | str = "no attempt"
        while time.monotonic() < deadline:
            try:
                rc, _, err = ssh_run(ip, 22, ADMIN_USER, self.private_key_pem, "true", connect_timeout=5, attempts=1)
                if rc == 0:
                    return
                last = f"rc={rc} {err.strip()}"
            except Exception as exc:
                last = exc
            time.sleep(0.5)
        raise TimeoutError(f"sshd on {ip} did not accept the lab key within {timeout:.0f}s: {last}")

    # -- access
    def ssh(
        self,
        host_ip: str,
        command: str,
        stdin: str | bytes | None = None,
        env: dict[str, str] | None = None,
        *,
        user: str = ADMIN_USER,
        timeout: float | None = None,
    ) -> tuple[int, str, str]:
        """ssh_run() with the lab key."""
        return ssh_run(host_ip, 22, user, self.private_key_pem, command, stdin, env, timeout=timeout)

    def connect(self, host_ip: str, user: str = ADMIN_USER) -> Any:
        """A connected paramiko SSHClient with the lab key (e.g. for ``open_sftp()``); the caller closes it."""
        return ssh_connect(host_ip, 22, user, self.private_key_pem)

    def exec(self, name: str, command: str | list[str]) -> tuple[int, str]:
        """docker exec as root in host ``name`` (inspection only; the provisioner must go through ssh)."""
        host = self.host(name)
        result = self.client.containers.get(host.container).exec_run(command, demux=False)
        return result.exit_code, (result.output or b"").decode(errors="replace")


def _tar_of(files: dict[str, str]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name, text in files.items():
            data = text.encode()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mode = 0o600
            info.uid = info.gid = ADMIN_UID
            info.uname = info.gname = ADMIN_USER
            info.mtime = int(time.time())
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()
