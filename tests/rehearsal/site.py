"""A rehearsal site: four lab hosts + an outsider, and the real program run against them as a ``prepared`` stage.

    site = RehearsalSite(lab, state_dir)
    site.start()           # four bare Debian 13 hosts (s-hive0..2, repository s-hive3) and the outsider
    run = site.up()        # `pulumi up` of the real __main__.py under RehearsalMocks (commands over SSH)
    site.up()              # again: a converged site executes nothing
    site.replace("s-hive1")  # a fresh machine at the same address, marked with hive:host_generation
    site.up()

The stage: ``hive:stage`` staging (host names ``s-hive0`` … ``s-hive3.pdns``), provider ``prepared``,
``separate_repository: true`` (three hives + a repository server), ``cidr`` = the lab network, three subnets (the
first three quarters of it) with availability zones ``zone-a/b/c`` so the ``az`` node labels are exercised,
``ip_address_list`` = the addresses the addressing rules give those subnets (hive i in subnet i % 3 at
network+5, the repository at subnet-a's network+6), ``internal_cidr`` 10.254.0.0/16 (docker0, gwbridge,
ingress and the local address pool move there), ``ssh_user`` admin with the lab key as secret config, and
``admin_cidrs`` = the lab gateway /32: this machine reaches the hosts from the gateway address, so the docker
API on 2376 admits the program and the tests. The outsider sits in the fourth quarter: on the site's network,
but not a site host.

What runs: the provisioner — the hosts' first-use host key scan, the PKI, the registry password and every host
step — as
``pulumi up --target <those resources>`` (``provisioner_target``). Left out, as untargeted resources are: the
swarm layer (rehearsed on its own by ``swarm_engine.SwarmSite`` in test_swarm_layer.py / test_private_stage.py)
and the DRBD host steps
(``drbd-install``, ``drbd-pool``: DRBD needs its kernel module, which a host container cannot load, DESIGN
§9). The engine records them as ``skip``.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.harness.program import HarnessResourceArgs, ProgramRun, RecordedResource
from tests.rehearsal.engine import (
    COMMAND,
    LOCALLY_SIGNED_CERT,
    PRIVATE_KEY,
    RANDOM_PASSWORD,
    SELF_SIGNED_CERT,
    RehearsalMocks,
    rehearse,
    step_of_command,
)
from tests.rehearsal.lab import Lab

PROJECT = Path(__file__).resolve().parents[2]
STACK = "rehearsal"
NAME = "pdns"
ZONES = ("zone-a", "zone-b", "zone-c")
INTERNAL_CIDR = "10.254.0.0/16"
SSH_USER = "admin"
OUTSIDER = "outsider"
REGISTRY_PORT = 5000
# hive:infra:Prepared: the hosts' trust-on-first-use ssh-keyscan, whose key every connection pins
PROVISIONER_COMPONENTS = ("hive:infra:Prepared", "hive:pki:Pki", "hive:provision:Site", "hive:provision:Host")
NOT_REHEARSABLE_STEPS = ("drbd-install", "drbd-pool")  # DRBD's kernel module cannot load in a host container


@dataclass(frozen=True)
class SiteHost:
    hostname: str  # s-hive0
    fqdn: str  # s-hive0.pdns
    ip: str
    index: int
    is_hive: bool
    az: str


def site_hosts(cidr: str) -> list[SiteHost]:
    """The four hosts of the rehearsal stage in a lab network (see the module docstring)."""
    network = ipaddress.ip_network(cidr)
    quarters = list(network.subnets(new_prefix=network.prefixlen + 2))
    addresses = [quarters[0][5], quarters[1][5], quarters[2][5], quarters[0][6]]
    return [
        SiteHost(f"s-hive{i}", f"s-hive{i}.{NAME}", str(ip), i, i < 3, ZONES[i % 3]) for i, ip in enumerate(addresses)
    ]


def is_targeted(urn: str, type_: str, inputs: Mapping[str, Any]) -> bool:
    """The resources this rehearsal executes: the PKI's and the provisioner's, but not the DRBD host steps."""
    parent_types = urn.split("::")[2].split("$")[:-1]  # the parents' types (the mocks' URNs name the parent's)
    if not parent_types or parent_types[-1] not in PROVISIONER_COMPONENTS:
        return False
    return not (type_ == COMMAND and step_of_command(inputs.get("create")) in NOT_REHEARSABLE_STEPS)


def provisioner_target(args: HarnessResourceArgs) -> bool:
    return is_targeted(args.urn, args.typ, args.inputs)


def outsider_ip(cidr: str) -> str:
    network = ipaddress.ip_network(cidr)
    return str(list(network.subnets(new_prefix=network.prefixlen + 2))[3][5])


class RehearsalSite:
    """The lab, the stage config, the mocks (state + execution records) and the runs of one rehearsal site."""

    def __init__(
        self,
        lab: Lab,
        state_dir: Path,
        log: Callable[[str], None] | None = None,
        project_dir: Path = PROJECT,
    ) -> None:
        self.lab = lab
        self.project_dir = Path(project_dir)
        self.hosts = site_hosts(lab.cidr)
        self.outsider_ip = outsider_ip(lab.cidr)
        self.mocks = RehearsalMocks(
            Path(state_dir) / "state.json",
            base_dir=self.project_dir,
            targets=provisioner_target,
            **({"log": log} if log else {}),
        )
        self.generations: dict[str, int] = {}
        self.extra_config: dict[str, Any] = {}  # a test's own stage keys (over the defaults below)
        self.runs: list[ProgramRun] = []

    # -- lifecycle -------------------------------------------------------------------------------------------
    def start(self) -> None:
        """Start the four bare hosts and the outsider (in parallel)."""
        self.lab.start_hosts([(h.hostname, h.ip) for h in self.hosts])
        self.lab.start_outsider(OUTSIDER, self.outsider_ip)

    def config(self) -> dict[str, Any]:
        network = ipaddress.ip_network(self.lab.cidr)
        quarters = list(network.subnets(new_prefix=network.prefixlen + 2))
        config: dict[str, Any] = {
            "hive:name": NAME,
            "hive:domain": "example.com",
            "hive:stage": "staging",
            "hive:provider": "prepared",
            "hive:cidr": self.lab.cidr,
            "hive:separate_repository": True,
            "hive:subnets": [
                {"cidr": str(quarters[i]), "name": f"subnet-{zone[-1]}", "available_zone": zone}
                for i, zone in enumerate(ZONES)
            ],
            "hive:ip_address_list": [h.ip for h in self.hosts],
            "hive:internal_cidr": INTERNAL_CIDR,
            "hive:admin_cidrs": [f"{self.lab.gateway}/32"],
            "hive:ssh_user": SSH_USER,
            "hive:ssh_private_key": self.lab.private_key_pem,
        }
        if self.generations:
            config["hive:host_generation"] = dict(self.generations)
        return config | self.extra_config

    def up(self) -> ProgramRun:
        """``pulumi up``: raises what the program (or a failing command) raised."""
        run = rehearse(self.project_dir, STACK, self.config(), self.mocks, secret_config=["hive:ssh_private_key"])
        self.runs.append(run)
        return run

    def preview(self) -> ProgramRun:
        return rehearse(
            self.project_dir, STACK, self.config(), self.mocks, preview=True, secret_config=["hive:ssh_private_key"]
        )

    def replace(self, hostname: str) -> None:
        """A new machine at the same address (empty disk, new host keys), marked as such in the stage config."""
        self.lab.replace_host(hostname)
        self.generations[hostname] = self.generations.get(hostname, 0) + 1

    # -- hosts -----------------------------------------------------------------------------------------------
    def host(self, hostname: str) -> SiteHost:
        for h in self.hosts:
            if hostname in (h.hostname, h.fqdn):
                return h
        raise KeyError(hostname)

    @property
    def hives(self) -> list[SiteHost]:
        return [h for h in self.hosts if h.is_hive]

    @property
    def first_hive(self) -> SiteHost:
        return self.hives[0]

    @property
    def repository(self) -> SiteHost:
        return next(h for h in self.hosts if not h.is_hive)

    @property
    def registry(self) -> str:
        return f"{self.repository.fqdn}:{REGISTRY_PORT}"

    def hostname_of(self, ip: str | None) -> str | None:
        return next((h.hostname for h in self.hosts if h.ip == ip), None)

    def ssh(self, where: str, command: str, stdin: str | None = None, timeout: float = 300) -> tuple[int, str, str]:
        """Run ``command`` as admin on a site host (by name) or the outsider."""
        ip = self.outsider_ip if where == OUTSIDER else self.host(where).ip
        return self.lab.ssh(ip, command, stdin=stdin, timeout=timeout)

    def ok(self, where: str, command: str, stdin: str | None = None, timeout: float = 300) -> str:
        """``ssh`` that must succeed; the failure message shows the command and its output, never stdin."""
        rc, out, err = self.ssh(where, command, stdin=stdin, timeout=timeout)
        assert rc == 0, f"{where}: {command!r} failed rc={rc}\nstdout:\n{out}\nstderr:\n{err}"
        return out

    # -- what the last run produced (state outputs) ----------------------------------------------------------
    @property
    def last_run(self) -> ProgramRun:
        return self.runs[-1]

    def targeted(self, run: ProgramRun | None = None) -> list[RecordedResource]:
        """The resources of a run (default: the last) that the rehearsal executes."""
        return [r for r in (run or self.last_run).custom_resources if is_targeted(r.urn, r.type, r.inputs)]

    def resource(self, type_: str, name: str) -> RecordedResource:
        return self.last_run.one(type_, name)

    @property
    def registry_password(self) -> str:
        """The generated registry password (secret: never print it)."""
        return self.last_run.one(RANDOM_PASSWORD, "provision-registry-password").outputs["result"]

    @property
    def ca_cert_pem(self) -> str:
        return self.resource(SELF_SIGNED_CERT, "pki-ca").outputs["certPem"]

    @property
    def client_cert_pem(self) -> str:
        return self.resource(LOCALLY_SIGNED_CERT, "pki-client-cert").outputs["certPem"]

    @property
    def client_key_pem(self) -> str:
        """The program's docker client key (secret)."""
        return self.resource(PRIVATE_KEY, "pki-client-key").outputs["privateKeyPem"]
