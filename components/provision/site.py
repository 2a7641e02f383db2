"""The whole site's provisioning: a :class:`HostProvisioner` per host, all in parallel, and the few real
cross-host dependencies (:mod:`components.provision.steps`): every ``swarm-join`` waits for the first hive's
``swarm-init`` and gets the manager join token on stdin; every ``registry-login`` away from the repository
waits for the repository's ``registry``.

The join token. A host's certificate is no docker client (components/pki.py), so no hive can read the token
from another. The program reads it with its own client certificate: ``<name>-swarm-token``, a
``command.local.Command`` on the operator's machine running ``components/provision/join_token.py`` (the client
key, its certificate and the server CA on stdin; the first hive, then the others, at the address and docker
port the program reaches them on). Its stdout is the token: a secret output, never logged (``logging: none``),
kept in the state and given to every ``swarm-join`` on stdin. It runs after the first hive's ``swarm-init`` and
again when the first hive is replaced (``triggers``: its identity); otherwise the state's token is reused
(pulumi-command runs a local command only on create/update: ``provider/pkg/provider/local/commandController.go``).
"""

from __future__ import annotations

import shlex
from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_random as random
from pulumi_command import local, remote

from components.infra.types import ProvisionedHost
from components.inventory.site import Site
from components.monitoring.alertmanager import alertmanager_config
from components.pki import Pki
from components.provision.host import HostProvisioner, HostProvisionerArgs
from components.provision.steps import Stdin, StepRef, StepSpec, host_steps, site_steps, swarm_files

REGISTRY_PASSWORD_LENGTH = 24
# run from the project directory (the program's, and so the command provider's, working directory)
JOIN_TOKEN_COMMAND = "python3 components/provision/join_token.py"
SWARM_STEPS = ("swarm-init", "swarm-join", "node-labels")
REGISTRY_STEPS = ("registry", "registry-login")
DRBD_STEPS = ("drbd-install", "drbd-pool")


@dataclass(frozen=True)
class SiteProvisionerArgs:
    site: Site
    hosts: Sequence[ProvisionedHost]
    ssh_private_key: pulumi.Input[str]
    pki: Pki
    registry_password: pulumi.Input[str] | None = None  # generated (pulumi-random) when not given
    offsite_backup_secrets: pulumi.Input[str] | None = None  # the backup step's NAME=value lines (secret)


