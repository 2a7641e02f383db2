"""Plausible fake outputs for the provider resources and invokes the program uses.

`fake_outputs(ctx)` answers "what would the provider return for this resource", per type token,
*in addition to* the inputs (which `BaseMocks` echoes back, as real providers do).  Generators are
pure functions of the resource (type, name, inputs) and the environment, so two runs of the same
program give the same fake values (IP addresses are hashed into large reserved pools with collision
probing per `IpAllocator`, so they are stable as long as no two resources collide).

Preview semantics: a real provider returns the inputs during a preview, but every *computed* output
(an id, an IP address, a key, an ARN) is unknown.  Generators therefore wrap every computed value in
`ctx.computed(value)`, which is `UNKNOWN` in preview and `value` in an update.  Values that a real
provider does know during a preview (auto-names, echoed inputs, defaults) are returned plainly.
`UNKNOWN` is an instance of the SDK's `pulumi.output.Unknown` (repr "UNKNOWN", equal to any unknown);
the SDK serialises it as the engine's unknown sentinel, so the program sees an unknown `Output`
exactly as it would in `pulumi preview`.

Extend by adding to `FAKES` / `INVOKES` (token -> function) or by overriding `BaseMocks.outputs_for`.
"""

from __future__ import annotations

import base64
import hashlib
import ipaddress
import re
import threading
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from pulumi.output import Unknown


class _HarnessUnknown(Unknown):
    """The SDK's `Unknown` (so the SDK serialises it as the engine's unknown sentinel), with a
    readable repr and equality to any other unknown."""

    def __repr__(self) -> str:
        return "UNKNOWN"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Unknown)

    def __hash__(self) -> int:
        return hash("UNKNOWN")

    def __copy__(self) -> _HarnessUnknown:
        return self

    def __deepcopy__(self, memo: dict) -> _HarnessUnknown:
        return self


UNKNOWN = _HarnessUnknown()

__all__ = [
    "FAKES",
    "INVOKES",
    "UNKNOWN",
    "FakeContext",
    "FakeEnv",
    "IpAllocator",
    "UnknownInvokeError",
    "fake_id",
    "fake_invoke",
    "fake_outputs",
    "fake_pem",
    "is_unknown",
]


def is_unknown(value: Any) -> bool:
    return isinstance(value, Unknown)


# ---------------------------------------------------------------------------------------------
# Environment and context
# ---------------------------------------------------------------------------------------------


@dataclass
class FakeEnv:
    """Cloud-side facts the fakes need.  `BaseMocks.bind` fills them from the stack config
    (`aws:region`, `gcp:project`, `gcp:region`, `gcp:zone`, `azure-native:location`,
    `azure-native:subscriptionId`) when present."""

    aws_region: str = "eu-central-1"
    aws_account: str = "123456789012"
    gcp_project: str = "hive-test"
    gcp_region: str = "europe-west3"
    gcp_zone: str | None = None  # default: <region>-a
    azure_subscription: str = "00000000-0000-0000-0000-000000000000"
    azure_location: str = "westeurope"
    stack: str = "stack"
    project: str = "hive"

    @property
    def zone(self) -> str:
        return self.gcp_zone or f"{self.gcp_region}-a"


class IpAllocator:
    """Hands out distinct addresses from reserved pools, deterministically by seed."""

    # "Public" addresses come from 198.18.0.0/15 (RFC 2544 benchmarking: reserved, never routed),
    # large enough that hashed allocations practically never collide — a collision would make the
    # probed address depend on the (thread-pool) order of registration.
    POOLS = {
        "aws-public": "198.18.0.0/16",
        "gcp-public": "198.19.0.0/17",
        "azure-public": "198.19.128.0/17",
        "private": "10.255.0.0/16",  # only used when the program did not choose an address
    }

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._taken: dict[str, dict[str, str]] = {}  # pool -> seed -> address

    def allocate(self, pool: str, seed: str) -> str:
        net = ipaddress.ip_network(self.POOLS.get(pool, pool))
        hosts = net.num_addresses - 2
        with self._lock:
            taken = self._taken.setdefault(pool, {})
            if seed in taken:
                return taken[seed]
            used = set(taken.values())
            start = int.from_bytes(hashlib.sha256(seed.encode()).digest()[:8], "big") % hosts
            for i in range(hosts):
                addr = str(net.network_address + 1 + (start + i) % hosts)
                if addr not in used:
                    taken[seed] = addr
                    return addr
        raise RuntimeError(f"fake IP pool {pool} exhausted")


