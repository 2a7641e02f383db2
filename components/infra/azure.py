"""Azure (azure-native 3): a resource group with a VNet, an NSG, and one zonal VM per host.

Created (logical names in brackets; physical names carry the stage prefix, e.g. ``s-pdns-vnet``), all in
``hive:region`` (the location):

* resource group [``rg``]; virtual network [``vnet``] with address space ``cidr`` and *no* inline subnets;
  the subnets are separate ``network.Subnet`` resources [``subnet-<name>``] (azure-native must not mix
  the two) associated with the NSG. VNets and subnets are regional; VMs and Standard public IPs are zonal;
* network security group [``nsg``] with the firewall policy as inline rules: allow everything from
  ``cidr`` (100), admin tcp 22/2376 from ``admin_cidrs`` and published ports below 10000 from anywhere
  (110, 120, …), and an explicit deny of everything else from ``Internet`` (4000) — Azure's defaults
  would deny it as well, the policy says it;
* per host: a Standard static public IP [``<hostname>-ip``] in the host's zone (``1``/``2``/``3``), a NIC
  [``<hostname>-nic``] with the inventory's static private IP, when mirrored an empty managed data disk
  [``<hostname>-drbd``] in the same zone, and the VM [``<hostname>``] from ``image_name``
  (``Publisher:Offer:Sku:Version``, default Debian 13 gen2, or an image resource id) with password login
  disabled and the stage's key for ``ssh_user``, and the SSH host key the program pins
  [``<hostname>-host-key``] as cloud-init ``custom_data`` (secret; ``cloud.host_key_cloud_config``); the data
  disk is attached at LUN 0 with no host caching
  (DRBD wants its writes on the disk).

The data disk is its own resource (not ``create_option: Empty`` inline in the VM) so that it can be
protected on production and survives a VM replacement (it is detached, not deleted, with the VM).
"""

from __future__ import annotations

import base64
from typing import Any, cast

import pulumi
import pulumi_azure_native as azure

from components.infra import cloud
from components.infra.firewall_policy import ALL_PROTOCOLS, Rule, checked_policy, supported
from components.infra.host_keys import generated_host_key, public_line
from components.infra.types import InfraArgs, ProvisionedHost, resource_name, tags
from components.inventory.addressing import Host, effective_subnets

DISK_SKU = "StandardSSD_LRS"  # every VM size accepts it (Premium_LRS needs an "s" size)
MIRRORED_LUN = 0
MIRRORED_DEVICE_HINT = f"/dev/disk/azure/scsi1/lun{MIRRORED_LUN}"
INTERNAL_PRIORITY = 100
WORLD_PRIORITY = 110
PRIORITY_STEP = 10
DENY_PRIORITY = 4000
PROTOCOLS = {"tcp": "Tcp", "udp": "Udp", ALL_PROTOCOLS: "*"}


def image_reference(image_name: str, file: str) -> azure.compute.ImageReferenceArgs:
    """``Publisher:Offer:Sku:Version`` (the az CLI's URN) or an image resource id."""
    if image_name.startswith("/"):
        return azure.compute.ImageReferenceArgs(id=image_name)
    parts = image_name.split(":")
    if len(parts) != 4 or not all(parts):
        raise pulumi.RunError(
            f"{file}: hive:image_name {image_name!r} is no Azure image: use Publisher:Offer:Sku:Version "
            "(e.g. Debian:debian-13:13-gen2:latest) or an image resource id"
        )
    publisher, offer, sku, version = parts
    return azure.compute.ImageReferenceArgs(publisher=publisher, offer=offer, sku=sku, version=version)


def _one_or_many(values: tuple[str, ...], single: str, many: str) -> dict[str, Any]:
    """Azure normalises a one-element list into the singular property; say it that way to avoid diffs."""
    return {single: values[0]} if len(values) == 1 else {many: list(values)}


