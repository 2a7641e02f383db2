"""AWS: a VPC with one zonal subnet per configured (or derived) subnet, and one instance per host.

Created (logical names in brackets; physical names and ``Name`` tags carry the stage prefix):

* VPC [``vpc``] of ``cidr``; subnets [``subnet-<name>``] from ``effective_subnets`` — AWS subnets are
  zonal, so without ``subnets`` the inventory derives three, one per zone — with no automatic public IPs;
* internet gateway [``igw``], a route table [``routes``] with ``0.0.0.0/0`` to it [``default-route``], one
  association per subnet [``routes-<subnet>``];
* one security group [``hosts``] carrying the firewall policy as separate ``aws.vpc`` rule resources (the
  pulumi-aws 7 recommendation: one rule per resource, one CIDR each — inline rules cannot be mixed with
  them and replace the whole set on any change): everything from the group itself, the admin and
  published rules, and all egress (an AWS-created group has an allow-all egress rule; a group made through
  the API by the provider has none);
* a key pair [``ssh-key``] from the stage's public key;
* per host: an instance [``<hostname>``] with the inventory's private IP, zone and subnet, an encrypted gp3
  root volume, IMDSv2, minimal cloud-init; an Elastic IP [``<hostname>-ip``] with its association; and, when
  mirrored, an encrypted gp3 EBS volume [``<hostname>-drbd``] attached as ``/dev/sdf``.

The AMI is looked up by Debian's account (136693071363) and ``image_name`` (``debian-13-amd64-*``), the most
recent match; an ``image_name`` of the form ``ami-…`` is used as is. ``ami`` is ignored after creation, so a
new Debian release never replaces a running instance (new instances get the new image).
"""

from __future__ import annotations

import pulumi
import pulumi_aws as aws

from components.infra import cloud
from components.infra.firewall_policy import ALL_PROTOCOLS, ANYWHERE, Rule, checked_policy, supported
from components.infra.host_keys import generated_host_key, public_line
from components.infra.types import InfraArgs, ProvisionedHost, resource_name, tags
from components.inventory.addressing import Host, effective_subnets, zone_for
from components.inventory.site import Site
from components.inventory.stage import SubnetSpec

DEBIAN_OWNER = "136693071363"  # Debian's official AWS account (https://wiki.debian.org/Cloud/AmazonEC2Image)
MIRRORED_DEVICE_NAME = "/dev/sdf"
MIRRORED_DEVICE_HINT = "/dev/nvme1n1"
VOLUME_TYPE = "gp3"