@dataclass
class FakeContext:
    type: str
    name: str
    inputs: Mapping[str, Any]
    preview: bool
    env: FakeEnv = field(default_factory=FakeEnv)
    ips: IpAllocator = field(default_factory=IpAllocator)
    urn: str = ""

    def computed(self, value: Any) -> Any:
        """A provider-computed value: unknown during a preview."""
        return UNKNOWN if self.preview else value

    def hex(self, n: int, salt: str = "") -> str:
        seed = f"{self.env.stack}|{self.type}|{self.name}|{salt}".encode()
        out = ""
        i = 0
        while len(out) < n:
            out += hashlib.sha256(seed + str(i).encode()).hexdigest()
            i += 1
        return out[:n]

    def seed(self, salt: str = "") -> str:
        return f"{self.env.stack}|{self.type}|{self.name}|{salt}"

    def ip(self, pool: str, salt: str = "") -> str:
        return self.ips.allocate(pool, self.seed(salt))

    def autoname(self, sep: str = "-", n: int = 7) -> str:
        """Pulumi auto-naming: logical name plus a random suffix (known during preview)."""
        return f"{self.name}{sep}{self.hex(n, 'autoname')}"

    def get(self, key: str, default: Any = None) -> Any:
        v = self.inputs.get(key, default)
        return default if v is None else v


Generator = Callable[[FakeContext], dict]
FAKES: dict[str, Generator] = {}


def fake(*tokens: str) -> Callable[[Generator], Generator]:
    def deco(fn: Generator) -> Generator:
        for t in tokens:
            FAKES[t] = fn
        return fn

    return deco


def _pkg(token: str) -> str:
    return token.split(":", 1)[0]


def _type_name(token: str) -> str:
    return token.rsplit(":", 1)[-1]


def _mod(token: str) -> str:
    parts = token.split(":")
    return parts[1] if len(parts) == 3 else ""


def _lower_first(s: str) -> str:
    return s[:1].lower() + s[1:]


def fake_pem(label: str, seed: str, nbytes: int = 256) -> str:
    """A well-formed (armored, base64, 64-column) but meaningless PEM block."""
    raw = b""
    i = 0
    while len(raw) < nbytes:
        raw += hashlib.sha256(f"{seed}|{i}".encode()).digest()
        i += 1
    b64 = base64.b64encode(raw[:nbytes]).decode()
    body = "\n".join(b64[i : i + 64] for i in range(0, len(b64), 64))
    return f"-----BEGIN {label}-----\n{body}\n-----END {label}-----\n"


# ---------------------------------------------------------------------------------------------
# ids
# ---------------------------------------------------------------------------------------------

_AWS_ID_PREFIX = {
    "aws:ec2/instance:Instance": "i-",
    "aws:ec2/eip:Eip": "eipalloc-",
    "aws:ec2/vpc:Vpc": "vpc-",
    "aws:ec2/subnet:Subnet": "subnet-",
    "aws:ec2/securityGroup:SecurityGroup": "sg-",
    "aws:ec2/internetGateway:InternetGateway": "igw-",
    "aws:ec2/routeTable:RouteTable": "rtb-",
    "aws:ec2/routeTableAssociation:RouteTableAssociation": "rtbassoc-",
    "aws:ec2/route:Route": "r-rtb-",
    "aws:ec2/networkInterface:NetworkInterface": "eni-",
    "aws:ebs/volume:Volume": "vol-",
    "aws:ec2/natGateway:NatGateway": "nat-",
    "aws:ec2/networkAcl:NetworkAcl": "acl-",
    "aws:ec2/placementGroup:PlacementGroup": "pg-",
    "aws:ec2/launchTemplate:LaunchTemplate": "lt-",
    "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule": "sgr-",
    "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule": "sgr-",
    "aws:ec2/eipAssociation:EipAssociation": "eipassoc-",
}

_GCP_COLLECTIONS = {
    # token -> (scope, collection) ; scope in global|region|zone
    "gcp:compute/network:Network": ("global", "networks"),
    "gcp:compute/subnetwork:Subnetwork": ("region", "subnetworks"),
    "gcp:compute/firewall:Firewall": ("global", "firewalls"),
    "gcp:compute/address:Address": ("region", "addresses"),
    "gcp:compute/globalAddress:GlobalAddress": ("global", "addresses"),
    "gcp:compute/instance:Instance": ("zone", "instances"),
    "gcp:compute/disk:Disk": ("zone", "disks"),
    "gcp:compute/attachedDisk:AttachedDisk": ("zone", "attachedDisks"),
    "gcp:compute/router:Router": ("region", "routers"),
    "gcp:compute/route:Route": ("global", "routes"),
    "gcp:compute/resourcePolicy:ResourcePolicy": ("region", "resourcePolicies"),
}

_AZURE_NAMESPACE = {
    "network": "Microsoft.Network",
    "compute": "Microsoft.Compute",
    "resources": "Microsoft.Resources",
    "storage": "Microsoft.Storage",
    "keyvault": "Microsoft.KeyVault",
    "managedidentity": "Microsoft.ManagedIdentity",
    "authorization": "Microsoft.Authorization",
    "privatedns": "Microsoft.Network",
    "dns": "Microsoft.Network",
}