class SiteProvisioner(pulumi.ComponentResource):
    """Every host step of the site.

    ``swarm_ready``: swarm-init, every swarm-join and node-labels — a docker provider for the swarm depends on
    them. ``registry_ready``: the registry and every registry-login — image pushes and service pulls depend on
    them; ``registry_logins``: each host's registry-login by FQDN. ``registry_password`` is a secret.
    ``commands[StepRef(fqdn, step)]`` holds each step's command.
    """

    hosts: dict[str, HostProvisioner]
    commands: dict[StepRef, remote.Command]
    registry_password: pulumi.Output[str]
    swarm_ready: list[pulumi.Resource]
    registry_ready: list[pulumi.Resource]
    registry_logins: dict[str, remote.Command]

    def __init__(self, name: str, args: SiteProvisionerArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("hive:provision:Site", name, None, opts)
        site = args.site
        self._receivers = site.stage.alert_receivers
        machines = {h.spec.fqdn: h for h in args.hosts}
        unknown = sorted(set(machines) ^ {h.fqdn for h in site.hosts})
        if unknown:
            raise ValueError(f"the provisioned hosts and the site's hosts differ: {unknown}")

        if args.registry_password is None:
            password = random.RandomPassword(
                f"{name}-registry-password",
                length=REGISTRY_PASSWORD_LENGTH,
                special=False,
                opts=pulumi.ResourceOptions(parent=self),
            )
            self.registry_password = pulumi.Output.secret(password.result)
        else:
            self.registry_password = pulumi.Output.secret(args.registry_password)

        self._offsite_secrets = args.offsite_backup_secrets
        self._name = name
        self._site = site
        self._machines = machines
        self._join_token: pulumi.Output[str] | None = None
        self.hosts = {
            host.fqdn: HostProvisioner(
                host.hostname,
                HostProvisionerArgs(
                    host=machines[host.fqdn],
                    ssh_user=site.stage.ssh_user,
                    ssh_private_key=args.ssh_private_key,
                    steps=host_steps(site, host),
                    shipped=swarm_files(site, host),
                ),
                pulumi.ResourceOptions(parent=self),
            )
            for host in site.hosts
        }
        self.commands = {}
        for spec in site_steps(site):
            self.commands[spec.ref] = self.hosts[spec.host].run(
                spec, stdin=self._stdin(spec, args.pki), after=[self.commands[ref] for ref in spec.after]
            )
        for provisioner in self.hosts.values():
            provisioner.finish()

        self.swarm_ready = [c for ref, c in self.commands.items() if ref.step in SWARM_STEPS]
        self.registry_ready = [c for ref, c in self.commands.items() if ref.step in REGISTRY_STEPS]
        self.agent_ready = [c for ref, c in self.commands.items() if ref.step == "backup"]
        self.registry_logins = {ref.host: c for ref, c in self.commands.items() if ref.step == "registry-login"}
        # The swarm layer's DRBD volume steps run their scripts from the hosts' bundles (steps.swarm_files).
        self.drbd_ready = [c for ref, c in self.commands.items() if ref.step in DRBD_STEPS] + [
            host.files for host in self.hosts.values()
        ]
        self.register_outputs({"registry_password": self.registry_password})

    def _stdin(self, spec: StepSpec, pki: Pki) -> pulumi.Input[str] | None:
        if spec.stdin is None:
            return None
        if spec.stdin is Stdin.TLS:
            return pki.docker_bundle(spec.host)
        if spec.stdin is Stdin.REGISTRY_PASSWORD:
            return self.registry_password
        if spec.stdin is Stdin.DRBD_URL:
            # Only ever a secret: the model keeps a placeholder (components/inventory/stage.py _download_url).
            return pulumi.Config("hive").require_secret("drbd_download_url")
        if spec.stdin is Stdin.BACKUP:
            bundle = pki.backup_bundle()
            if self._offsite_secrets is not None:
                bundle = pulumi.Output.all(bundle, self._offsite_secrets).apply(lambda parts: "".join(parts))
            return pulumi.Output.secret(bundle)
        if spec.stdin is Stdin.ALERTMANAGER:  # receivers' credentials: secret end to end
            return pulumi.Output.secret(alertmanager_config(self._receivers))
        if spec.stdin is Stdin.JOIN_TOKEN:
            return self._swarm_token(pki)
        raise ValueError(f"step {spec.name}: no stdin for {spec.stdin}")

    def _swarm_token(self, pki: Pki) -> pulumi.Output[str]:
        """The manager join token, read once by the program (see the module docstring)."""
        if self._join_token is None:
            site = self._site
            hives = [site.first_hive, *(h for h in site.hives if h != site.first_hive)]
            machines = [self._machines[h.fqdn] for h in hives]
            targets = pulumi.Output.all(
                *[
                    pulumi.Output.concat(m.address, ":", pulumi.Output.from_input(m.docker_port).apply(str))
                    for m in machines
                ]
            )
            reader = local.Command(
                f"{self._name}-swarm-token",
                create=targets.apply(lambda ts: " ".join([JOIN_TOKEN_COMMAND, *(shlex.quote(t) for t in ts)])),
                stdin=pki.client_bundle(),
                # the token lives as long as the swarm: read again only when the first hive was replaced (a new
                # swarm, or one its peers still run); other hives' replacements keep it
                triggers=[machines[0].identity],
                logging=local.Logging.NONE,
                add_previous_output_in_env=False,
                opts=pulumi.ResourceOptions(
                    parent=self,
                    depends_on=[self.commands[StepRef(site.first_hive.fqdn, "swarm-init")]],
                    additional_secret_outputs=["stdout", "stderr"],
                ),
            )
            self._join_token = pulumi.Output.secret(reader.stdout)
        return self._join_token
