"""A DRBD site on the VM lab: the real inventory (stage + catalog → Site) and the real host steps over SSH.

The stage is a ``prepared`` one whose ``ip_address_list`` is the VMs' addresses, with ``no_mirrored_device``
naming s-hive1 (a diskless peer); the catalog has one service with one ``drbd`` volume. Every command is
what the program renders: ``steps.render``-style ``sudo env HIVE_…=… bash ~/.hive/hostsetup/<step>.sh``, with
the env from the program's own builders (``steps.definition(name).env``, ``drbd_config.volume_steps``,
``drbd_config.growfs_env``) and the resource file from ``drbd_config.render_resource`` on stdin. The scripts
are shipped the way the program ships them: the whole hostsetup/ directory to ``~/.hive/hostsetup/``.
"""

from __future__ import annotations

import base64
import dataclasses
import io
import tarfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from components.inventory.addressing import Host
from components.inventory.allocation import Allocations
from components.inventory.services import parse_catalog
from components.inventory.site import Site, resolve_site
from components.inventory.stage import ConfigValue, parse_stage
from components.provision import steps
from components.swarm import commands, drbd_config
from tests.vmlab.lab import VmLab

PROJECT = Path(__file__).resolve().parents[2]
HOSTSETUP = PROJECT / "hostsetup"
USER = "admin"
VOLUME = "db_data"
DISKLESS_INDEX = 1  # s-hive1: no_mirrored_device


@dataclass(frozen=True)
class StepRun:
    host: str
    step: str
    rc: int
    stdout: str
    stderr: str

    @property
    def summary(self) -> str:
        """The contract's last stderr line: ``unchanged: <step>`` or ``changed: <N> item(s)``."""
        lines = self.stderr.strip().splitlines()
        return lines[-1] if lines else ""

    @property
    def changes(self) -> list[str]:
        return [line.split("changed: ", 1)[1] for line in self.stderr.splitlines() if "] changed: " in line]

    def check(self) -> StepRun:
        assert self.rc == 0, f"{self.step} on {self.host} failed rc={self.rc}\nstderr:\n{self.stderr[-6000:]}"
        return self


def stage_config(lab: VmLab, addresses: list[str], size: str) -> tuple[Any, Any]:
    values = {
        "hive:name": "pdns",
        "hive:stage": "staging",
        "hive:provider": "prepared",
        "hive:cidr": lab.cidr,
        "hive:separate_repository": False,
        "hive:ip_address_list": addresses,
        "hive:no_mirrored_device": [DISKLESS_INDEX],
        "hive:ssh_user": USER,
        "hive:ssh_private_key": "[secret]",
    }
    config = {k: ConfigValue(v, "Pulumi.vmlab.yaml", secret=k == "hive:ssh_private_key") for k, v in values.items()}
    stage = parse_stage(config, "vmlab")
    catalog = parse_catalog(
        [
            (
                "services/site.yml",
                {
                    "plugin": "hive_services",
                    "services": {
                        "db": {
                            "image": "debian:trixie",
                            "volumes": [
                                {"source": VOLUME, "target": "/data", "drbd": {"size": size, "fstype": "ext4"}}
                            ],
                        }
                    },
                },
            )
        ]
    )
    return stage, catalog