# azure-native type -> (collection path under the namespace, name input key, parent input keys)
_AZURE_TYPES = {
    "PublicIPAddress": ("publicIPAddresses", "publicIpAddressName", ()),
    "NetworkSecurityGroup": ("networkSecurityGroups", "networkSecurityGroupName", ()),
    "SecurityRule": ("networkSecurityGroups/{networkSecurityGroupName}/securityRules", "securityRuleName", ()),
    "VirtualNetwork": ("virtualNetworks", "virtualNetworkName", ()),
    "Subnet": ("virtualNetworks/{virtualNetworkName}/subnets", "subnetName", ()),
    "NetworkInterface": ("networkInterfaces", "networkInterfaceName", ()),
    "VirtualMachine": ("virtualMachines", "vmName", ()),
    "Disk": ("disks", "diskName", ()),
    "AvailabilitySet": ("availabilitySets", "availabilitySetName", ()),
    "ProximityPlacementGroup": ("proximityPlacementGroups", "proximityPlacementGroupName", ()),
    "SshPublicKey": ("sshPublicKeys", "sshPublicKeyName", ()),
    "NatGateway": ("natGateways", "natGatewayName", ()),
    "RouteTable": ("routeTables", "routeTableName", ()),
}


def _azure_name(ctx: FakeContext) -> str:
    tname = _type_name(ctx.type)
    spec = _AZURE_TYPES.get(tname)
    keys = [spec[1]] if spec else []
    keys.append(_lower_first(tname) + "Name")
    for k in keys:
        if ctx.inputs.get(k):
            return ctx.inputs[k]
    want = (_lower_first(tname) + "Name").lower()
    for k, v in ctx.inputs.items():
        if k.lower() == want and isinstance(v, str):
            return v
    return f"{ctx.name}{ctx.hex(8, 'autoname')}"


def _azure_id(ctx: FakeContext, name: str) -> str:
    sub = ctx.env.azure_subscription
    tname = _type_name(ctx.type)
    if ctx.type == "azure-native:resources:ResourceGroup":
        return f"/subscriptions/{sub}/resourceGroups/{name}"
    rg = ctx.get("resourceGroupName", "rg")
    ns = _AZURE_NAMESPACE.get(_mod(ctx.type), "Microsoft." + _mod(ctx.type).capitalize())
    spec = _AZURE_TYPES.get(tname)
    coll = spec[0] if spec else _lower_first(tname) + "s"
    coll = re.sub(r"\{(\w+)\}", lambda m: str(ctx.get(m.group(1), m.group(1))), coll)
    return f"/subscriptions/{sub}/resourceGroups/{rg}/providers/{ns}/{coll}/{name}"


def _gcp_name(ctx: FakeContext) -> str:
    return ctx.get("name") or ctx.autoname()


def _gcp_id(ctx: FakeContext) -> str:
    scope, coll = _GCP_COLLECTIONS.get(ctx.type, ("global", _lower_first(_type_name(ctx.type)) + "s"))
    project = ctx.get("project", ctx.env.gcp_project)
    name = _gcp_name(ctx)
    if scope == "region":
        return f"projects/{project}/regions/{ctx.get('region', ctx.env.gcp_region)}/{coll}/{name}"
    if scope == "zone":
        return f"projects/{project}/zones/{ctx.get('zone', ctx.env.zone)}/{coll}/{name}"
    return f"projects/{project}/global/{coll}/{name}"


def fake_id(ctx: FakeContext) -> str:
    """The physical id a provider would assign (the caller makes it unknown during preview)."""
    pkg = _pkg(ctx.type)
    if ctx.type in ("aws:ec2/keyPair:KeyPair",):
        return ctx.get("keyName") or ctx.autoname("-", 7)
    if pkg == "aws":
        return _AWS_ID_PREFIX.get(ctx.type, "") + ctx.hex(17)
    if pkg == "gcp":
        return _gcp_id(ctx)
    if pkg == "azure-native":
        return _azure_id(ctx, _azure_name(ctx))
    if ctx.type in (
        "docker:index/service:Service",
        "docker:index/secret:Secret",
        "docker:index/serviceConfig:ServiceConfig",
    ):
        return _swarm_id(ctx)
    if ctx.type == "docker:index/remoteImage:RemoteImage":
        return f"sha256:{ctx.hex(64, 'image')}{ctx.get('name', '')}"
    if ctx.type == "docker:index/volume:Volume":
        return ctx.get("name") or ctx.hex(64)
    if pkg == "docker":
        return ctx.hex(64)
    if pkg == "random":
        return "none"
    if pkg == "tls":
        return ctx.hex(40)
    return f"{ctx.name}-{ctx.hex(8)}"


def _swarm_id(ctx: FakeContext) -> str:
    alphabet = "0123456789abcdefghijklmnopqrstuvwxyz"
    n = int(ctx.hex(40, "swarm"), 16)
    out = ""
    for _ in range(25):
        n, r = divmod(n, 36)
        out += alphabet[r]
    return out


# ---------------------------------------------------------------------------------------------
# AWS
# ---------------------------------------------------------------------------------------------


def _aws_arn(ctx: FakeContext, id_: str) -> str:
    service = _mod(ctx.type).split("/")[0] or "ec2"
    kind = re.sub(r"(?<!^)(?=[A-Z])", "-", _type_name(ctx.type)).lower()
    return f"arn:aws:{service}:{ctx.get('region', ctx.env.aws_region)}:{ctx.env.aws_account}:{kind}/{id_}"


