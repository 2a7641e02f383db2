"""Mocks that *execute* the program's resources for real, with Pulumi's update semantics (DESIGN §9 item 3).

``RehearsalMocks`` is a :class:`tests.harness.BaseMocks` for ``run_program``. Where the plain mocks invent
outputs, these do what the providers would do:

* ``command:remote:CopyToRemote`` — the source asset (``FileAsset`` path or ``StringAsset`` text; the harness
  hands them over as SDK asset objects) is written to ``remotePath`` over SFTP with the connection in the
  inputs (``host``, ``port``, ``user``, ``privateKey``, ``dialErrorLimit``, ``perDialTimeout``); parent
  directories are created (pulumi-command ≥ 1.2.1 does). Outputs are the inputs, as the provider's.
* ``command:remote:Command`` — ``create`` (or, on an update, ``update`` when set) runs over SSH exactly as the
  provider runs it (``tests.rehearsal.lab.ssh_run``: ``environment`` as SSH env requests — a name sshd's
  AcceptEnv refuses fails the resource, as in pulumi-command 1.2.1 —, ``stdin`` written and closed, one
  session). ``stdout``/``stderr`` are the real ones with one trailing newline trimmed
  (``strings.TrimSuffix(…, "\\n")`` in pulumi-command's ``commandOutputs.go``). A non-zero exit fails the
  resource with the provider's message (``Process exited with status N: running "<cmd>":`` + the output),
  and so fails ``run_program``. ``customTimeouts`` bound the run.
* ``tls:index/privateKey:PrivateKey``, ``…/selfSignedCert:SelfSignedCert``, ``…/certRequest:CertRequest``,
  ``…/locallySignedCert:LocallySignedCert`` — real keys, CSRs and certificates (``cryptography``) with the
  terraform-provider-tls rules: PEM flavours per algorithm, OpenSSH encodings and fingerprints, subject,
  ``dnsNames``/``ipAddresses``/``uris``, ``allowedUses`` → key usage / extended key usage, basic constraints
  (``isCaCertificate``), subject/authority key ids, validity.
* ``random:index/randomPassword:RandomPassword`` — a real random string honouring ``length``, ``special``,
  ``upper``/``lower``/``numeric``, ``min*`` and ``overrideSpecial``, with its bcrypt hash.
* ``pulumi:pulumi:StackReference`` — the stack outputs of the previous successful ``up`` (see ``remember``).

State. A JSON file (one per rehearsal site) stands in for the Pulumi state: per URN the type, the id, a digest
of every top-level input (assets by content hash), the digest of ``triggers`` and the outputs. Each
registration is diffed against it the way the engine and these providers do:

* inputs unchanged → **same**: nothing runs, the previous id and outputs are returned;
* ``triggers`` changed (replaceOnChanges for both command resources), or any input of a tls/random resource
  (all of theirs force a new resource) → **replace**: ``create`` runs again for a new resource;
* any other input changed → **update**: a Command runs ``update`` if set, else ``create``; a CopyToRemote copies
  only when the asset or ``remotePath`` changed (the provider's ``Update``);
* new URN → **create**.

Providers (the engine's provider lifecycle, pulumi/pulumi 1b594989). An explicit provider is a resource of the
state too: new → create, same inputs → same, other inputs → update — never a replacement (the bridge's
``DiffConfig`` asks for one only for a ``ForcesProviderReplace`` field, and pulumi-docker has none), and its id
survives an update (``providers/registry.go`` ``Update`` configures under ``req.ID``). Its step is recorded in
``RunRecord.provider_decisions``. In a preview as in an ``up`` the engine *configures* a provider whose inputs
are all known (``registry.go`` ``Same``/``Create``/``Update`` → ``Configure``) and leaves it unconfigured when
any input is unknown (``pkg/resource/plugin/provider_plugin.go`` ``Configure``: "If any are unknown, do not
configure the underlying plugin"). Configuring runs the provider's own ``Configure``: ``PROVIDER_CONFIGURE``
maps a provider type to an emulation of it — ``docker_configure`` is pulumi-docker's, which pings the daemon —
and its failure fails the run, as ``configure provider '<urn>': …`` fails ``pulumi preview``. A resource of an
unconfigured provider cannot be diffed in a preview: ``Diff`` returns ``DiffUnavailable`` and the step
generator plans an update (``step_generator.go``: "If the plugin indicated that the diff is unavailable, assume
that the resource will be updated"); ``provider_unconfigured(args)`` tells the docker layer so.

In preview nothing executes: unchanged resources give their previous outputs, the others the inputs only (the
SDK resolves the rest as unknown). ``targets`` is ``pulumi up --target``: a resource it rejects is left as
it is — the state's id and outputs when it has one, else it is not created (outputs = inputs, nothing stored:
the engine's SkippedCreate) — and recorded as ``skip``. Resources the program no longer registers are dropped
from the state at the end of a successful ``up`` (``remember``), running a Command's ``delete`` when it has one.

Every decision (``decisions``) and every execution (``executions``: urn, host, step, operation, started and
finished timestamps, duration, the script's final ``unchanged:``/``changed:`` line) is recorded per run, so a
test can assert "the second run executed nothing" or "only the replaced host's steps ran".

Concurrency. The SDK calls ``new_resource`` from its thread pool (``run_in_executor``) as soon as a resource's
inputs and ``depends_on`` are resolved, so independent resources run in parallel and dependent ones in the
order ``pulumi up`` would use; a resource's URN (what its dependents wait for) resolves only when its
execution returned. Records and the state are guarded by ``self.lock``; no lock is held while SSH runs. Give
``run_program`` a large enough ``parallel`` (``RUN_PARALLELISM``): the asyncio default of cpus+4 threads would
serialise the hosts.

Secrets: the state file holds what Pulumi's state holds (keys, the registry password, the SSH key in the
connection) and is created mode 0600; inputs are stored only as digests. Nothing secret is logged: a step's
log line shows its final ``unchanged:``/``changed:`` line only.
"""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import hashlib
import ipaddress
import json
import os
import re
import secrets
import shlex
import stat
import string
import subprocess
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import pulumi
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from tests.harness.program import BaseMocks, HarnessResourceArgs, ProgramRun, is_unknown, run_program
from tests.rehearsal.lab import ssh_connect, ssh_run

COMMAND = "command:remote:Command"
COPY = "command:remote:CopyToRemote"
LOCAL_COMMAND = "command:local:Command"
PRIVATE_KEY = "tls:index/privateKey:PrivateKey"
SELF_SIGNED_CERT = "tls:index/selfSignedCert:SelfSignedCert"
CERT_REQUEST = "tls:index/certRequest:CertRequest"
LOCALLY_SIGNED_CERT = "tls:index/locallySignedCert:LocallySignedCert"
RANDOM_PASSWORD = "random:index/randomPassword:RandomPassword"
STACK_REFERENCE = "pulumi:pulumi:StackReference"

PROVIDER_PREFIX = "pulumi:providers:"
DOCKER_PROVIDER = "pulumi:providers:docker"
DIFF_UNAVAILABLE = "(diff unavailable: provider inputs unknown)"

RUN_PARALLELISM = 64  # thread pool size for run_program: every independent resource of a site at once
DEFAULT_DIAL_ERROR_LIMIT = 10  # pulumi-command's defaults
DEFAULT_PER_DIAL_TIMEOUT = 15
SUMMARY_RE = re.compile(r"^(unchanged: \S+|changed: \d+ item\(s\))$")
OUTPUT_TAIL_LINES = 60

