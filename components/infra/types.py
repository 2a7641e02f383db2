"""What every provider module returns: the same host list, whatever the machines are."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import pulumi

from components.inventory.addressing import Host
from components.inventory.site import Site


@dataclass(frozen=True)
class InfraArgs:
    """Input of every provider component."""

    site: Site
    ssh_public_key: pulumi.Input[str]  # OpenSSH format, authorised for ``site.stage.ssh_user``


@dataclass(frozen=True)
class ProvisionedHost:
    """A machine the provisioner can reach.

    ``address`` is what the program's SSH and docker clients connect to (the public IP on a cloud, the private
    one for prepared/local hosts); ``machine`` is the resource whose replacement means "a new machine", and
    ``machine_id`` its identity (it goes into every host step's triggers, so a replaced host runs them again).
    ``host_key`` is the machine's SSH host key: every connection to it pins it.
    """

    spec: Host
    public_ip: pulumi.Output[str] | None
    address: pulumi.Input[str]
    ssh_port: pulumi.Input[int]
    machine: pulumi.Resource | None
    machine_id: pulumi.Input[str]
    mirrored_device_hint: str | None
    # The SSH host key every connection pins (``<type> <base64>``; components/infra/host_keys.py).
    host_key: pulumi.Input[str]
    docker_port: pulumi.Input[int] = 2376  # the docker API (mutual TLS) as the program reaches it at ``address``

    @cached_property  # one Output per host, not one per step that is triggered on it
    def identity(self) -> pulumi.Output[str]:
        """What host-scoped steps are triggered on: the machine, plus the operator's ``host_generation`` mark
        (a machine replaced behind Pulumi's back, e.g. a prepared host reinstalled at the same address)."""
        return self.identity_of(self.machine_id, self.spec)

    @staticmethod
    def identity_of(machine_id: pulumi.Input[str], spec: Host) -> pulumi.Output[str]:
        return pulumi.Output.concat(machine_id, "#generation-", str(spec.generation))

    @property
    def published_ip(self) -> pulumi.Input[str]:
        """The address the outside world uses (glue records, ssh_config)."""
        return self.public_ip if self.public_ip is not None else self.spec.private_ip


def tags(site: Site, **extra: str) -> dict[str, str]:
    """Tags/labels every cloud resource carries."""
    return {"hive": site.stage.name, "stage": site.stage.stage, "managed-by": "pulumi", **extra}


def resource_name(site: Site, *parts: str) -> str:
    """A physical/logical name with the stage prefix: ``s-pdns-vpc``, ``s-pdns-hive0-disk``."""
    return "-".join((f"{site.stage.prefix}{site.stage.name}", *parts))