def _aws_generic(ctx: FakeContext) -> dict:
    return {"arn": ctx.computed(_aws_arn(ctx, fake_id(ctx))), "ownerId": ctx.computed(ctx.env.aws_account)}


def _dashed(ip: str) -> str:
    return ip.replace(".", "-")


@fake("aws:ec2/instance:Instance")
def _aws_instance(ctx: FakeContext) -> dict:
    region = ctx.get("region", ctx.env.aws_region)
    private_ip = ctx.get("privateIp") or ctx.ip("private", "privateIp")
    out = {
        **_aws_generic(ctx),
        "privateIp": ctx.computed(private_ip) if "privateIp" not in ctx.inputs else private_ip,
        "privateDns": ctx.computed(f"ip-{_dashed(private_ip)}.{region}.compute.internal"),
        "availabilityZone": ctx.get("availabilityZone") or ctx.computed(f"{region}a"),
        "primaryNetworkInterfaceId": ctx.computed("eni-" + ctx.hex(17, "eni")),
        "instanceState": ctx.computed("running"),
    }
    if ctx.inputs.get("associatePublicIpAddress") is not False:
        public_ip = ctx.ip("aws-public", "publicIp")
        out["publicIp"] = ctx.computed(public_ip)
        out["publicDns"] = ctx.computed(f"ec2-{_dashed(public_ip)}.{region}.compute.amazonaws.com")
    else:
        out["publicIp"] = ctx.computed("")
        out["publicDns"] = ctx.computed("")
    return out


@fake("aws:ec2/eip:Eip")
def _aws_eip(ctx: FakeContext) -> dict:
    region = ctx.get("region", ctx.env.aws_region)
    ip = ctx.ip("aws-public", "publicIp")
    return {
        **_aws_generic(ctx),
        "publicIp": ctx.computed(ip),
        "allocationId": ctx.computed(fake_id(ctx)),
        "publicDns": ctx.computed(f"ec2-{_dashed(ip)}.{region}.compute.amazonaws.com"),
        "domain": ctx.get("domain", "vpc"),
    }


@fake("aws:ec2/vpc:Vpc")
def _aws_vpc(ctx: FakeContext) -> dict:
    return {
        **_aws_generic(ctx),
        "defaultSecurityGroupId": ctx.computed("sg-" + ctx.hex(17, "dsg")),
        "mainRouteTableId": ctx.computed("rtb-" + ctx.hex(17, "mrt")),
        "defaultRouteTableId": ctx.computed("rtb-" + ctx.hex(17, "mrt")),
        "defaultNetworkAclId": ctx.computed("acl-" + ctx.hex(17, "acl")),
    }


@fake("aws:ec2/subnet:Subnet")
def _aws_subnet(ctx: FakeContext) -> dict:
    region = ctx.get("region", ctx.env.aws_region)
    az = ctx.get("availabilityZone")
    return {
        **_aws_generic(ctx),
        "availabilityZone": az or ctx.computed(f"{region}a"),
        "availabilityZoneId": ctx.computed("euc1-az" + str(1 + "abc".find((az or "a")[-1]) % 3)),
    }


@fake("aws:ec2/securityGroup:SecurityGroup")
def _aws_sg(ctx: FakeContext) -> dict:
    name = ctx.get("name") or (ctx.get("namePrefix") + ctx.hex(26) if ctx.get("namePrefix") else ctx.autoname())
    return {**_aws_generic(ctx), "name": name}


@fake("aws:ec2/keyPair:KeyPair")
def _aws_keypair(ctx: FakeContext) -> dict:
    return {
        **_aws_generic(ctx),
        "keyName": ctx.get("keyName") or ctx.autoname(),
        "keyPairId": ctx.computed("key-" + ctx.hex(17)),
        "fingerprint": ctx.computed(":".join(ctx.hex(32, "fp")[i : i + 2] for i in range(0, 32, 2))),
    }


@fake("aws:ec2/networkInterface:NetworkInterface")
def _aws_eni(ctx: FakeContext) -> dict:
    ip = ctx.get("privateIp") or ctx.ip("private", "privateIp")
    return {
        **_aws_generic(ctx),
        "privateIp": ip if ctx.get("privateIp") else ctx.computed(ip),
        "macAddress": ctx.computed("02:" + ":".join(ctx.hex(10, "mac")[i : i + 2] for i in range(0, 10, 2))),
    }


for _t in (
    "aws:ec2/internetGateway:InternetGateway",
    "aws:ec2/routeTable:RouteTable",
    "aws:ebs/volume:Volume",
    "aws:ec2/natGateway:NatGateway",
    "aws:ec2/placementGroup:PlacementGroup",
    "aws:ec2/launchTemplate:LaunchTemplate",
    "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule",
    "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule",
):
    FAKES[_t] = _aws_generic


# ---------------------------------------------------------------------------------------------
# GCP
# ---------------------------------------------------------------------------------------------


