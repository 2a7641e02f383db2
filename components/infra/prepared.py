"""Prepared hosts: machines the operator already has. No cloud resource is created.

Each host is reached at its inventory address (``ip_address_list``) on port 22 as ``ssh_user`` with the
stage's ``ssh_private_key`` (secret config; the Hive component reads it). There is no public address:
``ssh_config`` and the DNS glue records use the private one, as hive-builder's prepared provider does.

``machine_id`` is what host steps use as "this is the same machine": the fqdn and address. Replacing a
prepared machine without changing its address is invisible to Pulumi: the operator bumps
``hive:host_generation`` for that host (part of every step's trigger, see ``ProvisionedHost.identity``).

SSH host keys: ``hive:host_keys`` pins a host's key as the operator gives it; a host without one is trusted on
first use (``ssh-keyscan`` once, the key kept in the state; components/infra/host_keys.py). A key that changes
without a replacement is refused by every connection; bumping ``host_generation`` scans the new machine again.
"""

from __future__ import annotations

import pulumi

from components.infra.cloud import SSH_PORT
from components.infra.host_keys import first_use_key
from components.infra.types import InfraArgs, ProvisionedHost
from components.inventory.addressing import Host


def machine_id(host: Host) -> str:
    return f"{host.fqdn}@{host.private_ip}"


class PreparedHosts(pulumi.ComponentResource):
    """The operator's own machines, as the inventory lists them."""

    hosts: list[ProvisionedHost]

    def __init__(self, name: str, args: InfraArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("hive:infra:Prepared", name, None, opts)
        self.hosts = [self._host(host, args.site.stage.host_keys.get(host.hostname)) for host in args.site.hosts]
        self.register_outputs({"addresses": {h.spec.fqdn: h.spec.private_ip for h in self.hosts}})

    def _host(self, host: Host, given_key: str | None) -> ProvisionedHost:
        identity = ProvisionedHost.identity_of(machine_id(host), host)
        host_key = (
            pulumi.Output.from_input(given_key)
            if given_key is not None
            else first_use_key(f"{host.hostname}-host-key", host.private_ip, SSH_PORT, identity, self)
        )
        return ProvisionedHost(
            spec=host,
            public_ip=None,
            address=host.private_ip,
            ssh_port=SSH_PORT,
            machine=None,
            machine_id=machine_id(host),
            # Whatever disk the operator gave the host: the provisioner finds the one unused disk.
            mirrored_device_hint=None,
            host_key=host_key,
        )