SAME, CREATE, REPLACE, UPDATE, DELETE, SKIP = "same", "create", "replace", "update", "delete", "skip"


class UnsupportedResource(NotImplementedError):
    """The program registered a resource type the rehearsal cannot execute (it never fakes one)."""


class CommandFailed(RuntimeError):
    """A remote command exited non-zero (message as pulumi-command words it)."""


class ProviderConfigureFailed(RuntimeError):
    """A provider's ``Configure`` failed: the engine fails the run (``configure provider '<urn>': ...``)."""


# ---------------------------------------------------------------------------------------------------------------
# Records


@dataclass(frozen=True)
class Decision:
    """What the engine decided for one resource in one run (``same`` means: nothing to do)."""

    run: int
    urn: str
    type: str
    name: str
    operation: str  # same | create | replace | update | delete | skip (not targeted)
    changed: tuple[str, ...] = ()  # top-level input keys that differ from the state


@dataclass(frozen=True)
class Execution:
    """One resource actually executed (a command run, a copy, a key generated...)."""

    run: int
    urn: str
    type: str
    name: str
    operation: str  # create | replace | update | delete
    host: str | None  # the connection's host (commands and copies)
    step: str | None  # hostsetup step of a command (``docker``), file of a copy (``lib.sh``)
    started: float  # epoch seconds
    finished: float
    ok: bool
    summary: str = ""  # a command's final stderr line when it is `unchanged: <step>` / `changed: N item(s)`
    error: str = ""

    @property
    def duration(self) -> float:
        return self.finished - self.started


@dataclass
class RunRecord:
    number: int
    preview: bool
    started: float
    finished: float | None = None
    decisions: list[Decision] = field(default_factory=list)
    executions: list[Execution] = field(default_factory=list)
    provider_decisions: list[Decision] = field(default_factory=list)  # explicit providers' steps (module doc)

    @property
    def changes(self) -> list[Decision]:
        return [d for d in self.decisions if d.operation not in (SAME, SKIP)]


# ---------------------------------------------------------------------------------------------------------------
# State file