def _gcp_generic(ctx: FakeContext) -> dict:
    id_ = _gcp_id(ctx)
    out = {"selfLink": ctx.computed(f"https://www.googleapis.com/compute/v1/{id_}")}
    if ctx.type.startswith("gcp:compute/"):
        out["name"] = _gcp_name(ctx)  # auto-name is known in preview
        out["project"] = ctx.get("project", ctx.env.gcp_project)
    return out


for _t in _GCP_COLLECTIONS:
    FAKES[_t] = _gcp_generic


@fake("gcp:compute/address:Address", "gcp:compute/globalAddress:GlobalAddress")
def _gcp_address(ctx: FakeContext) -> dict:
    out = _gcp_generic(ctx)
    if ctx.get("address"):
        out["address"] = ctx.get("address")
    elif ctx.get("addressType") == "INTERNAL":
        out["address"] = ctx.computed(ctx.ip("private", "address"))
    else:
        out["address"] = ctx.computed(ctx.ip("gcp-public", "address"))
    return out


@fake("gcp:compute/instance:Instance")
def _gcp_instance(ctx: FakeContext) -> dict:
    out = _gcp_generic(ctx)
    nics = []
    for i, nic in enumerate(ctx.get("networkInterfaces", []) or []):
        nic = dict(nic)
        nic.setdefault("name", f"nic{i}")
        if not nic.get("networkIp"):
            nic["networkIp"] = ctx.computed(ctx.ip("private", f"nic{i}"))
        acs = []
        for j, ac in enumerate(nic.get("accessConfigs", []) or []):
            ac = dict(ac)
            if not ac.get("natIp"):
                ac["natIp"] = ctx.computed(ctx.ip("gcp-public", f"nic{i}.ac{j}"))
            acs.append(ac)
        if "accessConfigs" in nic:
            nic["accessConfigs"] = acs
        nics.append(nic)
    if nics:
        out["networkInterfaces"] = nics
    out["instanceId"] = ctx.computed(str(int(ctx.hex(15, "iid"), 16)))
    out["currentStatus"] = ctx.computed("RUNNING")
    out["zone"] = ctx.get("zone", ctx.env.zone)
    return out


# ---------------------------------------------------------------------------------------------
# Azure (azure-native)
# ---------------------------------------------------------------------------------------------


def _azure_generic(ctx: FakeContext) -> dict:
    name = _azure_name(ctx)
    tname = _type_name(ctx.type)
    spec = _AZURE_TYPES.get(tname)
    ns = _AZURE_NAMESPACE.get(_mod(ctx.type), "Microsoft." + _mod(ctx.type).capitalize())
    coll = (spec[0] if spec else _lower_first(tname) + "s").split("/")[-1]
    out = {
        "name": name,
        "type": f"{ns}/{coll}"
        if ctx.type != "azure-native:resources:ResourceGroup"
        else "Microsoft.Resources/resourceGroups",
        "provisioningState": ctx.computed("Succeeded"),
        "etag": ctx.computed('W/"' + str(uuid.UUID(ctx.hex(32, "etag"))) + '"'),
        "azureApiVersion": ctx.computed("2024-05-01"),
    }
    if "location" in ctx.inputs or ctx.type in ("azure-native:resources:ResourceGroup",):
        out["location"] = ctx.get("location", ctx.env.azure_location)
    return out


@fake("azure-native:network:PublicIPAddress")
def _az_pip(ctx: FakeContext) -> dict:
    out = _azure_generic(ctx)
    out["ipAddress"] = ctx.get("ipAddress") or ctx.computed(ctx.ip("azure-public", "ipAddress"))
    return out


def _az_children(ctx: FakeContext, out: dict, key: str, collection: str) -> None:
    parent_id = _azure_id(ctx, out["name"])
    kids = []
    for i, kid in enumerate(ctx.get(key, []) or []):
        kid = dict(kid)
        if not kid.get("id"):
            kid["id"] = ctx.computed(f"{parent_id}/{collection}/{kid.get('name') or i}")
        kids.append(kid)
    if kids:
        out[key] = kids


@fake("azure-native:network:VirtualNetwork")
def _az_vnet(ctx: FakeContext) -> dict:
    out = _azure_generic(ctx)
    _az_children(ctx, out, "subnets", "subnets")
    return out


@fake("azure-native:network:NetworkSecurityGroup")
def _az_nsg(ctx: FakeContext) -> dict:
    out = _azure_generic(ctx)
    _az_children(ctx, out, "securityRules", "securityRules")
    return out


@fake("azure-native:network:NetworkInterface")
def _az_nic(ctx: FakeContext) -> dict:
    out = _azure_generic(ctx)
    cfgs = []
    for i, c in enumerate(ctx.get("ipConfigurations", []) or []):
        c = dict(c)
        if not c.get("privateIPAddress"):
            c["privateIPAddress"] = ctx.computed(ctx.ip("private", f"ipcfg{i}"))
        cfgs.append(c)
    if cfgs:
        out["ipConfigurations"] = cfgs
    out["macAddress"] = ctx.computed(
        "00-0D-3A-" + "-".join(ctx.hex(6, "mac")[i : i + 2].upper() for i in range(0, 6, 2))
    )
    return out


