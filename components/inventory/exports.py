"""Pure formatting of stack outputs: ssh_config text and the DNS delegation of the site's zone."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Endpoint:
    """A server as the outside world reaches it."""

    fqdn: str
    address: str
    port: int = 22
    host_key: str = ""  # the pinned SSH host key, ``<type> <base64>``


def ssh_config(endpoints: Sequence[Endpoint], user: str, identity_file: str, known_hosts_file: str) -> str:
    """One ``Host`` block per server (hive-builder's ``<context>/ssh_config``), usable with ``ssh -F``.

    The repository server comes last, as in hive-builder, so "the last host" is the default target.
    Each block also answers to the short host name (``ssh -F cfg s-hive0``). Host keys are checked strictly
    against ``known_hosts_file`` (the ``ssh_known_hosts`` output: the keys the program pins) under the host's
    FQDN (``HostKeyAlias``: the same key whatever address or port reaches the host).
    """
    blocks = []
    for endpoint in endpoints:
        short = endpoint.fqdn.split(".", 1)[0]
        blocks.append(
            "\n".join(
                [
                    f"Host {endpoint.fqdn} {short}",
                    f"  HostName {endpoint.address}",
                    f"  Port {endpoint.port}",
                    f"  User {user}",
                    f"  IdentityFile {identity_file}",
                    "  IdentitiesOnly yes",
                    f"  HostKeyAlias {endpoint.fqdn}",
                    f"  UserKnownHostsFile {known_hosts_file}",
                    "  StrictHostKeyChecking yes",
                ]
            )
        )
    return "\n\n".join(blocks) + "\n"


def known_hosts(endpoints: Sequence[Endpoint]) -> str:
    """The pinned host keys in known_hosts form, one line per server under its FQDN (see ``ssh_config``)."""
    return "".join(f"{endpoint.fqdn} {endpoint.host_key}\n" for endpoint in endpoints)


def dns_delegation(zone: str, domain: str | None, name_servers: Sequence[Endpoint]) -> dict[str, Any]:
    """The parent zone's delegation to the site: NS records for the hives and their glue A records.

    Name servers are ``<host fqdn>.<domain>.`` (``s-hive0.pdns.example.com.``) — inside the delegated zone,
    which is why the parent needs glue.
    """
    suffix = f".{domain}." if domain else "."
    servers = [{"name": f"{ns.fqdn}{suffix}", "ipv4": ns.address} for ns in name_servers]
    lines = [f"{zone}. IN NS {server['name']}" for server in servers]
    lines += [f"{server['name']} IN A {server['ipv4']}" for server in servers]
    return {
        "zone": f"{zone}.",
        "name_servers": [server["name"] for server in servers],
        "glue_records": servers,
        "zone_file_lines": lines,
    }