def security_rules(rules: tuple[Rule, ...]) -> list[azure.network.SecurityRuleArgs]:
    """The policy as NSG inbound rules, in priority order, closed by a deny of everything from Internet."""
    result = []
    world = 0
    for rule in rules:
        if rule.internal:
            priority = INTERNAL_PRIORITY
        else:
            priority = WORLD_PRIORITY + PRIORITY_STEP * world
            world += 1
        result.append(
            azure.network.SecurityRuleArgs(
                name=f"allow-{rule.name}",
                description=rule.description,
                priority=priority,
                direction="Inbound",
                access="Allow",
                protocol=PROTOCOLS[rule.protocol],
                source_port_range="*",
                destination_address_prefix="*",
                **_one_or_many(rule.sources, "source_address_prefix", "source_address_prefixes"),
                **_one_or_many(rule.port_strings or ("*",), "destination_port_range", "destination_port_ranges"),
            )
        )
    result.append(
        azure.network.SecurityRuleArgs(
            name="deny-internet",
            description="nothing else from outside the site",
            priority=DENY_PRIORITY,
            direction="Inbound",
            access="Deny",
            protocol="*",
            source_address_prefix="Internet",
            source_port_range="*",
            destination_address_prefix="*",
            destination_port_range="*",
        )
    )
    return result


