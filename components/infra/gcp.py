"""GCP: a custom-mode network with regional subnetworks, firewall rules, and one zonal instance per host.

Created (logical names in brackets; physical names carry the stage prefix, e.g. ``s-pdns-vpc``):

* network [``vpc``] in custom mode with ``mtu`` = the stage's ``underlay_mtu`` (1460 by default on GCP);
* subnetworks [``subnet-<name>``] from ``effective_subnets`` — GCP subnetworks are *regional*; the three
  zones are on the instances (``host.az``: ``<region>-a|b|c`` unless a subnet names its zone);
* firewall rules [``fw-<rule>``] translating the policy, all targeted at the hosts' network tag:
  ``internal`` (all protocols from ``cidr``), ``admin-tcp`` (22, 2376 from ``admin_cidrs``),
  ``published-<protocol>`` (ports below 10000 from anywhere); egress stays GCP's implied allow;
* per host: a static external address [``<hostname>-ip``], when mirrored a persistent disk
  [``<hostname>-drbd``] in the host's zone, and the instance [``<hostname>``] with the inventory's private
  IP, the static address as its one-to-one NAT, the disk attached as ``drbd``, and the SSH key in the
  ``ssh-keys`` metadata (not a startup script: changing a startup script replaces the instance). The SSH host
  key [``<hostname>-host-key``] the program pins is installed by the metadata ``startup-script`` (secret;
  ``cloud.host_key_startup_script``): Debian's GCE images have no cloud-init.

Networks, subnetworks and firewall rules cannot carry labels; their names and descriptions carry the hive
and stage instead. The project comes from the provider configuration (``gcp:project``).
"""

from __future__ import annotations

import re

import pulumi
import pulumi_gcp as gcp

from components.infra import cloud
from components.infra.firewall_policy import ALL_PROTOCOLS, Rule, checked_policy
from components.infra.host_keys import generated_host_key, public_line
from components.infra.types import InfraArgs, ProvisionedHost, resource_name, tags
from components.inventory.addressing import Host, effective_subnets
from components.inventory.site import Site

DISK_TYPE = "pd-balanced"
MIRRORED_DEVICE_NAME = "drbd"
MIRRORED_DEVICE_HINT = f"/dev/disk/by-id/google-{MIRRORED_DEVICE_NAME}"
GCP_NAME_LIMIT = 63


def gcp_name(text: str) -> str:
    """A valid GCP resource name (RFC 1035: ``[a-z]([-a-z0-9]*[a-z0-9])?``, at most 63 characters)."""
    name = re.sub(r"[^a-z0-9-]+", "-", text.lower()).strip("-")
    if not name or not name[0].isalpha():
        name = f"h-{name}"
    return name[:GCP_NAME_LIMIT].rstrip("-")


def gcp_labels(site: Site, **extra: str) -> dict[str, str]:
    """The site's tags as GCP labels (lower-case keys and values of ``[a-z0-9_-]``, at most 63 characters)."""

    def clean(text: str) -> str:
        return re.sub(r"[^a-z0-9_-]", "_", text.lower())[:GCP_NAME_LIMIT]

    return {clean(k): clean(v) for k, v in tags(site, **extra).items()}


