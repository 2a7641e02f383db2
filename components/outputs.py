"""Stack outputs (DESIGN §8): what operators, DNS delegation and other stacks read."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import pulumi

from components.inventory.exports import Endpoint, known_hosts, ssh_config
from components.monitoring.endpoints import monitoring_output
from components.program_site import ALLOCATIONS_OUTPUT, ProgramSite
from components.swarm.image_digest import OUTPUT as IMAGES_OUTPUT

if TYPE_CHECKING:
    from components.hive import Hive

IDENTITY_FILE = "~/.ssh/hive_{stack}"
KNOWN_HOSTS_FILE = "~/.ssh/hive_{stack}_known_hosts"


def export_outputs(program: ProgramSite, hive: Hive) -> None:
    site = program.site
    addresses = pulumi.Output.all(*[host.published_ip for host in hive.hosts])
    ports = pulumi.Output.all(*[host.ssh_port for host in hive.hosts])
    host_keys = pulumi.Output.all(*[host.host_key for host in hive.hosts])

    def host_table(values: list[Any]) -> dict[str, dict[str, Any]]:
        return {
            h.spec.fqdn: {
                "role": h.spec.role,
                "is_hive": h.spec.is_hive,
                "private_ip": h.spec.private_ip,
                "public_ip": address,
                "az": h.spec.az,
            }
            for h, address in zip(hive.hosts, values, strict=True)
        }

    def endpoints(values: list[Any]) -> list[Endpoint]:
        address_list, port_list, key_list = values
        return [
            Endpoint(h.spec.fqdn, a, int(p), k)
            for h, a, p, k in zip(hive.hosts, address_list, port_list, key_list, strict=True)
        ]

    all_endpoints = pulumi.Output.all(addresses, ports, host_keys).apply(endpoints)
    pulumi.export("hosts", addresses.apply(host_table))
    pulumi.export(
        "ssh_config",
        all_endpoints.apply(
            lambda eps: ssh_config(
                eps,
                site.stage.ssh_user,
                IDENTITY_FILE.format(stack=site.stage.stack),
                KNOWN_HOSTS_FILE.format(stack=site.stage.stack),
            )
        ),
    )
    pulumi.export("ssh_known_hosts", all_endpoints.apply(known_hosts))  # the pinned host keys (public)
    pulumi.export("ssh_private_key", pulumi.Output.secret(hive.ssh_private_key))
    pulumi.export("dns_delegation", hive.swarm.dns_delegation)
    pulumi.export("inventory", program.resolved.apply(lambda s: json.loads(json.dumps(s.to_json()))))
    pulumi.export(ALLOCATIONS_OUTPUT, program.allocations.apply(lambda a: a.as_dict()))
    pulumi.export("registry", hive.swarm.registry)
    first_hive = next(h for h in hive.hosts if h.spec.first_hive)
    # DOCKER_HOST for the operator (mutual TLS: the client certificate is in the state, see README).
    api_port = pulumi.Output.from_input(first_hive.docker_port).apply(str)
    pulumi.export("swarm_manager", pulumi.Output.concat("tcp://", first_hive.published_ip, ":", api_port))
    pulumi.export(
        "docker_tls",  # the client certificate for swarm_manager (e.g. docker --tlsverify), all of it secret
        pulumi.Output.secret(
            pulumi.Output.all(ca=hive.pki.ca_cert_pem, cert=hive.pki.client_cert_pem, key=hive.pki.client_key_pem)
        ),
    )
    pulumi.export("services", hive.swarm.services_output)
    pulumi.export("volumes", hive.swarm.volumes_output)
    # service → the tag, the digest it pointed to at this up, and the up's marker (components/swarm/image_digest.py)
    pulumi.export(IMAGES_OUTPUT, hive.swarm.images_output)
    pulumi.export("monitoring", monitoring_output(site, receivers=[r.name for r in site.stage.alert_receivers]))