class AzureHosts(pulumi.ComponentResource):
    """The machines of one stage on Azure."""

    hosts: list[ProvisionedHost]

    def __init__(self, name: str, args: InfraArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("hive:infra:Azure", name, None, opts)
        site = args.site
        self._site = site
        self._location = site.stage.region
        image_name = site.stage.image_name
        assert image_name is not None, "the inventory gives azure a default image_name"
        self._image = image_reference(image_name, site.stage.file)
        self._public_key = cloud.one_line_key(args.ssh_public_key)
        child = pulumi.ResourceOptions(parent=self)

        cloud.warn_zone_spread(site, self)

        self.resource_group = azure.resources.ResourceGroup(
            "rg",
            resource_group_name=resource_name(site, "rg"),
            location=self._location,
            tags=tags(site),
            opts=child,
        )
        self.network = azure.network.VirtualNetwork(
            "vnet",
            virtual_network_name=resource_name(site, "vnet"),
            resource_group_name=self.resource_group.name,
            location=self._location,
            address_space=azure.network.AddressSpaceArgs(address_prefixes=[str(site.stage.cidr)]),
            tags=tags(site),
            opts=child,
        )
        self.security_group = self._security_group()
        specs, _ = effective_subnets(site.stage)
        self.subnets = {
            spec.name: azure.network.Subnet(
                f"subnet-{spec.name}",
                subnet_name=cloud.subnet_name(site, spec),
                virtual_network_name=self.network.name,
                resource_group_name=self.resource_group.name,
                address_prefix=str(spec.cidr),
                network_security_group=azure.network.NetworkSecurityGroupArgs(id=self.security_group.id),
                opts=child,
            )
            for spec in specs
        }
        self.hosts = [self._host(host) for host in site.hosts]
        self.register_outputs(
            {
                "resource_group": self.resource_group.name,
                "public_ips": {h.spec.fqdn: h.public_ip for h in self.hosts},
            }
        )

    def _security_group(self) -> azure.network.NetworkSecurityGroup:
        site = self._site
        rules, dropped = supported(checked_policy(site), ("tcp", "udp"))
        for rule in dropped:
            pulumi.log.warn(
                f"firewall rule {rule.name}: Azure NSGs cannot express {rule.protocol}; ports "
                f"{', '.join(rule.port_strings)} are not opened from outside (reachable inside the site only)",
                resource=self,
            )
        return azure.network.NetworkSecurityGroup(
            "nsg",
            network_security_group_name=resource_name(site, "nsg"),
            resource_group_name=self.resource_group.name,
            location=self._location,
            security_rules=security_rules(rules),
            tags=tags(site),
            opts=pulumi.ResourceOptions(parent=self),
        )

    def _host(self, host: Host) -> ProvisionedHost:
        site = self._site
        base = cloud.machine_name(host)
        host_tags = tags(site, host=host.fqdn)
        zones = [host.az] if host.az else None
        public_ip = azure.network.PublicIPAddress(
            f"{host.hostname}-ip",
            public_ip_address_name=f"{base}-ip",
            resource_group_name=self.resource_group.name,
            location=self._location,
            sku=azure.network.PublicIPAddressSkuArgs(name="Standard", tier="Regional"),
            public_ip_allocation_method="Static",
            public_ip_address_version="IPv4",
            zones=zones,
            tags=host_tags,
            opts=cloud.stateful(site, self),
        )
        nic = azure.network.NetworkInterface(
            f"{host.hostname}-nic",
            network_interface_name=f"{base}-nic",
            resource_group_name=self.resource_group.name,
            location=self._location,
            ip_configurations=[
                azure.network.NetworkInterfaceIPConfigurationArgs(
                    name="primary",
                    primary=True,
                    subnet=azure.network.SubnetArgs(id=self.subnets[host.subnet].id),
                    private_ip_address=host.private_ip,
                    private_ip_allocation_method="Static",
                    private_ip_address_version="IPv4",
                    public_ip_address=azure.network.PublicIPAddressArgs(id=public_ip.id),
                )
            ],
            tags=host_tags,
            # Name and static private IP are fixed: the old NIC must go before its successor exists.
            opts=pulumi.ResourceOptions(parent=self, delete_before_replace=True),
        )
        data_disks = []
        hint = None
        if cloud.has_mirrored_disk(site, host):
            disk = azure.compute.Disk(
                f"{host.hostname}-drbd",
                disk_name=f"{base}-drbd",
                resource_group_name=self.resource_group.name,
                location=self._location,
                zones=zones,
                disk_size_gb=site.stage.mirrored_disk_size,
                sku=azure.compute.DiskSkuArgs(name=DISK_SKU),
                creation_data=azure.compute.CreationDataArgs(create_option="Empty"),
                tags=host_tags,
                opts=cloud.stateful(site, self),
            )
            data_disks.append(
                azure.compute.DataDiskArgs(
                    lun=MIRRORED_LUN,
                    create_option="Attach",
                    caching="None",
                    delete_option="Detach",
                    managed_disk=azure.compute.ManagedDiskParametersArgs(id=disk.id),
                )
            )
            hint = MIRRORED_DEVICE_HINT
        user = site.stage.ssh_user
        host_key = generated_host_key(f"{host.hostname}-host-key", self)
        custom_data = cloud.host_key_cloud_config(host_key).apply(lambda text: base64.b64encode(text.encode()).decode())
        vm = azure.compute.VirtualMachine(
            host.hostname,
            vm_name=base,
            resource_group_name=self.resource_group.name,
            location=self._location,
            zones=zones,
            hardware_profile=azure.compute.HardwareProfileArgs(vm_size=cloud.instance_type(site, host)),
            storage_profile=azure.compute.StorageProfileArgs(
                image_reference=self._image,
                os_disk=azure.compute.OSDiskArgs(
                    name=f"{base}-os",
                    create_option="FromImage",
                    disk_size_gb=cloud.disk_size(site, host),
                    caching="ReadWrite",
                    delete_option="Delete",
                    managed_disk=azure.compute.ManagedDiskParametersArgs(storage_account_type=DISK_SKU),
                ),
                data_disks=data_disks,
            ),
            os_profile=azure.compute.OSProfileArgs(
                computer_name=host.hostname,
                admin_username=user,
                custom_data=custom_data,  # cloud-init: the SSH host key (secret)
                linux_configuration=azure.compute.LinuxConfigurationArgs(
                    disable_password_authentication=True,
                    provision_vm_agent=True,
                    ssh=azure.compute.SshConfigurationArgs(
                        public_keys=[
                            azure.compute.SshPublicKeyArgs(
                                path=f"/home/{user}/.ssh/authorized_keys", key_data=self._public_key
                            )
                        ]
                    ),
                ),
            ),
            network_profile=azure.compute.NetworkProfileArgs(
                network_interfaces=[
                    azure.compute.NetworkInterfaceReferenceArgs(id=nic.id, primary=True, delete_option="Detach")
                ]
            ),
            tags=host_tags,
            # The name is fixed (and its NIC and data disk can serve one VM at a time): delete, then create.
            opts=pulumi.ResourceOptions(parent=self, delete_before_replace=True),
        )
        address = cast(pulumi.Output[str], public_ip.ip_address)  # a static IP has its address once created
        return ProvisionedHost(
            spec=host,
            public_ip=address,
            address=cloud.ready_when(address, vm),
            ssh_port=cloud.SSH_PORT,
            machine=vm,
            machine_id=vm.vm_id,
            mirrored_device_hint=hint,
            host_key=public_line(host_key),
        )
