"""Parser for ``drbdadm status`` (DRBD 9's ``drbdsetup status`` text, not a terminal: no colours).

The format, from LINBIT/drbd-utils user/v9/drbdsetup.c (commit b4b2f5b9): ``resource_status()`` prints
``<resource> role:<role>`` (plus ``suspended:``/``force-io-failures:`` when set) at column 0;
``device_status()`` prints at indent 2 ``disk:<state>`` (``volume:<n>`` first unless it is the single volume
0; ``client:yes|no`` when Diskless and not on a tty; ``quorum:no`` when quorum is lost; ``open:``);
``connection_status()`` prints at indent 2 the peer's name, then ``connection:<cstate>`` unless Connected and
``role:<role>`` when Connected — peer devices are listed only for a Connected peer; ``peer_device_status()``
prints at indent 4 ``replication:<state>`` when beyond Established, ``peer-disk:<state>`` and
``peer-client:`` when Diskless, ``done:`` while syncing. ``wrap_printf`` wraps a long line at the same
indent, so a continuation line carries more ``key:value`` words of the same object.
"""

from __future__ import annotations

from dataclasses import dataclass, field

DEVICE_KEYS = {"volume", "minor", "disk", "client", "backing_dev", "quorum", "open"}
PEER_DEVICE_KEYS = {"volume", "replication", "peer-disk", "peer-client", "done", "resync-suspended"}


@dataclass
class PeerDevice:
    volume: int = 0
    replication: str = "Established"  # not printed while Established
    peer_disk: str = "DUnknown"
    peer_client: bool = False
    done: str = ""


@dataclass
class Connection:
    name: str
    connection: str = "Connected"  # not printed while Connected
    role: str = ""
    peer_devices: list[PeerDevice] = field(default_factory=list)


@dataclass
class Device:
    volume: int = 0
    disk: str = "DUnknown"
    client: bool = False
    quorum: bool = True  # printed only when lost
    open: str = ""


@dataclass
class Resource:
    name: str
    role: str = ""
    suspended: str = "no"
    devices: list[Device] = field(default_factory=list)
    connections: list[Connection] = field(default_factory=list)
    error: str = ""  # e.g. "No such resource" for a resource that is not up


def parse_drbd_status(text: str) -> list[Resource]:
    resources: list[Resource] = []
    resource: Resource | None = None
    connection: Connection | None = None
    for raw in text.splitlines():
        if not raw.strip():
            continue
        words = raw.split()
        if not raw[0].isspace():
            name, _, rest = raw.partition(" ")
            if name.endswith(":") and "role:" not in raw:  # "<res>: No such resource" from drbdsetup
                resources.append(Resource(name.rstrip(":"), error=raw.partition(": ")[2].strip()))
                resource = None
                continue
            resource, connection = Resource(name), None
            resources.append(resource)
            _apply_resource(resource, rest.split())
            continue
        if resource is None:
            continue
        if ":" not in words[0]:  # a peer's name opens its connection
            connection = Connection(words[0])
            resource.connections.append(connection)
            _apply_connection(connection, words[1:])
        elif connection is None:
            _apply_device(resource, words)
        else:
            _apply_peer(connection, words)
    return resources


def _pairs(words: list[str]) -> list[tuple[str, str]]:
    return [(k, v) for k, _, v in (w.partition(":") for w in words)]


def _apply_resource(resource: Resource, words: list[str]) -> None:
    for key, value in _pairs(words):
        if key == "role":
            resource.role = value
        elif key == "suspended":
            resource.suspended = value


def _apply_device(resource: Resource, words: list[str]) -> None:
    pairs = _pairs(words)
    if not resource.devices or pairs[0][0] == "volume":
        resource.devices.append(Device())
    device = resource.devices[-1]
    for key, value in pairs:
        if key == "volume":
            device.volume = int(value)
        elif key == "disk":
            device.disk = value
        elif key == "client":
            device.client = value == "yes"
        elif key == "quorum":
            device.quorum = value == "yes"
        elif key == "open":
            device.open = value
        elif key in {"role", "suspended"}:  # a wrapped resource line
            _apply_resource(resource, [f"{key}:{value}"])


def _apply_connection(connection: Connection, words: list[str]) -> None:
    for key, value in _pairs(words):
        if key == "connection":
            connection.connection = value
        elif key == "role":
            connection.role = value


def _apply_peer(connection: Connection, words: list[str]) -> None:
    pairs = _pairs(words)
    if not any(k in PEER_DEVICE_KEYS for k, _ in pairs):
        _apply_connection(connection, words)  # a wrapped connection line
        return
    if (
        not connection.peer_devices
        or pairs[0][0] in {"volume", "replication"}
        or (pairs[0][0] == "peer-disk" and connection.peer_devices[-1].peer_disk != "DUnknown")
    ):
        connection.peer_devices.append(PeerDevice())
    peer = connection.peer_devices[-1]
    for key, value in pairs:
        if key == "volume":
            peer.volume = int(value)
        elif key == "replication":
            peer.replication = value
        elif key == "peer-disk":
            peer.peer_disk = value
        elif key == "peer-client":
            peer.peer_client = value == "yes"
        elif key == "done":
            peer.done = value