class AwsHosts(pulumi.ComponentResource):
    """The machines of one stage on AWS."""

    hosts: list[ProvisionedHost]

    def __init__(self, name: str, args: InfraArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("hive:infra:Aws", name, None, opts)
        site = args.site
        self._site = site
        self._region = site.stage.region
        child = pulumi.ResourceOptions(parent=self)

        cloud.warn_zone_spread(site, self)

        self.vpc = aws.ec2.Vpc(
            "vpc",
            cidr_block=str(site.stage.cidr),
            enable_dns_support=True,
            enable_dns_hostnames=True,
            region=self._region,
            tags=self._tags(resource_name(site, "vpc")),
            opts=child,
        )
        self.subnets = self._network()
        self.security_group = self._security_group()
        self.key_pair = aws.ec2.KeyPair(
            "ssh-key",
            key_name=resource_name(site, "ssh"),
            public_key=cloud.one_line_key(args.ssh_public_key),
            region=self._region,
            tags=self._tags(resource_name(site, "ssh")),
            # The name is fixed: a new key can only be created after the old one is gone.
            opts=pulumi.ResourceOptions(parent=self, delete_before_replace=True),
        )
        image = self._image()
        self._ssh_public_key = args.ssh_public_key
        self.hosts = [self._host(host, image) for host in site.hosts]
        self.register_outputs(
            {
                "vpc_id": self.vpc.id,
                "security_group_id": self.security_group.id,
                "public_ips": {h.spec.fqdn: h.public_ip for h in self.hosts},
            }
        )

    # -- network -----------------------------------------------------------------------------------
    def _tags(self, name: str) -> dict[str, str]:
        return tags(self._site, Name=name)

    def _network(self) -> dict[str, aws.ec2.Subnet]:
        site = self._site
        child = pulumi.ResourceOptions(parent=self)
        gateway = aws.ec2.InternetGateway(
            "igw", vpc_id=self.vpc.id, region=self._region, tags=self._tags(resource_name(site, "igw")), opts=child
        )
        table = aws.ec2.RouteTable(
            "routes",
            vpc_id=self.vpc.id,
            region=self._region,
            tags=self._tags(resource_name(site, "routes")),
            opts=child,
        )
        aws.ec2.Route(
            "default-route",
            route_table_id=table.id,
            destination_cidr_block=ANYWHERE,
            gateway_id=gateway.id,
            region=self._region,
            opts=child,
        )
        subnets: dict[str, aws.ec2.Subnet] = {}
        specs, _ = effective_subnets(site.stage)
        for position, spec in enumerate(specs):
            subnet = aws.ec2.Subnet(
                f"subnet-{spec.name}",
                vpc_id=self.vpc.id,
                cidr_block=str(spec.cidr),
                availability_zone=_subnet_zone(site, spec, position),
                map_public_ip_on_launch=False,
                region=self._region,
                tags=self._tags(cloud.subnet_name(site, spec)),
                opts=child,
            )
            aws.ec2.RouteTableAssociation(
                f"routes-{spec.name}", route_table_id=table.id, subnet_id=subnet.id, region=self._region, opts=child
            )
            subnets[spec.name] = subnet
        return subnets

    def _security_group(self) -> aws.ec2.SecurityGroup:
        site = self._site
        child = pulumi.ResourceOptions(parent=self)
        group_name = resource_name(site, "hosts")
        group = aws.ec2.SecurityGroup(
            "hosts",
            name=group_name,
            description=f"hive {site.stage.name} ({site.stage.stage}): the site's hosts",
            vpc_id=self.vpc.id,
            revoke_rules_on_delete=True,
            region=self._region,
            tags=self._tags(group_name),
            opts=child,
        )
        rules, dropped = supported(checked_policy(site), ("tcp", "udp"))
        for rule in dropped:
            pulumi.log.warn(
                f"firewall rule {rule.name}: AWS security groups cannot limit {rule.protocol} to ports "
                f"{', '.join(rule.port_strings)}; not opened from outside (reachable inside the site only)",
                resource=self,
            )
        for rule in rules:
            self._ingress(group, rule)
        aws.vpc.SecurityGroupEgressRule(
            "hosts-egress-all",
            security_group_id=group.id,
            ip_protocol="-1",
            cidr_ipv4=ANYWHERE,
            description="all outbound traffic",
            region=self._region,
            tags=self._tags(f"{group_name}-egress-all"),
            opts=child,
        )
        return group

    def _ingress(self, group: aws.ec2.SecurityGroup, rule: Rule) -> None:
        child = pulumi.ResourceOptions(parent=self)
        base = resource_name(self._site, "hosts")
        if rule.internal:
            aws.vpc.SecurityGroupIngressRule(
                f"hosts-{rule.name}",
                security_group_id=group.id,
                referenced_security_group_id=group.id,
                ip_protocol="-1",
                description=rule.description,
                region=self._region,
                tags=self._tags(f"{base}-{rule.name}"),
                opts=child,
            )
            return
        assert rule.protocol != ALL_PROTOCOLS and rule.ports, "world rules name one protocol and ports"
        for source in rule.sources:
            for ports in rule.ports:
                # Keyed by content (rule, ports, source): adding a port or a CIDR adds a resource, nothing shifts.
                key = f"{rule.name}-{ports}-{source.replace('/', '_')}"
                aws.vpc.SecurityGroupIngressRule(
                    f"hosts-{key}",
                    security_group_id=group.id,
                    ip_protocol=rule.protocol,
                    from_port=ports.first,
                    to_port=ports.last,
                    cidr_ipv4=source,
                    description=rule.description,
                    region=self._region,
                    tags=self._tags(f"{base}-{key}"),
                    opts=child,
                )

    # -- machines ----------------------------------------------------------------------------------
    def _image(self) -> pulumi.Input[str]:
        image_name = self._site.stage.image_name
        assert image_name is not None, "the inventory gives aws a default image_name"
        if image_name.startswith("ami-"):
            return image_name
        ami = aws.ec2.get_ami_output(
            owners=[DEBIAN_OWNER],
            most_recent=True,
            filters=[
                aws.ec2.GetAmiFilterArgs(name="name", values=[image_name]),
                aws.ec2.GetAmiFilterArgs(name="state", values=["available"]),
            ],
            region=self._region,
            opts=pulumi.InvokeOutputOptions(parent=self),
        )
        return ami.id

    def _host(self, host: Host, image: pulumi.Input[str]) -> ProvisionedHost:
        site = self._site
        host_key = generated_host_key(f"{host.hostname}-host-key", self)
        instance = aws.ec2.Instance(
            host.hostname,
            ami=image,
            instance_type=cloud.instance_type(site, host),
            availability_zone=host.az,
            subnet_id=self.subnets[host.subnet].id,
            private_ip=host.private_ip,
            vpc_security_group_ids=[self.security_group.id],
            key_name=self.key_pair.key_name,
            associate_public_ip_address=False,
            root_block_device=aws.ec2.InstanceRootBlockDeviceArgs(
                volume_size=cloud.disk_size(site, host),
                volume_type=VOLUME_TYPE,
                encrypted=True,
                delete_on_termination=True,
                tags=self._tags(f"{host.fqdn}-root"),
            ),
            # hop limit 1: the user data (it carries the SSH host key) is not readable from a container
            metadata_options=aws.ec2.InstanceMetadataOptionsArgs(
                http_tokens="required", http_endpoint="enabled", http_put_response_hop_limit=1
            ),
            user_data=cloud.cloud_config(site.stage.ssh_user, self._ssh_public_key, host_key),
            user_data_replace_on_change=False,
            region=self._region,
            tags=self._tags(host.fqdn),
            opts=pulumi.ResourceOptions(
                parent=self,
                # The private IP is fixed: the old machine must go before its successor can take the address.
                delete_before_replace=True,
                ignore_changes=["ami"],
            ),
        )
        eip = aws.ec2.Eip(
            f"{host.hostname}-ip",
            domain="vpc",
            region=self._region,
            tags=self._tags(f"{host.fqdn}-ip"),
            opts=cloud.stateful(site, self),
        )
        association = aws.ec2.EipAssociation(
            f"{host.hostname}-ip",
            allocation_id=eip.allocation_id,
            instance_id=instance.id,
            region=self._region,
            opts=pulumi.ResourceOptions(parent=self),
        )
        waits_for: list[pulumi.Resource] = [association]
        hint = None
        if cloud.has_mirrored_disk(site, host):
            waits_for.append(self._mirrored_disk(host, instance))
            hint = MIRRORED_DEVICE_HINT
        return ProvisionedHost(
            spec=host,
            public_ip=eip.public_ip,
            address=cloud.ready_when(eip.public_ip, *waits_for),
            ssh_port=cloud.SSH_PORT,
            machine=instance,
            machine_id=instance.id,
            mirrored_device_hint=hint,
            host_key=public_line(host_key),
        )

    def _mirrored_disk(self, host: Host, instance: aws.ec2.Instance) -> aws.ec2.VolumeAttachment:
        site = self._site
        volume = aws.ebs.Volume(
            f"{host.hostname}-drbd",
            availability_zone=host.az,
            size=site.stage.mirrored_disk_size,
            type=VOLUME_TYPE,
            encrypted=True,
            region=self._region,
            tags=self._tags(f"{host.fqdn}-drbd"),
            opts=cloud.stateful(site, self),
        )
        return aws.ec2.VolumeAttachment(
            f"{host.hostname}-drbd",
            device_name=MIRRORED_DEVICE_NAME,
            volume_id=volume.id,
            instance_id=instance.id,
            stop_instance_before_detaching=True,
            region=self._region,
            opts=pulumi.ResourceOptions(parent=self),
        )


def _subnet_zone(site: Site, spec: SubnetSpec, position: int) -> str | None:
    """The zone of an AWS subnet: the one its hosts have. Subnets are zonal, so the hosts placed in one
    subnet must share a zone (they do, unless ``ip_address_list`` is used without ``subnets``)."""
    zones = sorted({h.az for h in site.hosts if h.subnet == spec.name and h.az is not None})
    if len(zones) > 1:
        names = ", ".join(h.fqdn for h in site.hosts if h.subnet == spec.name)
        raise pulumi.RunError(
            f"{site.stage.file}: hosts {names} share subnet {spec.name} ({spec.cidr}) but are spread over zones "
            f"{', '.join(zones)}; an AWS subnet lives in one zone — list hive:subnets (one per zone, each with its "
            "available_zone) so every address of hive:ip_address_list falls into the subnet of its zone"
        )
    return zones[0] if zones else zone_for(site.stage, spec, position)