@fake("azure-native:compute:VirtualMachine")
def _az_vm(ctx: FakeContext) -> dict:
    out = _azure_generic(ctx)
    out["vmId"] = ctx.computed(str(uuid.UUID(ctx.hex(32, "vmid"))))
    return out


# ---------------------------------------------------------------------------------------------
# TLS: real keys (cheap for ED25519/ECDSA, one cached RSA key per size), armored fake certs
# ---------------------------------------------------------------------------------------------

_RSA_CACHE: dict[int, Any] = {}
_RSA_LOCK = threading.Lock()


def _tls_key(ctx: FakeContext):
    from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

    algorithm = str(ctx.get("algorithm", "RSA")).upper()
    seed = hashlib.sha256(ctx.seed("tls-key").encode()).digest()
    if algorithm == "ED25519":
        return ed25519.Ed25519PrivateKey.from_private_bytes(seed)
    if algorithm == "ECDSA":
        curve = {"P224": ec.SECP224R1, "P256": ec.SECP256R1, "P384": ec.SECP384R1, "P521": ec.SECP521R1}[
            str(ctx.get("ecdsaCurve", "P224")).upper()
        ]()
        secret = int.from_bytes(hashlib.sha512(seed).digest(), "big") % (2**200) + 1
        return ec.derive_private_key(secret, curve)
    bits = int(ctx.get("rsaBits", 2048))
    with _RSA_LOCK:
        if bits not in _RSA_CACHE:
            _RSA_CACHE[bits] = rsa.generate_private_key(public_exponent=65537, key_size=bits)
        return _RSA_CACHE[bits]


@fake("tls:index/privateKey:PrivateKey")
def _tls_private_key(ctx: FakeContext) -> dict:
    if ctx.preview:
        return {
            k: UNKNOWN
            for k in (
                "privateKeyPem",
                "privateKeyPemPkcs8",
                "privateKeyOpenssh",
                "publicKeyPem",
                "publicKeyOpenssh",
                "publicKeyFingerprintMd5",
                "publicKeyFingerprintSha256",
            )
        }
    from cryptography.hazmat.primitives import serialization as s

    key = _tls_key(ctx)
    pub = key.public_key()
    algorithm = str(ctx.get("algorithm", "RSA")).upper()
    trad = s.PrivateFormat.TraditionalOpenSSL if algorithm != "ED25519" else s.PrivateFormat.PKCS8
    openssh_pub = pub.public_bytes(s.Encoding.OpenSSH, s.PublicFormat.OpenSSH)
    blob = base64.b64decode(openssh_pub.split()[1])
    out = {
        "privateKeyPem": key.private_bytes(s.Encoding.PEM, trad, s.NoEncryption()).decode(),
        "privateKeyPemPkcs8": key.private_bytes(s.Encoding.PEM, s.PrivateFormat.PKCS8, s.NoEncryption()).decode(),
        "publicKeyPem": pub.public_bytes(s.Encoding.PEM, s.PublicFormat.SubjectPublicKeyInfo).decode(),
        "publicKeyOpenssh": openssh_pub.decode() + "\n",
        "publicKeyFingerprintMd5": ":".join(f"{b:02x}" for b in hashlib.md5(blob).digest()),
        "publicKeyFingerprintSha256": "SHA256:" + base64.b64encode(hashlib.sha256(blob).digest()).decode().rstrip("="),
    }
    try:
        out["privateKeyOpenssh"] = key.private_bytes(s.Encoding.PEM, s.PrivateFormat.OpenSSH, s.NoEncryption()).decode()
    except ValueError:  # e.g. P224 has no OpenSSH encoding; the tls provider returns "" then
        out["privateKeyOpenssh"] = ""
    if algorithm == "ECDSA" and str(ctx.get("ecdsaCurve", "P224")).upper() == "P224":
        out["publicKeyOpenssh"] = ""
    return out


def _validity(ctx: FakeContext) -> dict:
    import datetime as dt

    start = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)
    end = start + dt.timedelta(hours=int(ctx.get("validityPeriodHours", 24)))
    return {
        "validityStartTime": ctx.computed(start.strftime("%Y-%m-%dT%H:%M:%SZ")),
        "validityEndTime": ctx.computed(end.strftime("%Y-%m-%dT%H:%M:%SZ")),
        "readyForRenewal": ctx.computed(False),
    }


@fake("tls:index/selfSignedCert:SelfSignedCert", "tls:index/locallySignedCert:LocallySignedCert")
def _tls_cert(ctx: FakeContext) -> dict:
    return {"certPem": ctx.computed(fake_pem("CERTIFICATE", ctx.seed("cert"), 600)), **_validity(ctx)}


@fake("tls:index/certRequest:CertRequest")
def _tls_csr(ctx: FakeContext) -> dict:
    return {"certRequestPem": ctx.computed(fake_pem("CERTIFICATE REQUEST", ctx.seed("csr"), 400))}


