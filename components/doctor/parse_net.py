"""Parsers for the network checks: the underlay and overlay MTUs and ``conntrack -L -p udp``."""

from __future__ import annotations

import re
from dataclasses import dataclass

VXLAN_OVERHEAD = 50  # DESIGN §4: overlay MTU = underlay MTU − 50
DOCKER_DEFAULT_MTU = 1500  # an overlay network without com.docker.network.driver.mtu uses 1500


def parse_underlay_mtu(text: str) -> tuple[str, int] | None:
    """``<dev> <mtu>`` of the default route's interface."""
    match = re.search(r"^(\S+) (\d+)$", text, re.MULTILINE)
    return (match[1], int(match[2])) if match else None


def parse_overlay_mtus(text: str) -> dict[str, int]:
    """``docker network inspect --format '{{.Name}} {{index .Options "com.docker.network.driver.mtu"}}'``;
    an empty option means docker's default."""
    result = {}
    for line in text.splitlines():
        name, _, mtu = line.strip().partition(" ")
        if name and not name.startswith("Error"):
            result[name] = int(mtu) if mtu.strip().isdigit() else DOCKER_DEFAULT_MTU
    return result


@dataclass(frozen=True)
class UdpFlow:
    src: str
    dst: str
    sport: int
    dport: int
    reply_src: str  # who answers: a container's address when docker's DNAT applied, else the host itself

    @property
    def not_translated(self) -> bool:
        """The FAQ's stale entry: the reply comes from the address the packet was sent to (no DNAT)."""
        return self.reply_src == self.dst


_FLOW = re.compile(
    r"^udp\s+\d+\s+\d+\s+src=(?P<src>\S+) dst=(?P<dst>\S+) sport=(?P<sport>\d+) dport=(?P<dport>\d+)"
    r"(?: \[UNREPLIED\])? src=(?P<rsrc>\S+) dst=\S+ sport=\d+ dport=\d+"
)


def parse_conntrack_udp(text: str) -> list[UdpFlow]:
    """``conntrack -L -p udp`` (conntrack-tools): original tuple, then the reply tuple."""
    flows = []
    for line in text.splitlines():
        match = _FLOW.match(line.strip())
        if match:
            flows.append(UdpFlow(match["src"], match["dst"], int(match["sport"]), int(match["dport"]), match["rsrc"]))
    return flows
