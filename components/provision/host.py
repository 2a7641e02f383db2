"""One host's provisioning: the host's hostsetup files shipped in one transfer, one ``remote.Command`` per
step (DESIGN §6).

Files. One ``remote.Command`` (``<host>-files``) carries every file the host's steps use as a deterministic
tar.gz (base64) on stdin, unpacks it beside the scripts and runs ``ship.sh``, which renames each changed file
into place (issue 13: one SSH session per host instead of one SFTP connection per file; a crash leaves no
half-written script). A changed file changes stdin: an update, which re-runs ``create`` (no ``update`` set).

Every command carries ``triggers`` with the content hash of the files it uses and the machine's identity: a
script edit replaces (re-runs) exactly the steps that use it, a replaced machine gets every ``create`` again.
Any other input change (the command line, i.e. the non-secret environment, or stdin) is an update, which
re-runs ``create`` too. Secrets reach a step only on stdin; steps whose stdin is secret log nothing and keep
stdout/stderr secret in state.

Steps are added by :meth:`HostProvisioner.run` in an order where everything a step waits for already exists
(:func:`components.provision.steps.site_steps` gives one); cross-host waits are passed in as resources.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import io
import tarfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pulumi
from pulumi_command import remote

from components.infra.types import ProvisionedHost
from components.provision.steps import StepSpec, remote_dir, render_command

HOSTSETUP_DIR = Path(__file__).resolve().parents[2] / "hostsetup"
# A fresh machine may refuse connections (booting) or keys (cloud-init not done) for a few minutes. The
# provider retries a failed dial with a backoff growing to ~5 s; 60 dials cover ~5 minutes of refusals and
# still give up on a dead host (60 × 15 s timeouts at worst).
DIAL_ERROR_LIMIT = 60
PER_DIAL_TIMEOUT = 15
DELETE_TIMEOUT = "5m"
SECRET_OUTPUTS = ["stdout", "stderr"]
SHIP = "ship.sh"
FILES_TIMEOUT = "5m"


@dataclass(frozen=True)
class HostProvisionerArgs:
    host: ProvisionedHost
    ssh_user: str
    ssh_private_key: pulumi.Input[str]
    steps: Sequence[StepSpec]  # this host's steps (what is shipped is what they use)
    shipped: Sequence[str] = ()  # files other layers run on the host (steps.swarm_files): in the bundle too
    scripts_dir: Path = HOSTSETUP_DIR


def file_sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def bundle(directory: Path, files: Sequence[str]) -> str:
    """``files`` of ``directory`` as a base64 tar.gz that depends on their names and contents only (sorted,
    no times, owners or modes), so an unchanged set of files gives the same text on every run."""
    raw = io.BytesIO()
    with gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as gz, tarfile.open(fileobj=gz, mode="w") as tar:
        for name in sorted(set(files)):
            data = (directory / name).read_bytes()
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.mtime = len(data), 0o644, 0
            tar.addfile(info, io.BytesIO(data))
    return base64.b64encode(raw.getvalue()).decode()


def ship_command(user: str) -> str:
    """Unpack the bundle on stdin into ``<remote_dir>/.incoming`` and let ``ship.sh`` put it in place."""
    incoming = f"{remote_dir(user)}/.incoming"
    return f"rm -rf {incoming} && mkdir -p {incoming} && base64 -d | tar -xzf - -C {incoming} && bash {incoming}/{SHIP}"


class HostProvisioner(pulumi.ComponentResource):
    """The hostsetup files on one host and the commands of its steps (``commands[step]``)."""

    commands: dict[str, remote.Command]
    files: remote.Command  # ships every hostsetup file of the host; the steps (and drbd's scripts) wait for it

    def __init__(self, name: str, args: HostProvisionerArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("hive:provision:Host", name, None, opts)
        self._name = name
        self._args = args
        host = args.host
        self.connection = remote.ConnectionArgs(
            host=host.address,
            port=host.ssh_port,
            user=args.ssh_user,
            private_key=pulumi.Output.secret(args.ssh_private_key),
            host_key=host.host_key,  # pinned: components/infra/host_keys.py
            dial_error_limit=DIAL_ERROR_LIMIT,
            per_dial_timeout=PER_DIAL_TIMEOUT,
        )
        files = list(dict.fromkeys([SHIP, *(f for spec in args.steps for f in spec.files), *args.shipped]))
        missing = [f for f in files if not (args.scripts_dir / f).is_file()]
        if missing:
            raise pulumi.RunError(f"hostsetup files missing in {args.scripts_dir}: {', '.join(missing)}")
        self.hashes = {f: file_sha256(args.scripts_dir / f) for f in files}
        self.files = remote.Command(
            f"{name}-files",
            connection=self.connection,
            create=ship_command(args.ssh_user),
            stdin=bundle(args.scripts_dir, files),
            triggers=[host.identity],
            logging=remote.Logging.STDOUT_AND_STDERR,
            add_previous_output_in_env=False,
            opts=pulumi.ResourceOptions(
                parent=self,
                deleted_with=host.machine,
                custom_timeouts=pulumi.CustomTimeouts(create=FILES_TIMEOUT, update=FILES_TIMEOUT),
            ),
        )
        self.commands = {}

    def run(
        self,
        spec: StepSpec,
        *,
        stdin: pulumi.Input[str] | None = None,
        after: Sequence[pulumi.Resource] = (),
    ) -> remote.Command:
        """Add the command of ``spec``; ``stdin`` is its secret input, ``after`` the other hosts' steps it waits for."""
        if spec.needs_stdin_secret != (stdin is not None):
            raise ValueError(f"step {spec.name} on {spec.host}: stdin {'missing' if stdin is None else 'unexpected'}")
        if spec.name in self.commands:
            raise ValueError(f"step {spec.name} on {spec.host} added twice")
        earlier = [self.commands[name] for name in spec.depends_on]
        timeout = spec.custom_timeout  # never stops a hung command (see steps.py): the host-side limit does
        secret = spec.handles_secrets
        command = remote.Command(
            f"{self._name}-{spec.name}",
            connection=self.connection,
            create=render_command(spec, self._args.ssh_user),
            stdin=None if stdin is None else pulumi.Output.secret(stdin),
            triggers=[*(self.hashes[file] for file in spec.files), self._args.host.identity],
            logging=remote.Logging.NONE if secret else remote.Logging.STDOUT_AND_STDERR,
            add_previous_output_in_env=False,
            opts=pulumi.ResourceOptions(
                parent=self,
                deleted_with=self._args.host.machine,
                depends_on=[self.files, *earlier, *after],
                additional_secret_outputs=SECRET_OUTPUTS if secret else None,
                custom_timeouts=pulumi.CustomTimeouts(create=timeout, update=timeout, delete=DELETE_TIMEOUT),
            ),
        )
        self.commands[spec.name] = command
        return command

    def finish(self) -> None:
        """Call once every step is added."""
        self.register_outputs({"steps": list(self.commands)})