# ---------------------------------------------------------------------------------------------
# random
# ---------------------------------------------------------------------------------------------


def _random_string(ctx: FakeContext) -> str:
    length = int(ctx.get("length", 16))
    chars = ""
    if ctx.get("lower", True):
        chars += "abcdefghijklmnopqrstuvwxyz"
    if ctx.get("upper", True):
        chars += "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
    if ctx.get("numeric", ctx.get("number", True)):
        chars += "0123456789"
    if ctx.get("special", True):
        chars += ctx.get("overrideSpecial", "!@#$%&*()-_=+[]{}<>:?")
    chars = chars or "abcdefghijklmnopqrstuvwxyz"
    raw = bytes.fromhex(ctx.hex(2 * length, "random"))
    return "".join(chars[b % len(chars)] for b in raw)


@fake("random:index/randomPassword:RandomPassword")
def _random_password(ctx: FakeContext) -> dict:
    return {"result": ctx.computed(_random_string(ctx)), "bcryptHash": ctx.computed("$2a$10$" + ctx.hex(53, "bcrypt"))}


@fake("random:index/randomString:RandomString")
def _random_str(ctx: FakeContext) -> dict:
    return {"result": ctx.computed(_random_string(ctx))}


@fake("random:index/randomId:RandomId")
def _random_id(ctx: FakeContext) -> dict:
    raw = bytes.fromhex(ctx.hex(2 * int(ctx.get("byteLength", 8)), "rid"))
    prefix = ctx.get("prefix", "")
    return {
        "hex": ctx.computed(prefix + raw.hex()),
        "b64Std": ctx.computed(prefix + base64.b64encode(raw).decode()),
        "b64Url": ctx.computed(prefix + base64.urlsafe_b64encode(raw).decode().rstrip("=")),
        "dec": ctx.computed(prefix + str(int.from_bytes(raw, "big"))),
    }


@fake("random:index/randomUuid:RandomUuid")
def _random_uuid(ctx: FakeContext) -> dict:
    return {"result": ctx.computed(str(uuid.UUID(ctx.hex(32, "uuid"))))}


@fake("random:index/randomInteger:RandomInteger")
def _random_int(ctx: FakeContext) -> dict:
    lo, hi = int(ctx.get("min", 0)), int(ctx.get("max", 0))
    return {"result": ctx.computed(lo + int(ctx.hex(8), 16) % max(1, hi - lo + 1))}


# ---------------------------------------------------------------------------------------------
# command
# ---------------------------------------------------------------------------------------------


@fake("command:remote:Command", "command:local:Command")
def _command(ctx: FakeContext) -> dict:
    create, stdin = ctx.get("create", ""), ctx.get("stdin", "")
    if isinstance(create, str) and "HIVE_RUN=" in create and isinstance(stdin, str):
        # the program's image-digest.sh (components/swarm/image_digest.py): the tags follow the script on stdin,
        # after its last line; one line `<tag> sha256:…` per tag
        tags = stdin.partition('main "$@"; exit $?\n')[2].split()
        lines = "".join(f"{tag} sha256:{ctx.hex(64, f'digest {tag}')}\n" for tag in tags)
        return {"stdout": ctx.computed(lines), "stderr": ctx.computed("")}
    return {"stdout": ctx.computed(""), "stderr": ctx.computed("")}


@fake("command:remote:CopyToRemote", "command:remote:CopyFile")
def _copy(ctx: FakeContext) -> dict:
    return {}


# ---------------------------------------------------------------------------------------------
# docker
# ---------------------------------------------------------------------------------------------


def _strip_tag(image: str) -> str:
    image = image.split("@", 1)[0]
    slash = image.rfind("/")
    colon = image.rfind(":")
    return image[:colon] if colon > slash else image


@fake("docker:index/remoteImage:RemoteImage")
def _docker_remote_image(ctx: FakeContext) -> dict:
    name = ctx.get("name", ctx.name)
    return {
        "repoDigest": ctx.computed(f"{_strip_tag(name)}@sha256:{ctx.hex(64, 'digest')}"),
        "imageId": ctx.computed(f"sha256:{ctx.hex(64, 'image')}"),
    }


@fake("docker:index/image:Image")
def _docker_image(ctx: FakeContext) -> dict:
    name = ctx.get("imageName", ctx.name)
    return {
        "repoDigest": ctx.computed(f"{_strip_tag(name)}@sha256:{ctx.hex(64, 'digest')}"),
        "imageName": name,
        "baseImageName": name,
        "platform": ctx.get("platform", "linux/amd64"),
    }


@fake("docker:index/registryImage:RegistryImage")
def _docker_registry_image(ctx: FakeContext) -> dict:
    return {"sha256Digest": ctx.computed(f"sha256:{ctx.hex(64, 'digest')}")}


@fake("docker:index/service:Service", "docker:index/secret:Secret", "docker:index/serviceConfig:ServiceConfig")
def _docker_named(ctx: FakeContext) -> dict:
    return {"name": ctx.get("name", ctx.name)}