class DrbdSite:
    """The lab's three hives as a prepared stage with one DRBD volume; runs the program's DRBD steps."""

    def __init__(
        self, lab: VmLab, addresses: dict[str, str], drbd_url: str, size: str = "64M", files_ca: str = ""
    ) -> None:
        self.lab = lab
        self.addresses = addresses
        self.drbd_url = drbd_url
        self.files_ca = files_ca  # the lab file server's CA (PEM): the hosts download over https only
        self.module_url = ""
        self.resize(size)

    def resize(self, size: str) -> None:
        stage, catalog = stage_config(self.lab, list(self.addresses.values()), size)
        self.site: Site = resolve_site(stage, catalog, Allocations.empty())

    # -- the site ------------------------------------------------------------------------------------------
    @property
    def hives(self) -> list[Host]:
        return list(self.site.hives)

    def host(self, hostname: str) -> Host:
        return next(h for h in self.site.hives if h.hostname == hostname)

    @property
    def volume(self) -> Any:
        return drbd_config.volume_named(self.site, VOLUME)

    @property
    def device(self) -> str:
        return f"/dev/drbd{self.volume.minor}"

    def diskful(self) -> list[Host]:
        return [h for h in self.hives if not drbd_config.is_diskless(self.volume, h)]

    # -- commands ------------------------------------------------------------------------------------------
    def ssh(self, hostname: str, command: str, stdin: str | None = None, timeout: float = 300) -> tuple[int, str, str]:
        return self.lab.ssh(self.host(hostname).private_ip, command, stdin=stdin, timeout=timeout)

    def ok(self, hostname: str, command: str, stdin: str | None = None, timeout: float = 300) -> str:
        rc, out, err = self.ssh(hostname, command, stdin=stdin, timeout=timeout)
        assert rc == 0, f"{hostname}: {command!r} failed rc={rc}\nstdout:\n{out}\nstderr:\n{err}"
        return out

    def ship(self, hostname: str) -> None:
        """hostsetup/ to ~/.hive/hostsetup/ (what the program's `<host>-files` bundles do)."""
        buffer = io.BytesIO()
        with tarfile.open(fileobj=buffer, mode="w") as tar:
            for path in sorted(HOSTSETUP.iterdir()):
                if path.is_file():
                    tar.add(path, arcname=path.name)
        target = steps.remote_dir(USER)
        rc, _, err = self.lab.ssh(
            self.host(hostname).private_ip,
            f"mkdir -p {target} && base64 -d | tar -xf - -C {target}",
            stdin=base64.b64encode(buffer.getvalue()).decode(),
            timeout=60,
        )
        assert rc == 0, err

    def run(
        self, hostname: str, script: str, env: dict[str, str], stdin: str | None = None, timeout: float = 1800
    ) -> StepRun:
        command = commands.script_command(USER, script, env)
        rc, out, err = self.ssh(hostname, command, stdin=stdin, timeout=timeout)
        return StepRun(hostname, script.removesuffix(".sh"), rc, out, err)

    def host_step(
        self, step: str, hostname: str, extra: dict[str, str] | None = None, stdin: str | None = None
    ) -> StepRun:
        """The step exactly as the provisioner renders it for this host (``steps.host_steps`` →
        ``steps.render_command``), with ``extra`` env (the operator's HIVE_DRBD_MODULE_URL) added and ``stdin``
        (what the program feeds the step: certificates, the join token)."""
        (spec,) = [s for s in steps.host_steps(self.site, self.host(hostname)) if s.name == step]
        if extra:
            spec = dataclasses.replace(spec, env={**spec.env, **extra})
        command = steps.render_command(spec, USER)
        rc, out, err = self.ssh(hostname, command, stdin=stdin, timeout=spec.timeout_seconds + 60)
        return StepRun(hostname, step, rc, out, err)

    def install(self, hostname: str, prebuilt: bool) -> StepRun:
        # The lab serves the source over https on this machine with a CA of its own: its URL replaces the stage's
        # in the step's environment, as an operator running the script by hand would, and curl trusts that CA
        # (CURL_CA_BUNDLE, a file written on the host first).
        extra = {"HIVE_DRBD_URL": self.drbd_url}
        if self.files_ca:
            bundle = "/etc/ssl/certs/hive-vmlab-files.pem"
            self.ok(hostname, f"sudo tee {bundle} >/dev/null", stdin=self.files_ca)
            extra["CURL_CA_BUNDLE"] = bundle
        if prebuilt:
            extra["HIVE_DRBD_MODULE_URL"] = self.module_url
        return self.host_step("drbd-install", hostname, extra)

    def volume_runs(self) -> list[StepRun]:
        """drbd-volume.sh on every hive in the program's order (the format host last), each after the previous."""
        resource = drbd_config.render_resource(self.site, self.volume)
        runs = []
        for plan in drbd_config.volume_steps(self.site, self.volume):
            runs.append(self.run(plan.host.hostname, commands.DRBD_VOLUME, plan.env, stdin=resource, timeout=900))
        return runs

    def volume_run(self, hostname: str) -> StepRun:
        """drbd-volume.sh on one hive, as the program runs it there (a replaced hive's step re-runs alone)."""
        resource = drbd_config.render_resource(self.site, self.volume)
        (plan,) = [p for p in drbd_config.volume_steps(self.site, self.volume) if p.host.hostname == hostname]
        return self.run(hostname, commands.DRBD_VOLUME, plan.env, stdin=resource, timeout=900)

    def growfs_runs(self) -> list[StepRun]:
        return [
            self.run(h.hostname, commands.DRBD_GROWFS, drbd_config.growfs_env(self.site, self.volume, h), timeout=600)
            for h in self.hives
        ]

    # -- DRBD state ----------------------------------------------------------------------------------------
    def status(self, hostname: str) -> list[dict[str, Any]]:
        import json

        return json.loads(self.ok(hostname, f"sudo drbdsetup status {VOLUME} --json", timeout=60))