class GcpHosts(pulumi.ComponentResource):
    """The machines of one stage on GCP."""

    hosts: list[ProvisionedHost]

    def __init__(self, name: str, args: InfraArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("hive:infra:Gcp", name, None, opts)
        site = args.site
        self._site = site
        self._region = site.stage.region
        self._describe = f"hive {site.stage.name} ({site.stage.stage})"
        self.network_tag = gcp_name(resource_name(site, "host"))
        child = pulumi.ResourceOptions(parent=self)

        cloud.warn_zone_spread(site, self)

        self.network = gcp.compute.Network(
            "vpc",
            name=gcp_name(resource_name(site, "vpc")),
            description=self._describe,
            auto_create_subnetworks=False,
            mtu=site.stage.underlay_mtu,
            opts=child,
        )
        specs, _ = effective_subnets(site.stage)
        self.subnets = {
            spec.name: gcp.compute.Subnetwork(
                f"subnet-{spec.name}",
                name=gcp_name(cloud.subnet_name(site, spec)),
                description=self._describe,
                network=self.network.id,
                region=self._region,
                ip_cidr_range=str(spec.cidr),
                opts=child,
            )
            for spec in specs
        }
        for rule in checked_policy(site):
            self._firewall(rule)

        metadata = {
            "ssh-keys": cloud.one_line_key(args.ssh_public_key).apply(lambda key: f"{site.stage.ssh_user}:{key}"),
            "block-project-ssh-keys": "true",
            "enable-oslogin": "FALSE",
        }
        self.hosts = [self._host(host, metadata) for host in site.hosts]
        self.register_outputs(
            {"network": self.network.self_link, "public_ips": {h.spec.fqdn: h.public_ip for h in self.hosts}}
        )

    def _firewall(self, rule: Rule) -> gcp.compute.Firewall:
        allow = gcp.compute.FirewallAllowArgs(
            protocol=ALL_PROTOCOLS if rule.protocol == ALL_PROTOCOLS else rule.protocol,
            ports=list(rule.port_strings) or None,
        )
        return gcp.compute.Firewall(
            f"fw-{rule.name}",
            name=gcp_name(resource_name(self._site, rule.name)),
            description=f"{self._describe}: {rule.description}",
            network=self.network.id,
            direction="INGRESS",
            source_ranges=list(rule.sources),
            target_tags=[self.network_tag],
            allows=[allow],
            opts=pulumi.ResourceOptions(parent=self),
        )

    def _host(self, host: Host, metadata: dict[str, pulumi.Input[str]]) -> ProvisionedHost:
        site = self._site
        host_key = generated_host_key(f"{host.hostname}-host-key", self)
        labels = gcp_labels(site, host=host.hostname)
        address = gcp.compute.Address(
            f"{host.hostname}-ip",
            name=gcp_name(f"{cloud.machine_name(host)}-ip"),
            description=f"{self._describe}: public address of {host.fqdn}",
            address_type="EXTERNAL",
            region=self._region,
            labels=labels,
            opts=cloud.stateful(site, self),
        )
        attached = []
        hint = None
        if cloud.has_mirrored_disk(site, host):
            disk = gcp.compute.Disk(
                f"{host.hostname}-drbd",
                name=gcp_name(f"{cloud.machine_name(host)}-drbd"),
                description=f"{self._describe}: DRBD backing disk of {host.fqdn}",
                zone=host.az,
                size=site.stage.mirrored_disk_size,
                type=DISK_TYPE,
                labels=labels,
                opts=cloud.stateful(site, self),
            )
            attached.append(
                gcp.compute.InstanceAttachedDiskArgs(source=disk.self_link, device_name=MIRRORED_DEVICE_NAME)
            )
            hint = MIRRORED_DEVICE_HINT
        image = site.stage.image_name
        assert image is not None, "the inventory gives gcp a default image_name"
        instance = gcp.compute.Instance(
            host.hostname,
            name=gcp_name(cloud.machine_name(host)),
            description=f"{self._describe}: {host.fqdn} ({host.role})",
            zone=host.az,
            machine_type=cloud.instance_type(site, host),
            boot_disk=gcp.compute.InstanceBootDiskArgs(
                auto_delete=True,
                initialize_params=gcp.compute.InstanceBootDiskInitializeParamsArgs(
                    image=image, size=cloud.disk_size(site, host), type=DISK_TYPE, labels=labels
                ),
            ),
            network_interfaces=[
                gcp.compute.InstanceNetworkInterfaceArgs(
                    subnetwork=self.subnets[host.subnet].id,
                    network_ip=host.private_ip,
                    access_configs=[gcp.compute.InstanceNetworkInterfaceAccessConfigArgs(nat_ip=address.address)],
                )
            ],
            attached_disks=attached,
            # metadata, not metadata_startup_script (that one replaces the instance when it changes)
            metadata={**metadata, "startup-script": cloud.host_key_startup_script(host_key)},
            labels=labels,
            tags=[self.network_tag],
            allow_stopping_for_update=True,
            # Name and private IP are fixed: the old machine must go before its successor can take them.
            opts=pulumi.ResourceOptions(parent=self, delete_before_replace=True),
        )
        return ProvisionedHost(
            spec=host,
            public_ip=address.address,
            address=cloud.ready_when(address.address, instance),
            ssh_port=cloud.SSH_PORT,
            machine=instance,
            machine_id=instance.instance_id,
            mirrored_device_hint=hint,
            host_key=public_line(host_key),
        )