@fake("docker:index/network:Network")
def _docker_network(ctx: FakeContext) -> dict:
    return {
        "name": ctx.get("name", ctx.name),
        "scope": ctx.get("scope") or ("swarm" if ctx.get("driver") == "overlay" else "local"),
        "driver": ctx.get("driver", "bridge"),
    }


@fake("docker:index/volume:Volume")
def _docker_volume(ctx: FakeContext) -> dict:
    name = ctx.get("name") or ctx.hex(64)
    return {
        "name": name if ctx.get("name") else ctx.computed(name),
        "driver": ctx.get("driver", "local"),
        "mountpoint": ctx.computed(f"/var/lib/docker/volumes/{name}/_data"),
    }


def fake_outputs(ctx: FakeContext) -> dict:
    """Fake provider-computed outputs for one resource (not including the echoed inputs)."""
    gen = FAKES.get(ctx.type)
    if gen is not None:
        return gen(ctx)
    pkg = _pkg(ctx.type)
    if pkg == "aws":
        return _aws_generic(ctx)
    if pkg == "gcp":
        return _gcp_generic(ctx)
    if pkg == "azure-native":
        return _azure_generic(ctx)
    return {}


# ---------------------------------------------------------------------------------------------
# invokes
# ---------------------------------------------------------------------------------------------


class UnknownInvokeError(Exception):
    pass


InvokeFn = Callable[[Mapping[str, Any], FakeEnv], dict]
INVOKES: dict[str, InvokeFn] = {}


def invoke(*tokens: str):
    def deco(fn: InvokeFn) -> InvokeFn:
        for t in tokens:
            INVOKES[t] = fn
        return fn

    return deco


def _h(*parts: Any, n: int = 17) -> str:
    return hashlib.sha256("|".join(map(str, parts)).encode()).hexdigest()[:n]


@invoke("aws:ec2/getAmi:getAmi")
def _get_ami(args, env) -> dict:
    region = args.get("region") or env.aws_region
    ami = "ami-" + _h("ami", region, sorted(map(str, args.get("owners") or [])), str(args.get("filters")))
    name = "debian-13-amd64-20250101-0000"
    return {
        "id": ami,
        "imageId": ami,
        "name": name,
        "architecture": "x86_64",
        "ownerId": "136693071363",
        "rootDeviceName": "/dev/xvda",
        "virtualizationType": "hvm",
        "mostRecent": bool(args.get("mostRecent")),
        "owners": list(args.get("owners") or []),
        "region": region,
    }


@invoke("aws:index/getAvailabilityZones:getAvailabilityZones")
def _get_azs(args, env) -> dict:
    region = args.get("region") or env.aws_region
    names = [f"{region}a", f"{region}b", f"{region}c"]
    return {
        "id": region,
        "names": names,
        "zoneIds": [f"{region[:2]}{region.split('-')[1][0]}1-az{i}" for i in (1, 2, 3)],
        "groupNames": [region] * 3,
        "region": region,
        "state": args.get("state"),
    }


@invoke("aws:index/getRegion:getRegion")
def _get_region(args, env) -> dict:
    r = args.get("region") or args.get("name") or env.aws_region
    return {"id": r, "name": r, "region": r, "description": r, "endpoint": f"ec2.{r}.amazonaws.com"}


@invoke("aws:index/getCallerIdentity:getCallerIdentity")
def _get_caller(args, env) -> dict:
    return {
        "id": env.aws_account,
        "accountId": env.aws_account,
        "arn": f"arn:aws:iam::{env.aws_account}:user/hive",
        "userId": "AIDA" + _h("uid", n=16).upper(),
    }


@invoke("gcp:compute/getImage:getImage")
def _get_image(args, env) -> dict:
    project = args.get("project") or "debian-cloud"
    family = args.get("family")
    name = args.get("name") or f"{family or 'debian-13'}-v20250101"
    return {
        "id": f"projects/{project}/global/images/{name}",
        "name": name,
        "family": family or "debian-13",
        "project": project,
        "selfLink": f"https://www.googleapis.com/compute/v1/projects/{project}/global/images/{name}",
        "status": "READY",
        "imageId": str(int(_h("img", project, name, n=15), 16)),
        "diskSizeGb": 10,
    }


@invoke("gcp:compute/getZones:getZones")
def _get_zones(args, env) -> dict:
    region = args.get("region") or env.gcp_region
    project = args.get("project") or env.gcp_project
    return {
        "id": f"projects/{project}/regions/{region}",
        "names": [f"{region}-{z}" for z in "abc"],
        "project": project,
        "region": region,
    }


def fake_invoke(token: str, args: Mapping[str, Any], env: FakeEnv) -> dict:
    fn = INVOKES.get(token)
    if fn is None:
        raise UnknownInvokeError(
            f"the test mocks have no answer for invoke {token!r} (args={dict(args)!r}); "
            f"add it to tests/harness/fake_values.py INVOKES or override BaseMocks.call"
        )
    return fn(args, env)
