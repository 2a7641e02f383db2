"""The Hive component: machines → PKI → host provisioning → swarm objects, for one stage."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pulumi
import pulumi_tls as tls

from components.backup.plan import needs_agent, offsite_env_lines
from components.infra import build_hosts
from components.infra.types import InfraArgs, ProvisionedHost
from components.inventory.site import Site
from components.pki import Pki, PkiArgs
from components.program_site import ProgramSite
from components.provision.site import SiteProvisioner, SiteProvisionerArgs
from components.swarm import Swarm, SwarmArgs
from components.swarm.component import check_images


@dataclass(frozen=True)
class HiveArgs:
    program: ProgramSite
    project_dir: Path  # holds services/ (build contexts)


def offsite_backup_secrets(site: Site) -> pulumi.Output[str] | None:
    """``RESTIC_PASSWORD`` and the object store's credentials from secret config, as the backup step reads them."""
    if site.stage.offsite_backup is None or not needs_agent(site):
        return None
    config = pulumi.Config("hive")
    password = config.require_secret("offsite_backup_password")
    credentials = config.get_secret_object("offsite_backup_credentials") or {}
    return pulumi.Output.secret(
        pulumi.Output.all(password, credentials).apply(lambda v: offsite_env_lines(v[0], v[1] or {}))
    )


class Hive(pulumi.ComponentResource):
    """Everything of one stage of a hive."""

    hosts: list[ProvisionedHost]
    ssh_private_key: pulumi.Output[str]
    pki: Pki
    provisioning: SiteProvisioner
    swarm: Swarm

    def __init__(self, name: str, args: HiveArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("hive:index:Hive", name, None, opts)
        site = args.program.site
        check_images(args.project_dir, site)  # before any resource: a bad build input stops the program here
        child = pulumi.ResourceOptions(parent=self)

        if site.stage.provider == "prepared":
            # The operator's hosts already trust this key; it only ever lives in state as a secret.
            self.ssh_private_key = pulumi.Config("hive").require_secret("ssh_private_key")
            public_key: pulumi.Input[str] = ""
        else:
            key = tls.PrivateKey("ssh-key", algorithm="ED25519", opts=child)
            self.ssh_private_key = pulumi.Output.secret(key.private_key_openssh)
            public_key = key.public_key_openssh

        machines = build_hosts("machines", InfraArgs(site=site, ssh_public_key=public_key), child)
        self.hosts = machines.hosts
        self.pki = Pki("pki", PkiArgs(site=site, hosts=self.hosts), child)
        self.provisioning = SiteProvisioner(
            "provision",
            SiteProvisionerArgs(
                site=site,
                hosts=self.hosts,
                ssh_private_key=self.ssh_private_key,
                pki=self.pki,
                offsite_backup_secrets=offsite_backup_secrets(site),
            ),
            child,
        )
        self.swarm = Swarm(
            "swarm",
            SwarmArgs(
                program=args.program,
                hosts=self.hosts,
                ca_pem=self.pki.ca_cert_pem,
                client_cert_pem=self.pki.client_cert_pem,
                client_key_pem=self.pki.client_key_pem,
                registry_password=self.provisioning.registry_password,
                ssh_private_key=self.ssh_private_key,
                swarm_ready=self.provisioning.swarm_ready,
                registry_ready=self.provisioning.registry_ready,
                registry_logins=self.provisioning.registry_logins,
                drbd_ready=self.provisioning.drbd_ready,
                agent_ready=self.provisioning.agent_ready,
                project_dir=args.project_dir,
            ),
            child,
        )
        self.register_outputs({"ssh_private_key": self.ssh_private_key, "registry": self.swarm.registry})