def _encode(value: Any) -> Any:
    """Outputs → JSON (assets as tagged objects)."""
    if isinstance(value, pulumi.FileAsset):
        return {"__asset__": "file", "path": value.path}
    if isinstance(value, pulumi.StringAsset):
        return {"__asset__": "string", "text": value.text}
    if isinstance(value, pulumi.FileArchive):
        return {"__asset__": "file_archive", "path": value.path}
    if isinstance(value, dict):
        return {k: _encode(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_encode(v) for v in value]
    if is_unknown(value):
        raise ValueError("an unknown value cannot be stored in the state")
    return value


def _decode(value: Any) -> Any:
    if isinstance(value, dict):
        kind = value.get("__asset__")
        if kind == "file":
            return pulumi.FileAsset(value["path"])
        if kind == "string":
            return pulumi.StringAsset(value["text"])
        if kind == "file_archive":
            return pulumi.FileArchive(value["path"])
        return {k: _decode(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_decode(v) for v in value]
    return value


class RehearsalState:
    """The stand-in for Pulumi's state: ``resources[urn]`` and ``stacks[name]``, saved atomically (0600)."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.resources: dict[str, dict[str, Any]] = {}
        self.stacks: dict[str, dict[str, Any]] = {}
        if self.path.exists():
            data = json.loads(self.path.read_text())
            self.resources = data.get("resources", {})
            self.stacks = data.get("stacks", {})

    def save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.{threading.get_ident()}")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            json.dump({"resources": self.resources, "stacks": self.stacks}, fh, indent=1, sort_keys=True)
        tmp.replace(self.path)


# ---------------------------------------------------------------------------------------------------------------
# Diffing


def _canonical(value: Any, base_dir: Path) -> Any:
    """A JSON-able form of an input value for comparison; assets by content hash (as the engine compares them)."""
    if isinstance(value, pulumi.FileAsset):
        path = Path(value.path)
        data = (path if path.is_absolute() else base_dir / path).read_bytes()
        return {"asset": "file", "path": value.path, "sha256": hashlib.sha256(data).hexdigest()}
    if isinstance(value, pulumi.StringAsset):
        return {"asset": "string", "sha256": hashlib.sha256(value.text.encode()).hexdigest()}
    if isinstance(value, pulumi.FileArchive):
        return {"archive": "file", "path": value.path}
    if isinstance(value, dict):
        return {k: _canonical(v, base_dir) for k, v in sorted(value.items())}
    if isinstance(value, (list, tuple)):
        return [_canonical(v, base_dir) for v in value]
    if is_unknown(value):
        return {"unknown": True}
    return value


def input_digests(inputs: Mapping[str, Any], base_dir: Path) -> dict[str, str]:
    """``{top-level input key: sha256 of its canonical JSON}``: what the state keeps instead of the values."""
    return {
        key: hashlib.sha256(json.dumps(_canonical(value, base_dir), sort_keys=True).encode()).hexdigest()
        for key, value in inputs.items()
        if value is not None
    }


def _changed_keys(old: Mapping[str, str], new: Mapping[str, str]) -> tuple[str, ...]:
    return tuple(sorted(k for k in set(old) | set(new) if old.get(k) != new.get(k)))


# ---------------------------------------------------------------------------------------------------------------
# Remote execution (pulumi-command semantics)


def parse_duration(text: str | None) -> float | None:
    """Go duration strings as customTimeouts carry them (``15m``, ``1h30m``, ``90s``) → seconds."""
    if not text:
        return None
    units = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001}
    total, pos = 0.0, 0
    for m in re.finditer(r"(\d+(?:\.\d+)?)(ms|h|m|s)", text):
        if m.start() != pos:
            raise ValueError(f"bad duration {text!r}")
        total += float(m.group(1)) * units[m.group(2)]
        pos = m.end()
    if pos != len(text):
        raise ValueError(f"bad duration {text!r}")
    return total


@dataclass(frozen=True)
class Connection:
    host: str
    port: int
    user: str
    private_key: str
    attempts: int
    per_dial_timeout: float
    host_key: str | None = None  # pinned: ssh.FixedHostKey (tests.rehearsal.lab.ssh_connect)

    @classmethod
    def from_inputs(cls, conn: Mapping[str, Any]) -> Connection:
        if conn.get("password") or conn.get("proxy"):
            raise UnsupportedResource("the rehearsal supports key-based connections without a proxy only")
        limit = int(conn.get("dialErrorLimit") or DEFAULT_DIAL_ERROR_LIMIT)
        return cls(
            host=str(conn["host"]),
            port=int(conn.get("port") or 22),
            user=str(conn.get("user") or "root"),
            private_key=str(conn.get("privateKey") or ""),
            # dialWithRetry stops once dials > dialErrorLimit (connection.go 252–255): limit + 1 dials
            attempts=1_000_000 if limit < 0 else limit + 1,
            per_dial_timeout=float(conn.get("perDialTimeout") or DEFAULT_PER_DIAL_TIMEOUT),
            host_key=None if conn.get("hostKey") is None else str(conn["hostKey"]),
        )


def refused_environment(conn: Connection, environment: Mapping[str, str]) -> list[str]:
    """The ``environment`` names sshd refuses (its ``AcceptEnv``). pulumi-command 1.2.1 sends each as an SSH
    "env" request with want-reply and fails the resource on a refusal; paramiko (``ssh_run``) sends them
    without want-reply, where a refusal goes unnoticed. So ask first, one throwaway session per name (a
    refused request closes the session in paramiko)."""
    import paramiko
    from paramiko.common import cMSG_CHANNEL_REQUEST
    from paramiko.message import Message

    client = ssh_connect(
        conn.host,
        conn.port,
        conn.user,
        conn.private_key,
        connect_timeout=conn.per_dial_timeout,
        attempts=conn.attempts,
        host_key=conn.host_key,
    )
    refused = []
    try:
        for name, value in environment.items():
            chan = client.get_transport().open_session(timeout=conn.per_dial_timeout)
            request = Message()
            request.add_byte(cMSG_CHANNEL_REQUEST)
            request.add_int(chan.remote_chanid)
            request.add_string("env")
            request.add_boolean(True)
            request.add_string(name)
            request.add_string(value)
            chan._event_pending()
            chan.transport._send_user_message(request)
            try:
                chan._wait_for_event()
            except paramiko.SSHException:
                refused.append(name)
            chan.close()
    finally:
        client.close()
    return refused


def run_remote_command(
    conn: Connection,
    command: str,
    *,
    stdin: str | None,
    environment: Mapping[str, str] | None,
    timeout: float | None,
    optional_environment: Mapping[str, str] | None = None,
) -> tuple[str, str]:
    """Run ``command`` as pulumi-command's ``CommandOutputs.run`` does; (stdout, stderr) with one trailing
    newline trimmed, or ``CommandFailed`` with the provider's message. ``optional_environment``
    (PULUMI_COMMAND_STDOUT/STDERR) is set optimistically: the provider only warns when sshd refuses it."""
    refused = refused_environment(conn, environment) if environment else []
    if refused:
        raise CommandFailed(
            f"could not set environment variable {refused[0]!r}: ssh: setenv failed (sshd's AcceptEnv refuses "
            f"{', '.join(refused)}; pass non-secret values as 'VAR=value command' and secrets on stdin)"
        )
    rc, out, err = ssh_run(
        conn.host,
        conn.port,
        conn.user,
        conn.private_key,
        command,
        stdin or None,
        {**(optional_environment or {}), **(environment or {})},
        timeout=timeout,
        connect_timeout=conn.per_dial_timeout,
        attempts=conn.attempts,
        host_key=conn.host_key,
    )
    if rc != 0:
        combined = (out + err).splitlines()
        tail = combined[-OUTPUT_TAIL_LINES:]
        cut = f"[... {len(combined) - len(tail)} earlier lines]\n" if len(combined) > len(tail) else ""
        raise CommandFailed(f"Process exited with status {rc}: running {json.dumps(command)}:\n{cut}" + "\n".join(tail))
    return out.removesuffix("\n"), err.removesuffix("\n")


def _sftp_makedirs(sftp: Any, directory: str) -> None:
    parts = [p for p in directory.split("/") if p]
    path = "/" if directory.startswith("/") else ""
    for part in parts:
        path = f"{path}{part}" if path in ("", "/") else f"{path}/{part}"
        try:
            sftp.stat(path)
        except FileNotFoundError:
            try:
                sftp.mkdir(path)
            except OSError:
                # Like sftp.MkdirAll: a concurrent copy to the same host may have made it meanwhile.
                if not stat.S_ISDIR(sftp.stat(path).st_mode):
                    raise


def copy_to_remote(conn: Connection, source: Any, remote_path: str, base_dir: Path) -> None:
    """CopyToRemote's copy: an asset to ``remote_path`` over SFTP, parent directories created."""
    client = ssh_connect(
        conn.host,
        conn.port,
        conn.user,
        conn.private_key,
        connect_timeout=conn.per_dial_timeout,
        attempts=conn.attempts,
        host_key=conn.host_key,
    )
    try:
        sftp = client.open_sftp()
        try:
            target = remote_path
            with contextlib.suppress(FileNotFoundError):
                if stat.S_ISDIR(sftp.stat(remote_path).st_mode):
                    if not isinstance(source, pulumi.FileAsset):
                        raise RuntimeError(f"remote path {remote_path} is a directory; a text asset needs a file path")
                    target = f"{remote_path.rstrip('/')}/{Path(source.path).name}"
            _sftp_makedirs(sftp, str(Path(target).parent))
            if isinstance(source, pulumi.FileAsset):
                path = Path(source.path)
                sftp.put(str(path if path.is_absolute() else base_dir / path), target)
            elif isinstance(source, pulumi.StringAsset):
                with sftp.open(target, "w") as fh:
                    fh.write(source.text.encode())
            else:
                raise UnsupportedResource(f"CopyToRemote source {type(source).__name__} is not supported here")
        finally:
            sftp.close()
    finally:
        client.close()


def step_of_command(command: str | None) -> str | None:
    """``sudo env A=1 bash /home/admin/.hive/hostsetup/docker.sh`` → ``docker``."""
    if not command:
        return None
    with contextlib.suppress(ValueError):
        for word in reversed(shlex.split(command)):
            if word.endswith(".sh"):
                return Path(word).name[: -len(".sh")]
    return None


# ---------------------------------------------------------------------------------------------------------------
# Provider configuration (what a provider's Configure does when the engine calls it)

SSH_HELPER_HOST = "http://docker.example.com"  # docker/cli cli/connhelper/connhelper.go: the ssh helper's Host
DEFAULT_DOCKER_HOST = "unix:///var/run/docker.sock"  # docker client.DefaultDockerHost (unix)
USER_DOCKER_SOCKETS = ("unix://{home}/.docker/run/docker.sock", "unix://{home}/.docker/desktop/docker.sock")
DOCKER_CONFIG_ENV = (
    ("host", "DOCKER_HOST"),
    ("caMaterial", "DOCKER_CA_MATERIAL"),
    ("certMaterial", "DOCKER_CERT_MATERIAL"),
    ("keyMaterial", "DOCKER_KEY_MATERIAL"),
    ("certPath", "DOCKER_CERT_PATH"),
)
PING_TIMEOUT = 10.0


def contains_unknown(value: Any) -> bool:
    if is_unknown(value):
        return True
    if isinstance(value, dict):
        return any(contains_unknown(v) for v in value.values())
    if isinstance(value, (list, tuple)):
        return any(contains_unknown(v) for v in value)
    return False


def docker_ping(host: str, tls: Mapping[str, str] | None, timeout: float = PING_TIMEOUT) -> bool:
    """``GET /_ping`` on ``host`` (``unix://``/``tcp://``), with mutual TLS from PEM strings when given."""
    import tempfile

    import docker

    with tempfile.TemporaryDirectory(prefix="hive-ping-") as tmp:
        tls_config = None
        if tls:
            paths = {}
            for name in ("ca", "cert", "key"):
                path = Path(tmp) / f"{name}.pem"
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
                with os.fdopen(fd, "w") as fh:
                    fh.write(tls[name])
                paths[name] = str(path)
            tls_config = docker.tls.TLSConfig(
                client_cert=(paths["cert"], paths["key"]), ca_cert=paths["ca"], verify=paths["ca"]
            )
        try:
            client = docker.APIClient(base_url=host, tls=tls_config, timeout=timeout, version="1.41")
            client.trust_env = False
            try:
                return bool(client.ping())
            finally:
                client.close()
        except Exception:
            return False


@dataclass(frozen=True)
class DockerConfigured:
    """What pulumi-docker's ``Configure`` did: the client's daemon host and the hosts it pinged, in order."""

    daemon_host: str
    pinged: tuple[str, ...]


def docker_configure(
    inputs: Mapping[str, Any],
    *,
    env: Mapping[str, str] | None = None,
    ping: Callable[[str, Mapping[str, str] | None], bool] = docker_ping,
    home: str | None = None,
) -> DockerConfigured:
    """pulumi-docker's ``Configure`` (pulumi/pulumi-docker 237b7899): the native half always runs first
    (``provider/hybrid.go`` ``Configure``) and builds and *verifies* its client, whatever
    ``disableDockerDaemonCheck`` says (that field is the bridged half's only):

    * ``provider/provider.go`` ``setConfiguration``: ``host``/``*Material``/``certPath`` from the inputs, else
      from ``DOCKER_HOST``/``DOCKER_{CA,CERT,KEY}_MATERIAL``/``DOCKER_CERT_PATH``;
    * ``provider/image.go`` ``configureDockerClientInner``: TLS material → all three required, no
      ``certPath``; the host, then ``client.FromEnv`` (so ``DOCKER_HOST`` in the environment wins). No TLS and an
      ``ssh://`` host → docker/cli's connection helper, whose client host is ``http://docker.example.com``
      (the helper starts ``ssh`` only when a request is made);
    * ``configureDockerClient(config, verify=true)``: that helper host → no ping ("Skip checking connection for
      SSH"); else ``Ping``; without an explicit host a failed ping tries the user's Docker Desktop sockets;
      nothing answers → ``failed to connect to any docker daemon``.
    """
    env = os.environ if env is None else env
    config = {k: str(v) for k, v in inputs.items() if v is not None and k != "version"}
    for key, var in DOCKER_CONFIG_ENV:
        if key not in config and env.get(var):
            config[key] = env[var]
    explicit = "host" in config
    host = config.get("host") or DEFAULT_DOCKER_HOST
    materials = {k: config.get(f"{k}Material", "") for k in ("ca", "cert", "key")}
    tls: dict[str, str] | None = None
    if any(materials.values()):
        if not all(materials.values()):
            raise ProviderConfigureFailed("certMaterial, keyMaterial, and caMaterial must all be specified")
        if config.get("certPath"):
            raise ProviderConfigureFailed("when using raw certificates, certPath must not be specified")
        if env.get("DOCKER_CERT_PATH"):
            raise UnsupportedResource("DOCKER_CERT_PATH with TLS material: client.FromEnv's TLS is not emulated")
        tls = materials
        daemon = env.get("DOCKER_HOST") or host  # WithHost(host), then client.FromEnv
    elif config.get("certPath"):
        raise UnsupportedResource("docker provider certPath is not emulated (the program never sets it)")
    elif host.startswith("ssh://"):
        daemon = SSH_HELPER_HOST  # connhelper.GetConnectionHelperWithSSHOpts, WithHost(helper.Host) last
    else:
        daemon = env.get("DOCKER_HOST") or host
    if daemon == SSH_HELPER_HOST:
        return DockerConfigured(daemon, ())
    pinged = [daemon]
    if ping(daemon, tls):
        return DockerConfigured(daemon, tuple(pinged))
    if not explicit and os.name != "nt":
        home = home or str(Path.home())
        for pattern in USER_DOCKER_SOCKETS:
            candidate = pattern.format(home=home)
            pinged.append(candidate)
            if ping(candidate, tls):
                return DockerConfigured(candidate, tuple(pinged))
    raise ProviderConfigureFailed(f"failed to connect to any docker daemon (pinged {', '.join(pinged)})")


PROVIDER_CONFIGURE: dict[str, Callable[[Mapping[str, Any]], Any]] = {DOCKER_PROVIDER: docker_configure}


# ---------------------------------------------------------------------------------------------------------------
# TLS (terraform-provider-tls behaviour)

ECDSA_CURVES: dict[str, ec.EllipticCurve] = {
    "P224": ec.SECP224R1(),
    "P256": ec.SECP256R1(),
    "P384": ec.SECP384R1(),
    "P521": ec.SECP521R1(),
}
KEY_USAGES = {
    "digital_signature": "digital_signature",
    "content_commitment": "content_commitment",
    "key_encipherment": "key_encipherment",
    "data_encipherment": "data_encipherment",
    "key_agreement": "key_agreement",
    "cert_signing": "key_cert_sign",
    "crl_signing": "crl_sign",
    "encipher_only": "encipher_only",
    "decipher_only": "decipher_only",
}
EXTENDED_KEY_USAGES = {
    "any_extended": ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE,
    "server_auth": ExtendedKeyUsageOID.SERVER_AUTH,
    "client_auth": ExtendedKeyUsageOID.CLIENT_AUTH,
    "code_signing": ExtendedKeyUsageOID.CODE_SIGNING,
    "email_protection": ExtendedKeyUsageOID.EMAIL_PROTECTION,
    "ipsec_end_system": x509.ObjectIdentifier("1.3.6.1.5.5.7.3.5"),
    "ipsec_tunnel": x509.ObjectIdentifier("1.3.6.1.5.5.7.3.6"),
    "ipsec_user": x509.ObjectIdentifier("1.3.6.1.5.5.7.3.7"),
    "timestamping": ExtendedKeyUsageOID.TIME_STAMPING,
    "ocsp_signing": ExtendedKeyUsageOID.OCSP_SIGNING,
    "microsoft_server_gated_crypto": x509.ObjectIdentifier("1.3.6.1.4.1.311.10.3.3"),
    "netscape_server_gated_crypto": x509.ObjectIdentifier("2.16.840.1.113730.4.1"),
    "microsoft_commercial_code_signing": x509.ObjectIdentifier("1.3.6.1.4.1.311.2.1.22"),
    "microsoft_kernel_code_signing": x509.ObjectIdentifier("1.3.6.1.4.1.311.61.1.1"),
}
SUBJECT_FIELDS = (
    ("commonName", NameOID.COMMON_NAME),
    ("organization", NameOID.ORGANIZATION_NAME),
    ("organizationalUnit", NameOID.ORGANIZATIONAL_UNIT_NAME),
    ("streetAddresses", NameOID.STREET_ADDRESS),
    ("locality", NameOID.LOCALITY_NAME),
    ("province", NameOID.STATE_OR_PROVINCE_NAME),
    ("country", NameOID.COUNTRY_NAME),
    ("postalCode", NameOID.POSTAL_CODE),
    ("serialNumber", NameOID.SERIAL_NUMBER),
)


def _pem(data: bytes) -> str:
    return data.decode()


def _key_algorithm(key: Any) -> str:
    if isinstance(key, (rsa.RSAPrivateKey, rsa.RSAPublicKey)):
        return "RSA"
    if isinstance(key, (ec.EllipticCurvePrivateKey, ec.EllipticCurvePublicKey)):
        return "ECDSA"
    if isinstance(key, (ed25519.Ed25519PrivateKey, ed25519.Ed25519PublicKey)):
        return "ED25519"
    raise ValueError(f"unsupported key type {type(key).__name__}")


def private_key_outputs(inputs: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
    """tls.PrivateKey: (id, outputs)."""
    algorithm = str(inputs.get("algorithm", "RSA")).upper()
    if algorithm == "RSA":
        key: Any = rsa.generate_private_key(public_exponent=65537, key_size=int(inputs.get("rsaBits") or 2048))
        pem_format = serialization.PrivateFormat.TraditionalOpenSSL  # "RSA PRIVATE KEY"
    elif algorithm == "ECDSA":
        curve = str(inputs.get("ecdsaCurve") or "P224").upper()
        if curve not in ECDSA_CURVES:
            raise ValueError(f"tls.PrivateKey: unsupported ecdsaCurve {curve!r}")
        key = ec.generate_private_key(ECDSA_CURVES[curve])
        pem_format = serialization.PrivateFormat.TraditionalOpenSSL  # "EC PRIVATE KEY"
    elif algorithm == "ED25519":
        key = ed25519.Ed25519PrivateKey.generate()
        pem_format = serialization.PrivateFormat.PKCS8  # "PRIVATE KEY"
    else:
        raise ValueError(f"tls.PrivateKey: unsupported algorithm {algorithm!r}")
    none = serialization.NoEncryption()
    pub = key.public_key()
    spki = pub.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    outputs: dict[str, Any] = {
        "algorithm": algorithm,
        "privateKeyPem": _pem(key.private_bytes(serialization.Encoding.PEM, pem_format, none)),
        "privateKeyPemPkcs8": _pem(
            key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, none)
        ),
        "publicKeyPem": _pem(
            pub.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        ),
        "privateKeyOpenssh": "",
        "publicKeyOpenssh": "",
        "publicKeyFingerprintMd5": "",
        "publicKeyFingerprintSha256": "",
    }
    if algorithm == "RSA":
        outputs["rsaBits"] = int(inputs.get("rsaBits") or 2048)
    if algorithm == "ECDSA":
        outputs["ecdsaCurve"] = str(inputs.get("ecdsaCurve") or "P224").upper()
    if not (algorithm == "ECDSA" and outputs["ecdsaCurve"] == "P224"):  # x/crypto/ssh has no P-224
        ssh_pub = pub.public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
        blob = base64.b64decode(ssh_pub.split()[1])
        outputs["privateKeyOpenssh"] = _pem(
            key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH, none)
        )
        outputs["publicKeyOpenssh"] = ssh_pub.decode() + "\n"
        md5 = hashlib.md5(blob, usedforsecurity=False).hexdigest()
        outputs["publicKeyFingerprintMd5"] = ":".join(md5[i : i + 2] for i in range(0, len(md5), 2))
        outputs["publicKeyFingerprintSha256"] = "SHA256:" + base64.b64encode(
            hashlib.sha256(blob).digest()
        ).decode().rstrip("=")
    return hashlib.sha1(spki, usedforsecurity=False).hexdigest(), outputs


def _load_private_key(pem: str) -> Any:
    return serialization.load_pem_private_key(pem.encode(), password=None)


def _subject(subject: Mapping[str, Any] | None) -> x509.Name:
    attributes = []
    for key, oid in SUBJECT_FIELDS:
        value = (subject or {}).get(key)
        if value in (None, "", []):
            continue
        for v in value if isinstance(value, list) else [value]:
            attributes.append(x509.NameAttribute(oid, str(v)))
    return x509.Name(attributes)


def _san(inputs: Mapping[str, Any]) -> list[x509.GeneralName]:
    names: list[x509.GeneralName] = [x509.DNSName(n) for n in inputs.get("dnsNames") or []]
    names += [x509.IPAddress(ipaddress.ip_address(a)) for a in inputs.get("ipAddresses") or []]
    names += [x509.UniformResourceIdentifier(u) for u in inputs.get("uris") or []]
    return names


def _signature_hash(key: Any) -> hashes.HashAlgorithm | None:
    """What Go's x509 picks for the signer: SHA-256, SHA-384 for P-384, SHA-512 for P-521, none for Ed25519."""
    if isinstance(key, ed25519.Ed25519PrivateKey):
        return None
    if isinstance(key, ec.EllipticCurvePrivateKey):
        return {384: hashes.SHA384(), 521: hashes.SHA512()}.get(key.curve.key_size, hashes.SHA256())
    return hashes.SHA256()


def _subject_key_id(public_key: Any) -> bytes:
    """SHA-1 of the subject public key bits (RFC 5280 method 1; for RSA and ECDSA keys the same bytes
    terraform-provider-tls' generateSubjectKeyID hashes)."""
    return x509.SubjectKeyIdentifier.from_public_key(public_key).digest


def _rfc3339(t: dt.datetime) -> str:
    return t.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _issue(
    inputs: Mapping[str, Any],
    subject: x509.Name,
    public_key: Any,
    san: list[x509.GeneralName],
    signer_key: Any,
    issuer: x509.Certificate | None,
) -> tuple[str, dict[str, Any]]:
    """createCertificate of terraform-provider-tls: (id = serial, outputs)."""
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    hours = int(inputs.get("validityPeriodHours") or 0)
    serial = secrets.randbits(128)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer.subject if issuer is not None else subject)
        .public_key(public_key)
        .serial_number(serial or 1)
        .not_valid_before(now)
        .not_valid_after(now + dt.timedelta(hours=hours))
    )
    uses = list(inputs.get("allowedUses") or [])
    flags = {v: False for v in KEY_USAGES.values()}
    for use in uses:
        if use in KEY_USAGES:
            flags[KEY_USAGES[use]] = True
    if any(flags.values()):
        builder = builder.add_extension(x509.KeyUsage(**flags), critical=True)
    ekus = [EXTENDED_KEY_USAGES[u] for u in uses if u in EXTENDED_KEY_USAGES]
    if ekus:
        builder = builder.add_extension(x509.ExtendedKeyUsage(ekus), critical=False)
    is_ca = bool(inputs.get("isCaCertificate"))
    if is_ca and not list(subject):
        raise ValueError("Must contain at least one Distinguished Name when creating Certificate Authority (CA)")
    max_path = inputs.get("maxPathLength")
    path_length = int(max_path) if is_ca and max_path is not None and int(max_path) >= 0 else None
    builder = builder.add_extension(x509.BasicConstraints(ca=is_ca, path_length=path_length), critical=True)
    ski: bytes | None = None
    if is_ca or inputs.get("setSubjectKeyId"):
        ski = _subject_key_id(public_key)
        builder = builder.add_extension(x509.SubjectKeyIdentifier(ski), critical=False)
    parent_ski: bytes | None = ski if issuer is None else None
    if issuer is not None:
        with contextlib.suppress(x509.ExtensionNotFound):
            parent_ski = issuer.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value.digest
    if issuer is not None and parent_ski:  # Go's CreateCertificate takes the parent's SubjectKeyId
        builder = builder.add_extension(
            x509.AuthorityKeyIdentifier(parent_ski, None, None),
            critical=False,
        )
    if san:
        builder = builder.add_extension(x509.SubjectAlternativeName(san), critical=False)
    cert = builder.sign(signer_key, _signature_hash(signer_key))
    return str(serial or 1), {
        "certPem": _pem(cert.public_bytes(serialization.Encoding.PEM)),
        "validityStartTime": _rfc3339(now),
        "validityEndTime": _rfc3339(now + dt.timedelta(hours=hours)),
        "readyForRenewal": False,
    }


