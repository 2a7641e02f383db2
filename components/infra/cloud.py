"""What the three cloud modules (aws, gcp, azure) share: naming, protection, readiness, cloud-init.

Mirrored (DRBD) disks and device hints
--------------------------------------
A host gets one extra disk of ``mirrored_disk_size`` GB when the stage sets that size and the host is
not listed in ``no_mirrored_device``. Each provider attaches it under a name it controls and passes a
*hint* in :attr:`ProvisionedHost.mirrored_device_hint`:

======== =========================================== =========================================
provider attached as                                 hint
======== =========================================== =========================================
aws      EBS volume, device name ``/dev/sdf``        ``/dev/nvme1n1`` (Nitro: EBS is NVMe)
gcp      persistent disk, device_name ``drbd``       ``/dev/disk/by-id/google-drbd``
azure    managed data disk, LUN 0                    ``/dev/disk/azure/scsi1/lun0``
======== =========================================== =========================================

The provisioner (``hostsetup/drbd-pool.sh``, ``HIVE_MIRRORED_DEVICE`` = the hint) takes the first candidate
that exists and is *empty* — a whole disk with no partition, no signature, not mounted — in this order: the
hint, then ``/dev/disk/azure/scsi1/lun0``, ``/dev/sdc``, ``/dev/sdb``, ``/dev/vdc``, ``/dev/vdb``,
``/dev/xvdb``, ``/dev/nvme1n1``. It never touches a disk with data on it; with no candidate it stops and says
so. On AWS Nitro types (t3, m5, … — the defaults) the EBS volume is ``/dev/nvme1n1`` (the root disk is ``nvme0n1``
and this is the only other volume); on old Xen types it shows as ``/dev/xvdf``, which is not in that list yet.
"""

from __future__ import annotations

import pulumi
import pulumi_tls as tls

from components.infra.types import resource_name
from components.inventory.addressing import Host
from components.inventory.site import Site
from components.inventory.stage import SubnetSpec

SSH_PORT = 22


def has_mirrored_disk(site: Site, host: Host) -> bool:
    return site.stage.mirrored_disk_size is not None and host.mirrored_device


def is_production(site: Site) -> bool:
    return site.stage.stage == "production"


def zone_spread_warning(site: Site) -> str | None:
    """A warning when the hives do not spread over (up to) three zones: one zone outage then takes the swarm
    managers' quorum (and DRBD's) with it. None when they do, or when the stage has no zones at all."""
    hives = site.hives
    zones = {h.az for h in hives if h.az}
    if not zones or len(zones) >= min(3, len(hives)):
        return None
    spread = ", ".join(f"{h.hostname}: {h.az}" for h in hives)
    return (
        f"{site.stage.file}: the hives share availability zones ({spread}); list hive:subnets in three zones "
        "(or leave subnets out) so that one zone outage cannot take the swarm's quorum"
    )


def warn_zone_spread(site: Site, component: pulumi.Resource) -> None:
    message = zone_spread_warning(site)
    if message:
        pulumi.log.warn(message, resource=component)


def stateful(site: Site, parent: pulumi.Resource) -> pulumi.ResourceOptions:
    """Options of a resource holding state that outlives a machine (mirrored disks, static IPs).

    ``protect`` on production: ``pulumi destroy`` or a refactor cannot delete them by accident.
    """
    return pulumi.ResourceOptions(parent=parent, protect=is_production(site))


def machine_name(host: Host) -> str:
    """A cloud-safe physical name for a host: ``s-hive0.pdns`` → ``s-hive0-pdns`` (carries the stage prefix)."""
    return host.fqdn.replace(".", "-")


def subnet_name(site: Site, spec: SubnetSpec) -> str:
    """A subnet's physical name with the stage prefix and hive name, said once: ``s-pdns-subnet-a``,
    ``s-pdns-default`` (the inventory's ``pdns-default``), ``s-pdns-subnet0`` (AWS's derived ``s-subnet0``)."""
    short = spec.name.removeprefix(f"{site.stage.name}-")
    if site.stage.prefix:
        short = short.removeprefix(site.stage.prefix)
    return resource_name(site, short)


def disk_size(site: Site, host: Host) -> int:
    return site.stage.repository_disk_size if host.is_repository else site.stage.disk_size


def instance_type(site: Site, host: Host) -> str:
    value = site.stage.repository_instance_type if host.is_repository else site.stage.instance_type
    assert value is not None, "the inventory gives every cloud stage an instance type"
    return value


