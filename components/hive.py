"""The Hive component: machines → PKI → host provisioning → swarm objects, for one stage."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_tls as tls

from components.infra import build_hosts
from components.infra.types import InfraArgs, ProvisionedHost
from components.pki import Pki, PkiArgs
from components.program_site import ProgramSite
from components.provision.site import SiteProvisioner, SiteProvisionerArgs


@dataclass(frozen=True)
class HiveArgs:
    program: ProgramSite


class Hive(pulumi.ComponentResource):
    """Everything of one stage of a hive."""

    hosts: list[ProvisionedHost]
    ssh_private_key: pulumi.Output[str]
    pki: Pki
    provisioning: SiteProvisioner

    def __init__(self, name: str, args: HiveArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("hive:index:Hive", name, None, opts)
        site = args.program.site
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
            SiteProvisionerArgs(site=site, hosts=self.hosts, ssh_private_key=self.ssh_private_key, pki=self.pki),
            child,
        )
        self.register_outputs({"ssh_private_key": self.ssh_private_key})