def self_signed_cert_outputs(inputs: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
    key = _load_private_key(inputs["privateKeyPem"])
    id_, outputs = _issue(inputs, _subject(inputs.get("subject")), key.public_key(), _san(inputs), key, None)
    return id_, {**outputs, "keyAlgorithm": _key_algorithm(key)}


def cert_request_outputs(inputs: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
    key = _load_private_key(inputs["privateKeyPem"])
    builder = x509.CertificateSigningRequestBuilder().subject_name(_subject(inputs.get("subject")))
    san = _san(inputs)
    if san:
        builder = builder.add_extension(x509.SubjectAlternativeName(san), critical=False)
    csr = builder.sign(key, _signature_hash(key))
    pem = _pem(csr.public_bytes(serialization.Encoding.PEM))
    return hashlib.sha1(pem.encode(), usedforsecurity=False).hexdigest(), {
        "certRequestPem": pem,
        "keyAlgorithm": _key_algorithm(key),
    }


def locally_signed_cert_outputs(inputs: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
    csr = x509.load_pem_x509_csr(inputs["certRequestPem"].encode())
    if not csr.is_signature_valid:
        raise ValueError("tls.LocallySignedCert: the certificate request's signature is invalid")
    ca_key = _load_private_key(inputs["caPrivateKeyPem"])
    ca_cert = x509.load_pem_x509_certificate(inputs["caCertPem"].encode())
    san: list[x509.GeneralName] = []
    with contextlib.suppress(x509.ExtensionNotFound):
        san = list(csr.extensions.get_extension_for_class(x509.SubjectAlternativeName).value)
    id_, outputs = _issue(inputs, csr.subject, csr.public_key(), san, ca_key, ca_cert)
    return id_, {**outputs, "caKeyAlgorithm": _key_algorithm(ca_key)}


# ---------------------------------------------------------------------------------------------------------------
# random.RandomPassword

DEFAULT_SPECIAL = "!@#$%&*()-_=+[]{}<>:?"


def random_password_outputs(inputs: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
    import bcrypt  # paramiko's dependency

    def flag(name: str) -> bool:
        value = inputs.get(name)
        return True if value is None else bool(value)

    length = int(inputs["length"])
    classes: list[tuple[str, int]] = []
    if flag("upper"):
        classes.append((string.ascii_uppercase, int(inputs.get("minUpper") or 0)))
    if flag("lower"):
        classes.append((string.ascii_lowercase, int(inputs.get("minLower") or 0)))
    if flag("numeric") and flag("number"):
        classes.append((string.digits, int(inputs.get("minNumeric") or 0)))
    if flag("special"):
        classes.append((inputs.get("overrideSpecial") or DEFAULT_SPECIAL, int(inputs.get("minSpecial") or 0)))
    if not classes:
        raise ValueError("random.RandomPassword: every character class is disabled")
    if sum(n for _, n in classes) > length:
        raise ValueError("random.RandomPassword: the minimum counts exceed length")
    chars = [secrets.choice(alphabet) for alphabet, n in classes for _ in range(n)]
    pool = "".join(alphabet for alphabet, _ in classes)
    chars += [secrets.choice(pool) for _ in range(length - len(chars))]
    order = list(range(len(chars)))
    for i in range(len(order) - 1, 0, -1):  # Fisher-Yates with a CSPRNG
        j = secrets.randbelow(i + 1)
        order[i], order[j] = order[j], order[i]
    result = "".join(chars[i] for i in order)
    bcrypt_hash = bcrypt.hashpw(result.encode(), bcrypt.gensalt(rounds=10)).decode()
    return "none", {"result": result, "bcryptHash": bcrypt_hash}


GENERATORS: dict[str, Callable[[Mapping[str, Any]], tuple[str, dict[str, Any]]]] = {
    PRIVATE_KEY: private_key_outputs,
    SELF_SIGNED_CERT: self_signed_cert_outputs,
    CERT_REQUEST: cert_request_outputs,
    LOCALLY_SIGNED_CERT: locally_signed_cert_outputs,
    RANDOM_PASSWORD: random_password_outputs,
}


# ---------------------------------------------------------------------------------------------------------------
# The mocks


def _default_log(message: str) -> None:
    print(f"[rehearsal] {message}", flush=True)


def _command_run(
    args: HarnessResourceArgs, inputs: dict, operation: str, old: dict | None
) -> tuple[str | None, float | None, str]:
    """What a pulumi-command Command (remote or local) runs for ``operation``: ``update`` (else ``create``) on an
    update, keeping the id; ``create`` on a create, with a new id (resource.NewUniqueHex(name, 8, 0)); the
    operation's custom timeout."""
    timeouts = args.record.custom_timeouts or {}
    if operation == UPDATE:
        return (
            inputs.get("update") or inputs.get("create"),
            parse_duration(timeouts.get("update")),
            old["id"] if old else "",
        )
    return inputs.get("create"), parse_duration(timeouts.get("create")), f"{args.name}{uuid.uuid4().hex[:8]}"


class RehearsalMocks(BaseMocks):
    """Executes commands/copies over SSH and makes real keys/certs/passwords; see the module docstring.

    ``state_path``: the JSON state file (created on first use). ``base_dir``: what relative ``FileAsset`` paths
    are relative to (the program's working directory, i.e. the project directory; default: the current
    directory when a resource is executed, which ``run_program`` sets to the project). ``log``: one line per
    execution (default: print). ``targets``: ``pulumi up --target`` — a predicate on a custom resource's
    ``HarnessResourceArgs``; the others are left as they are (see the module docstring).
    """

    def __init__(
        self,
        state_path: str | Path,
        *,
        base_dir: str | Path | None = None,
        log: Callable[[str], None] | None = _default_log,
        targets: Callable[[HarnessResourceArgs], bool] | None = None,
    ) -> None:
        super().__init__()
        self.targets = targets
        self.state = RehearsalState(Path(state_path))
        self.base_dir = Path(base_dir) if base_dir is not None else None
        self.log = log or (lambda message: None)
        self.runs: list[RunRecord] = []
        self._seen: set[str] = set()
        self._provider_known: dict[str, bool] = {}  # provider URN -> configured (all inputs known), this run
        self.provider_configure: dict[str, Callable[[Mapping[str, Any]], Any]] = dict(PROVIDER_CONFIGURE)
        self.configured: list[tuple[int, str, Any]] = []  # (run, provider URN, what its Configure did)
        self._next_run = 1 + max((int(e.get("run", 0)) for e in self.state.resources.values()), default=0)

    # -- runs ------------------------------------------------------------------------------------------------
    def bind(self, *, preview: bool, stack: str, project: str, config: Mapping[str, str]) -> None:
        """Called by ``run_program`` before each run: starts a new run record."""
        super().bind(preview=preview, stack=stack, project=project, config=config)
        with self.lock:
            self.runs.append(RunRecord(number=self._next_run, preview=preview, started=time.time()))
            self._next_run += 1
            self._seen = set()
            self._provider_known = {}

    @property
    def current(self) -> RunRecord:
        if not self.runs:
            raise RuntimeError("no run yet")
        return self.runs[-1]

    @property
    def decisions(self) -> list[Decision]:
        return [d for r in self.runs for d in r.decisions]

    @property
    def executions(self) -> list[Execution]:
        return [e for r in self.runs for e in r.executions]

    def remember(self, run: ProgramRun) -> None:
        """After a successful ``up``: store its stack outputs (what the next run's StackReference reads) and
        drop the resources it no longer registers (running a Command's ``delete`` when it has one)."""
        with self.lock:
            record = self.current
        if run.preview:
            return  # a preview's outputs (unknowns) are never what a StackReference reads
        super().remember(run)
        name = f"{run.organization}/{run.project}/{run.stack}"
        with self.lock:
            self.state.stacks[name] = {"outputs": _encode(run.outputs), "secret": sorted(run.secret_outputs)}
            gone = [(urn, entry) for urn, entry in self.state.resources.items() if urn not in self._seen]
        # newest first: a resource is stored after what it depends on, and the engine deletes dependents first
        # (a service before the docker secret it mounts, which swarm refuses to remove while in use)
        for urn, entry in reversed(gone):
            self._delete(urn, entry, record)
        with self.lock:
            self.state.save()

    def stack_reference_outputs(self, stack_name: str) -> tuple[dict[str, Any], list[str]]:
        outputs, secret = super().stack_reference_outputs(stack_name)
        if outputs:
            return outputs, secret
        with self.lock:
            for key, entry in self.state.stacks.items():
                if stack_name in (key, key.rsplit("/", 1)[-1]):
                    return _decode(entry["outputs"]), list(entry["secret"])
        return {}, []

    # -- Mocks API -------------------------------------------------------------------------------------------
    def new_resource(self, args: Any) -> tuple[str, dict]:
        if args.custom and args.typ.startswith(PROVIDER_PREFIX):
            return self._provider(args)
        if not args.custom or args.typ == STACK_REFERENCE:
            return super().new_resource(args)
        if self.targets is not None and not self.targets(args):
            return self._skip(args)
        if args.typ not in (COMMAND, COPY, LOCAL_COMMAND, *GENERATORS):
            if self.preview:  # a preview executes nothing: a create with unknown outputs
                with self.lock:
                    self.current.decisions.append(Decision(self.current.number, args.urn, args.typ, args.name, CREATE))
                return "", dict(args.inputs)
            raise UnsupportedResource(
                f"{args.typ} {args.name!r}: the rehearsal does not execute this resource type (it never fakes one)"
            )
        return self._apply(args)

    # -- the engine ------------------------------------------------------------------------------------------
    def _base_dir(self) -> Path:
        return self.base_dir or Path.cwd()

    def _provider(self, args: HarnessResourceArgs) -> tuple[str, dict]:
        """An explicit provider: its step (create/same/update, never replace) and, when every input is known,
        its ``Configure`` (``PROVIDER_CONFIGURE``; a failure fails the run, as in the engine)."""
        urn, inputs = args.urn, dict(args.inputs)
        digests = input_digests(inputs, self._base_dir())
        with self.lock:
            old = self.state.resources.get(urn)
            record = self.current
            self._seen.add(urn)
        if self.targets is not None and not self.targets(args):
            # --target leaves it out: a SkippedCreate or an untargeted same, neither configured (step.go
            # SameStep.Apply: `!s.skippedCreate && !s.untargeted`); its resources are left out too.
            with self.lock:
                record.provider_decisions.append(Decision(record.number, urn, args.typ, args.name, SKIP))
            return (old["id"] if old else ""), inputs
        if old is None or old.get("type") != args.typ:
            operation, changed = CREATE, tuple(sorted(digests))
        else:
            changed = _changed_keys(old.get("inputs", {}), digests)
            operation = UPDATE if changed else SAME
        known = not contains_unknown({k: v for k, v in inputs.items() if k != "version"})
        with self.lock:
            record.provider_decisions.append(Decision(record.number, urn, args.typ, args.name, operation, changed))
            self._provider_known[urn] = known
        configure = self.provider_configure.get(args.typ)
        if known and configure is not None:
            try:
                done = configure(inputs)
            except ProviderConfigureFailed as exc:
                raise ProviderConfigureFailed(f"configure provider '{urn}': {exc}") from exc
            with self.lock:
                self.configured.append((record.number, urn, done))
        new_id = "" if self.preview else str(uuid.uuid4())  # registry.go Create: UnknownID in a preview
        id_ = old["id"] if operation != CREATE else new_id
        if not self.preview:
            with self.lock:
                self.state.resources[urn] = {
                    "type": args.typ, "name": args.name, "id": id_, "inputs": digests, "outputs": {},
                    "run": record.number,
                }  # fmt: skip
                self.state.save()
        return id_, inputs

    def provider_unconfigured(self, args: HarnessResourceArgs) -> bool:
        """True in a preview when the resource's explicit provider has an unknown input (not configured)."""
        urn = (args.provider or "").rsplit("::", 1)[0]
        with self.lock:
            return self.preview and self._provider_known.get(urn) is False

    def _diff_unavailable(
        self, args: HarnessResourceArgs, old: dict | None, operation: str, changed: tuple
    ) -> tuple[str, tuple]:
        """A resource in the state under an unconfigured provider, in a preview: ``DiffUnavailable`` → update."""
        if old is not None and operation != CREATE and self.provider_unconfigured(args):
            return UPDATE, (DIFF_UNAVAILABLE,)
        return operation, changed

    def _skip(self, args: HarnessResourceArgs) -> tuple[str, dict]:
        """Not targeted: what is in the state stays (same id and outputs); a new resource is not created — its
        outputs are its inputs and it is not stored (the engine's SkippedCreate)."""
        with self.lock:
            old = self.state.resources.get(args.urn)
            self._seen.add(args.urn)
            self.current.decisions.append(Decision(self.current.number, args.urn, args.typ, args.name, SKIP))
        if old is not None:
            return old["id"], _decode(old["outputs"])
        return "", dict(args.inputs)

    def _plan(self, args: HarnessResourceArgs, old: dict | None, digests: dict[str, str]) -> tuple[str, tuple]:
        if old is None or old.get("type") != args.typ:
            return CREATE, tuple(sorted(digests))
        changed = _changed_keys(old.get("inputs", {}), digests)
        if not changed:
            return SAME, ()
        if args.typ in GENERATORS or "triggers" in changed:
            return REPLACE, changed
        return UPDATE, changed

    def _apply(self, args: HarnessResourceArgs) -> tuple[str, dict]:
        urn = args.urn
        inputs = dict(args.inputs)
        base_dir = self._base_dir()
        digests = input_digests(inputs, base_dir)
        with self.lock:
            old = self.state.resources.get(urn)
            record = self.current
            self._seen.add(urn)
        operation, changed = self._diff_unavailable(args, old, *self._plan(args, old, digests))
        with self.lock:
            record.decisions.append(Decision(record.number, urn, args.typ, args.name, operation, changed))
        if operation == SAME:
            return old["id"], _decode(old["outputs"])
        if self.preview:
            if operation == UPDATE and args.typ == COMMAND:
                # pulumi-command v1.2.1 remote/commandController.go l. 70–73: Update in a preview returns the new
                # inputs with the OLD stdout/stderr (BaseOutputs of the state)
                kept = _decode(old["outputs"])
                return old["id"], {**inputs, "stdout": kept.get("stdout", ""), "stderr": kept.get("stderr", "")}
            return (old["id"] if operation == UPDATE else ""), inputs

        old_outputs = _decode(old["outputs"]) if old else {}
        host = step = None
        if args.typ in (COMMAND, COPY):
            host = str(inputs["connection"]["host"])
            step = step_of_command(inputs.get("create")) if args.typ == COMMAND else Path(inputs["remotePath"]).name

        def action() -> tuple[str, dict, str]:
            if args.typ == COMMAND:
                return self._command(args, inputs, operation, old, old_outputs)
            if args.typ == COPY:
                return (*self._copy(inputs, operation, old, old_outputs, base_dir), "")
            if args.typ == LOCAL_COMMAND:
                return self._local_command(args, inputs, operation, old, old_outputs, base_dir)
            id_, outputs = GENERATORS[args.typ](inputs)
            return id_, {**inputs, **outputs}, ""

        return self._execute(args, record, operation, host, step, digests, action)

    def _execute(
        self,
        args: HarnessResourceArgs,
        record: RunRecord,
        operation: str,
        host: str | None,
        step: str | None,
        digests: dict[str, str],
        action: Callable[[], tuple[str, dict, str]],
        **state_extra: Any,
    ) -> tuple[str, dict]:
        """Run ``action`` (→ id, outputs, summary), record the execution, keep the result in the state."""
        urn = args.urn
        started, t0 = time.time(), time.monotonic()
        try:
            id_, outputs, summary = action()
        except Exception as exc:
            finished = started + (time.monotonic() - t0)
            execution = Execution(
                record.number, urn, args.typ, args.name, operation, host, step, started, finished, False, "", str(exc)
            )
            with self.lock:
                record.executions.append(execution)
            self.log(f"{args.name}: {operation} FAILED after {execution.duration:.1f}s")
            raise
        finished = started + (time.monotonic() - t0)
        execution = Execution(
            record.number, urn, args.typ, args.name, operation, host, step, started, finished, True, summary
        )
        with self.lock:
            record.executions.append(execution)
            self.state.resources[urn] = {
                "type": args.typ,
                "name": args.name,
                "id": id_,
                "inputs": digests,
                "outputs": _encode(outputs),
                "run": record.number,
                **state_extra,
            }
            self.state.save()
        where = f" on {host}" if host else ""
        self.log(f"{args.name}: {operation}{where} {execution.duration:.1f}s {summary}".rstrip())
        return id_, outputs

    def _command(
        self, args: HarnessResourceArgs, inputs: dict, operation: str, old: dict | None, old_outputs: dict
    ) -> tuple[str, dict, str]:
        conn = Connection.from_inputs(inputs["connection"])
        command, timeout, id_ = _command_run(args, inputs, operation, old)
        env = dict(inputs.get("environment") or {})
        previous = {}
        if operation == UPDATE and inputs.get("addPreviousOutputInEnv") is not False:
            if old_outputs.get("stdout"):
                previous["PULUMI_COMMAND_STDOUT"] = old_outputs["stdout"]
            if old_outputs.get("stderr"):
                previous["PULUMI_COMMAND_STDERR"] = old_outputs["stderr"]
        if not command:
            return id_, {**inputs, "stdout": old_outputs.get("stdout", ""), "stderr": old_outputs.get("stderr", "")}, ""
        stdout, stderr = run_remote_command(
            conn, command, stdin=inputs.get("stdin"), environment=env, timeout=timeout, optional_environment=previous
        )
        last = stderr.rsplit("\n", 1)[-1].strip()
        return id_, {**inputs, "stdout": stdout, "stderr": stderr}, last if SUMMARY_RE.match(last) else ""

    def _local_command(
        self, args: HarnessResourceArgs, inputs: dict, operation: str, old: dict | None, old_outputs: dict, base: Path
    ) -> tuple[str, dict, str]:
        """pulumi-command 1.2.1 ``local.Command`` (provider/pkg/provider/local/commandOutputs.go ``run``,
        commandController.go ``Update``): ``/bin/sh -c <create>`` (``update`` on an update when set), in ``dir``
        else the program's directory, with this environment plus ``environment``; stdout/stderr with one trailing
        newline trimmed; a failure is ``<exit status>: running "<cmd>":\n<output>``."""
        if inputs.get("delete") or inputs.get("interpreter") or inputs.get("assetPaths") or inputs.get("archivePaths"):
            raise UnsupportedResource(f"{LOCAL_COMMAND} {args.name!r}: delete/interpreter/assets are not emulated")
        command, timeout, id_ = _command_run(args, inputs, operation, old)
        if not command:
            return id_, {**inputs, "stdout": old_outputs.get("stdout", ""), "stderr": old_outputs.get("stderr", "")}, ""
        env = {**os.environ, **{str(k): str(v) for k, v in (inputs.get("environment") or {}).items()}}
        if operation == UPDATE and inputs.get("addPreviousOutputInEnv") is not False:
            for key, name in (("stdout", "PULUMI_COMMAND_STDOUT"), ("stderr", "PULUMI_COMMAND_STDERR")):
                if old_outputs.get(key):
                    env[name] = old_outputs[key]
        done = subprocess.run(
            ["/bin/sh", "-c", command],
            cwd=inputs.get("dir") or base,
            env=env,
            input=(inputs.get("stdin") or "").encode(),
            capture_output=True,
            timeout=timeout,
        )
        out, err = done.stdout.decode(errors="replace"), done.stderr.decode(errors="replace")
        if done.returncode != 0:
            raise CommandFailed(f"exit status {done.returncode}: running {json.dumps(command)}:\n{out}{err}")
        return id_, {**inputs, "stdout": out.removesuffix("\n"), "stderr": err.removesuffix("\n")}, ""

    def _copy(
        self, inputs: dict, operation: str, old: dict | None, old_outputs: dict, base_dir: Path
    ) -> tuple[str, dict]:
        source = inputs["source"]
        if operation == UPDATE and old is not None:
            new = input_digests({"source": source, "remotePath": inputs["remotePath"]}, base_dir)
            if all(old["inputs"].get(k) == v for k, v in new.items()):
                return old["id"], inputs  # the provider's Update copies only on a new asset or path
        copy_to_remote(Connection.from_inputs(inputs["connection"]), source, inputs["remotePath"], base_dir)
        return (old["id"] if operation == UPDATE and old else uuid.uuid4().hex[:16]), inputs

    def _delete(self, urn: str, entry: dict, record: RunRecord) -> None:
        with self.lock:
            record.decisions.append(Decision(record.number, urn, entry["type"], entry.get("name", ""), DELETE))
        outputs = _decode(entry["outputs"])
        if entry["type"] == COMMAND and outputs.get("delete"):
            started, t0 = time.time(), time.monotonic()
            conn = Connection.from_inputs(outputs["connection"])
            env = dict(outputs.get("environment") or {})
            ok, error = True, ""
            try:
                run_remote_command(conn, outputs["delete"], stdin=outputs.get("stdin"), environment=env, timeout=300)
            except Exception as exc:  # a failed delete keeps the resource, as Pulumi does
                ok, error = False, str(exc)
            finished = started + (time.monotonic() - t0)
            with self.lock:
                record.executions.append(
                    Execution(
                        record.number,
                        urn,
                        entry["type"],
                        entry.get("name", ""),
                        DELETE,
                        conn.host,
                        step_of_command(outputs["delete"]),
                        started,
                        finished,
                        ok,
                        "",
                        error,
                    )
                )
            if not ok:
                raise CommandFailed(error)
        with self.lock:
            self.state.resources.pop(urn, None)


# ---------------------------------------------------------------------------------------------------------------
# Running


def rehearse(
    project_dir: str | Path,
    stack: str,
    config: Mapping[str, Any],
    mocks: RehearsalMocks,
    *,
    preview: bool = False,
    secret_config: Iterable[str] = (),
) -> ProgramRun:
    """``pulumi up`` (or ``preview``) of the real program against real hosts: ``run_program`` with the
    rehearsal mocks and a thread pool large enough for every independent resource; after a successful ``up``
    the stack outputs and the state are stored (``mocks.remember``)."""
    try:
        run = run_program(
            project_dir,
            stack,
            config,
            preview=preview,
            mocks=mocks,
            secret_config=secret_config,
            parallel=RUN_PARALLELISM,
        )
    finally:
        with mocks.lock:
            mocks.current.finished = time.time()
    mocks.remember(run)
    return run


def executions_as_dicts(executions: Iterable[Execution]) -> list[dict[str, Any]]:
    return [{**asdict(e), "duration": round(e.duration, 3)} for e in executions]