def ready_when(value: pulumi.Input[str], *resources: pulumi.Resource) -> pulumi.Output[str]:
    """``value``, but only once ``resources`` exist: the provisioner connects to a host's address, so the
    address must wait for everything the machine needs (IP association, disk attachment)."""
    ids = [r.id for r in resources if isinstance(r, pulumi.CustomResource)]
    return pulumi.Output.all(value, *ids).apply(lambda values: str(values[0]))


def one_line_key(public_key: pulumi.Input[str]) -> pulumi.Output[str]:
    """An OpenSSH public key without the trailing newline pulumi-tls puts there."""
    return pulumi.Output.from_input(public_key).apply(lambda key: key.strip())


def _host_key_lines(private: str, public: str) -> list[str]:
    return [
        "ssh_deletekeys: true",
        "ssh_genkeytypes: []",
        "ssh_keys:",
        "  ed25519_private: |",
        *(f"    {line}" for line in private.strip().splitlines()),
        f"  ed25519_public: {public.strip()}",
    ]


def host_key_cloud_config(host_key: tls.PrivateKey) -> pulumi.Output[str]:
    """cloud-init user data with the machine's SSH host key only (``ssh_keys``: cloud-init's cc_ssh writes it
    on the instance's first boot, deletes the image's keys — ``ssh_deletekeys`` — and generates no others —
    ``ssh_genkeytypes: []`` — so sshd offers exactly the key every connection pins). Secret: it carries the
    host's private key. Azure's own provisioning makes the user; AWS uses :func:`cloud_config`."""
    return pulumi.Output.secret(
        pulumi.Output.all(host_key.private_key_openssh, host_key.public_key_openssh).apply(
            lambda values: "\n".join(["#cloud-config", *_host_key_lines(*values), ""])
        )
    )


def cloud_config(user: str, public_key: pulumi.Input[str], host_key: tls.PrivateKey) -> pulumi.Output[str]:
    """Minimal cloud-init user data: the admin user with passwordless sudo and the key, and the machine's SSH
    host key as in :func:`host_key_cloud_config` — nothing else. Secret.

    All other setup is the provisioner's, so changing it never touches the instance (pitfall §6.3).
    ``default`` keeps the image's own user (``admin`` on Debian's AMIs); cloud-init merges the two
    entries when they name the same user.
    """

    def render(values: list[str]) -> str:
        key, private, public = values
        return "\n".join(
            [
                "#cloud-config",
                "users:",
                "  - default",
                f"  - name: {user}",
                "    shell: /bin/bash",
                "    lock_passwd: true",
                '    sudo: "ALL=(ALL) NOPASSWD:ALL"',
                "    ssh_authorized_keys:",
                f"      - {key}",
                *_host_key_lines(private, public),
                "",
            ]
        )

    return pulumi.Output.secret(
        pulumi.Output.all(one_line_key(public_key), host_key.private_key_openssh, host_key.public_key_openssh).apply(
            render
        )
    )


def host_key_startup_script(host_key: tls.PrivateKey) -> pulumi.Output[str]:
    """For images without cloud-init (GCP's Debian images run google-guest-agent, which runs the metadata
    ``startup-script`` as root at every boot): install the program's host key unless it is in place, drop the
    other host keys and reload sshd. Secret: it carries the host's private key. Until it has run, the machine
    answers with the guest agent's key: connections are refused and retried (``dialErrorLimit``)."""

    def render(values: list[str]) -> str:
        private, public = values
        return "\n".join(
            [
                "#!/bin/bash",
                "set -eu",
                "umask 077",
                "key=/etc/ssh/ssh_host_ed25519_key",
                "new=$(mktemp /etc/ssh/.hive-host-key.XXXXXX)",
                "cat > \"$new\" <<'HIVE_HOST_KEY'",
                private.strip(),
                "HIVE_HOST_KEY",
                'if ! cmp -s "$new" "$key"; then',
                '    mv "$new" "$key"',
                f"    printf '%s\\n' '{public.strip()}' > \"$key.pub\"",
                '    chmod 0644 "$key.pub"',
                "    rm -f /etc/ssh/ssh_host_rsa_key* /etc/ssh/ssh_host_ecdsa_key*",
                "    systemctl reload-or-restart ssh.service",
                "else",
                '    rm -f "$new"',
                "fi",
                "",
            ]
        )

    pair = pulumi.Output.all(host_key.private_key_openssh, host_key.public_key_openssh)
    return pulumi.Output.secret(pair.apply(render))
