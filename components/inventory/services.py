"""The service catalog: ``services/*.yml`` in hive-builder's ``hive_services`` format (reference §2).

Files are read in name order and services in file order; that order is the allocation order. Every service
attribute of the reference is accepted, type-checked and kept; one deliberate change: an image *build* is a
Docker build (``image: {from | context, ...}``), not Ansible roles.
"""

from __future__ import annotations

import json
import re
import shlex
from dataclasses import dataclass, field
from typing import Any

from components.inventory.schema import Node, present
from components.inventory.stage import STAGES
from components.inventory.units import duration_of, size_of

SERVICE_NAME = r"[a-z0-9][a-z0-9_.-]{0,62}"  # lower-case: a built image is named image_<service>
VOLUME_NAME = r"[a-zA-Z0-9][a-zA-Z0-9_.-]{0,62}"
NETWORK_NAME = r"[a-zA-Z0-9][a-zA-Z0-9_.-]{0,62}"
DEFAULT_NETWORK = "hive_default_network"
PROTOCOLS = ("tcp", "udp", "sctp")
PUBLISH_MODES = ("ingress", "host")
FSTYPES = ("xfs", "ext4")
REGISTRY_PORT = 5000
# Ports the hosts themselves listen on: a service publishing one takes it over (ingress publishes on every node)
# or cannot start (host mode). On AWS the security group opens 22 and 2376 to admin_cidrs only for the hosts.
HOST_PORTS = {
    22: "ssh",
    2376: "the docker API (TLS)",
    2377: "swarm management",
    7946: "swarm node gossip",
    4789: "the overlay network's VXLAN",
    REGISTRY_PORT: "the site registry on the repository server",
}
# A docker image reference (github.com/distribution/reference regexp.go): optional registry host[:port]/,
# lower-case path components, optional :tag, optional @digest. Only the registry host may hold upper case.
_DOMAIN = r"(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)(?:\.(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?))*(?::[0-9]+)?"
_PATH_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
IMAGE_REFERENCE = (
    rf"(?:{_DOMAIN}/)?{_PATH_COMPONENT}(?:/{_PATH_COMPONENT})*(?::[\w][\w.-]{{0,127}})?(?:@sha256:[0-9a-f]{{64}})?"
)
IMAGE_ALLOWED = "a docker image reference: lower-case [registry/]name[:tag][@sha256:digest], e.g. postgres:16"
# A placement constraint: <attribute> ==|!= <value> (docker service create --constraint; swarmkit
# manager/constraint/constraint.go: one operator, the attributes below or node.labels.<k> / engine.labels.<k>).
CONSTRAINT = re.compile(
    r"\s*(node\.(?:id|hostname|role|platform\.os|platform\.arch)|(?:node|engine)\.labels\.[A-Za-z0-9_.-]+)"
    r"\s*(==|!=)\s*([^=!\s][^=!]*?)\s*"
)
CONSTRAINT_ALLOWED = "<attribute> == <value> or <attribute> != <value>, e.g. node.labels.hives == true"
# swarmkit honours spread descriptors starting with node.labels. or engine.labels. only.
SPREAD = r"(?:node|engine)\.labels\.[A-Za-z0-9_.-]+"

FILE_KEYS = {"plugin", "services", "networks", "available_on"}
SERVICE_KEYS = {
    "available_on", "backup_scripts", "cap_add", "cap_drop", "command", "cpu_limit", "dns", "endpoint_mode",
    "entrypoint", "environment", "healthcheck", "hosts", "ignore_error", "image", "initialize", "initialize_roles",
    "labels",
    "logging", "mem_limit", "mode", "monitor_error", "networks", "placement", "ports", "replicas",
    "restart_config", "secrets", "standalone", "stop_grace_period", "sysctls", "user", "volumes", "working_dir",
}  # fmt: skip
# hive-builder keys that are refused with what to write instead (they cannot act here).
REFUSED_SERVICE_KEYS = {"initialize_roles"}
IMAGE_KEYS = {
    "from", "context", "dockerfile", "args", "target", "env", "entrypoint", "command", "user", "working_dir",
    "stop_signal", "expose", "privileged", "pull_on", "pull_from", "roles", "standalone",
}  # fmt: skip
# Image keys that shape the generated Dockerfile of a ``from`` build; a context build writes them in its own
# Dockerfile (nothing here would apply them to it).
GENERATED_DOCKERFILE_KEYS = ("env", "entrypoint", "command", "user", "working_dir", "stop_signal", "expose")
GENERATED_DOCKERFILE_INSTRUCTION = {
    "env": "ENV", "entrypoint": "ENTRYPOINT", "command": "CMD", "user": "USER", "working_dir": "WORKDIR",
    "stop_signal": "STOPSIGNAL", "expose": "EXPOSE",
}  # fmt: skip
# Service labels hive-builder's follow-swarm-service daemon acts on (reference §5). Nothing here acts on them:
# refused until implemented, each with what to do instead. Matched by prefix (HIVE_VIP0_V6, HIVE_ROUTER1, …).
_VIP_INSTEAD = (
    "publish the port instead (ports: with published_port, through the ingress on every hive, or mode: host "
    "with mode: global) and point clients or DNS at the hives' addresses"
)
REFUSED_LABELS: dict[str, tuple[str, str]] = {
    "HIVE_VIP": ("a virtual IP that follows the task is not supported yet", _VIP_INSTEAD),
    "HIVE_ROUTER": ("the router check of a virtual IP is not supported yet", _VIP_INSTEAD),
    "HIVE_DNAT_PORTS": ("DNAT from a virtual IP is not supported yet", _VIP_INSTEAD),
    "HIVE_ENABLE_VIP_SNAT": ("SNAT to a virtual IP is not supported yet", _VIP_INSTEAD),
    "HIVE_MARK": (
        "a node label that follows the task is not supported yet",
        "place this service and the services that follow it with the same fixed constraint, "
        "e.g. node.hostname == s-hive0, or run them as one service",
    ),
    "HIVE_STANDALONE": ("is set by hive itself from standalone", "standalone: true or false on the service"),
}

_SHORT_PORT = re.compile(r"(?:(\d+):)?(\d+)(?:/(\w+))?")
# A service config key: services:<key> in the stack's Pulumi config (components/inventory/service_config.py).
CONFIG_KEY = r"[A-Za-z][A-Za-z0-9_-]{0,62}"
SECRET_FILE = r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,62}"  # a file name under /run/secrets/
SECRETS_DIR = "/run/secrets"
ENV_NAME = r"[A-Za-z_][A-Za-z0-9_]*"


@dataclass(frozen=True)
class Port:
    """A published port. ``published`` None means "allocate one from 61001–65534"."""

    target: int
    protocol: str
    mode: str
    published: int | None

    def key(self, service: str) -> str:
        """hive-builder's published_port_map key: service name + target port, protocol ignored."""
        return f"{service}{self.target}"


@dataclass(frozen=True)
class ImageBuild:
    """``image:`` as a Docker build: a generated Dockerfile (``from``) or a context directory."""

    from_image: str | None
    context: str | None
    dockerfile: str | None
    args: dict[str, str]
    target: str | None
    env: dict[str, str]
    entrypoint: tuple[str, ...] | None
    command: tuple[str, ...] | None
    user: str | None
    working_dir: str | None
    stop_signal: str | None
    pull_on: tuple[str, ...]
    pull_from: str | None
    expose: tuple[str, ...] = ()  # EXPOSE entries: 80, 53/udp

    def generated_dockerfile(self) -> str | None:
        """The Dockerfile for a ``from`` build; None for a context build."""
        if self.from_image is None:
            return None
        lines = [f"FROM {self.from_image}"]
        lines += [f"ENV {k}={json.dumps(v)}" for k, v in sorted(self.env.items())]
        if self.user:
            lines.append(f"USER {self.user}")
        if self.working_dir:
            lines.append(f"WORKDIR {self.working_dir}")
        if self.stop_signal:
            lines.append(f"STOPSIGNAL {self.stop_signal}")
        if self.expose:
            lines.append("EXPOSE " + " ".join(self.expose))
        if self.entrypoint is not None:
            lines.append(f"ENTRYPOINT {json.dumps(list(self.entrypoint))}")
        if self.command is not None:
            lines.append(f"CMD {json.dumps(list(self.command))}")
        return "\n".join(lines) + "\n"


@dataclass(frozen=True)
class ServiceSecret:
    """One entry of a service's ``secrets:``: the secret config value ``services:<config>`` as the file
    ``/run/secrets/<target>`` in every task (a docker secret); ``env`` names a variable set to that path."""

    config: str
    target: str
    env: str | None = None
    uid: str = "0"
    gid: str = "0"
    mode: int = 0o400
    generate: int | None = None  # unset key: a random password of this length, kept in the state
    path: tuple[str | int, ...] = ()  # where it is written (for errors)

    @property
    def file(self) -> str:
        return f"{SECRETS_DIR}/{self.target}"


@dataclass(frozen=True)
class Drbd:
    fstype: str
    size: str
    size_bytes: int
    diskless: tuple[str, ...]
    device_id: int | None
    vgname: str
    available_on: tuple[str, ...]


@dataclass(frozen=True)
class Mount:
    """One entry of a service's ``volumes:``."""

    source: str | None
    target: str
    type: str  # volume | bind | tmpfs
    readonly: bool
    drbd: Drbd | None = None
    driver: str | None = None
    driver_opts: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Healthcheck:
    test: tuple[str, ...]
    interval: str | None
    timeout: str | None
    retries: int | None
    start_period: str | None


@dataclass(frozen=True)
class RestartConfig:
    condition: str | None
    delay: str | None
    max_attempts: int | None
    window: str | None


@dataclass(frozen=True)
class Placement:
    constraints: tuple[str, ...]
    preferences: tuple[str, ...]  # spread descriptors, e.g. node.labels.az
    max_replicas: int | None


@dataclass(frozen=True)
class Logging:
    driver: str
    options: dict[str, str]


@dataclass(frozen=True)
class Service:
    name: str
    file: str
    image: str | ImageBuild
    available_on: tuple[str, ...]
    ports: tuple[Port, ...] = ()
    volumes: tuple[Mount, ...] = ()
    command: tuple[str, ...] | None = None
    entrypoint: tuple[str, ...] | None = None
    environment: dict[str, str] = field(default_factory=dict)
    dns: tuple[str, ...] = ()
    endpoint_mode: str | None = None
    healthcheck: Healthcheck | None = None
    hosts: dict[str, str] = field(default_factory=dict)
    labels: dict[str, str] = field(default_factory=dict)
    logging: Logging | None = None
    mode: str = "replicated"
    replicas: int | None = None
    networks: tuple[str, ...] | None = None
    placement: Placement | None = None
    restart_config: RestartConfig | None = None
    stop_grace_period: str | None = None
    standalone: bool = False
    user: str | None = None
    working_dir: str | None = None
    cap_add: tuple[str, ...] = ()
    cap_drop: tuple[str, ...] = ()
    sysctls: dict[str, str] = field(default_factory=dict)
    cpu_limit: float | None = None
    mem_limit: int | None = None
    backup_scripts: tuple[dict[str, Any], ...] = ()
    initialize: Initialize | None = None
    monitor_error: tuple[str, ...] = ()
    ignore_error: tuple[str, ...] = ()
    secrets: tuple[ServiceSecret, ...] = ()

    def on_stage(self, stage: str) -> bool:
        return stage in self.available_on

    def builds_image(self, stage: str) -> bool:
        """True when the image is built here; False for a string image or a ``pull_on`` stage."""
        return isinstance(self.image, ImageBuild) and stage not in self.image.pull_on

    def image_reference(self, stage: str, repository_fqdn: str) -> str:
        """What the service runs before digest pinning: the external image, or the site registry tag."""
        if isinstance(self.image, str):
            return self.image
        if stage in self.image.pull_on:
            assert self.image.pull_from is not None
            return self.image.pull_from
        return registry_tag(repository_fqdn, self.name)


@dataclass(frozen=True)
class NetworkSpec:
    name: str
    file: str
    subnets: tuple[dict[str, str], ...]  # ipam config entries: subnet, gateway, ip_range
    ipam_driver: str | None
    ipam_options: dict[str, str]
    driver_opts: dict[str, str]
    attachable: bool
    internal: bool


@dataclass(frozen=True)
class Initialize:
    """``initialize``: run once inside the first running task after the service first converges (hive-builder's
    initialize-services), again only when its content changes. ``script`` is a path under services/."""

    command: str | None = None
    script: str | None = None
    file: str = ""  # where ``script`` was given (for the error when it does not exist)
    path: tuple[str | int, ...] = ()


@dataclass(frozen=True)
class Catalog:
    services: tuple[Service, ...]
    networks: tuple[NetworkSpec, ...]

    def for_stage(self, stage: str) -> Catalog:
        return Catalog(tuple(s for s in self.services if s.on_stage(stage)), self.networks)


def registry_tag(repository_fqdn: str, service: str) -> str:
    """The site registry's name for a built image: ``<repository host>:5000/image_<service>``."""
    return f"{repository_fqdn}:{REGISTRY_PORT}/image_{service}"


# -- parsing --------------------------------------------------------------------------------------------


def parse_catalog(documents: list[tuple[str, Any]]) -> Catalog:
    """Parse ``[(file name, loaded YAML)]`` (already in name order) into a catalog."""
    services: list[Service] = []
    networks: list[NetworkSpec] = []
    service_files: dict[str, str] = {}
    network_files: dict[str, str] = {}
    for file, document in documents:
        root = Node(document, file, ())
        top = root.mapping(FILE_KEYS, required=("plugin",))
        if top["plugin"].value != "hive_services":
            raise top["plugin"].bad("hive_services")
        file_stages = _stages(top["available_on"]) if present(top, "available_on") else STAGES
        for name, node in top.get("networks", root.at("networks", None)).mapping().items():
            _name(node, name, NETWORK_NAME)
            if name == DEFAULT_NETWORK:
                raise node.error(f"{name} is defined by hive itself", "another name")
            if name in network_files:
                raise node.error(f"network {name} is also defined in {network_files[name]}", "unique names")
            network_files[name] = file
            networks.append(_network(node, name))
        for name, node in top.get("services", root.at("services", None)).mapping().items():
            _name(node, name, SERVICE_NAME)
            if name in service_files:
                raise node.error(f"service {name} is also defined in {service_files[name]}", "unique names")
            service_files[name] = file
            services.append(_service(node, name, file_stages))
    known_networks = {DEFAULT_NETWORK, *network_files}
    for service in services:
        for index, net in enumerate(service.networks or ()):
            if net not in known_networks:
                node = Node(net, service.file, ("services", service.name, "networks", index))
                raise node.error(f"network {net} is not defined", "one of " + ", ".join(sorted(known_networks)))
    return Catalog(tuple(services), tuple(networks))


def _name(node: Node, name: str, pattern: str) -> None:
    if pattern == SERVICE_NAME and name.lower() != name and re.fullmatch(pattern, name.lower()):
        raise node.error(
            f"name {name!r} has upper-case letters", "service names are lower-case: images are named after them"
        )
    if not re.fullmatch(pattern, name):
        raise node.error(f"name {name!r} is invalid", "letters, digits, '_', '.', '-', at most 63 characters")
    if name.startswith("hive-"):
        raise node.error(f"name {name!r} is reserved", "names starting with 'hive-' belong to hive itself")


def _stages(node: Node) -> tuple[str, ...]:
    stages = tuple(item.choice(STAGES) for item in node.items())
    return stages


def _args(node: Node) -> tuple[str, ...]:
    """command/entrypoint: a list of strings, or one string split like a shell would."""
    if isinstance(node.value, str):
        try:
            return tuple(shlex.split(node.value))
        except ValueError as exc:
            raise node.error(f"cannot be split into arguments ({exc})", "a list of strings") from None
    return tuple(node.string_list())


def _environment(node: Node) -> dict[str, str]:
    if isinstance(node.value, list):
        env = {}
        for item in node.items():
            text = item.string(r"[A-Za-z_][A-Za-z0-9_]*=.*", "NAME=value")
            key, _, value = text.partition("=")
            env[key] = value
        return env
    return node.string_map()


def _service(node: Node, name: str, file_stages: tuple[str, ...]) -> Service:
    f = node.mapping(SERVICE_KEYS, required=("image",))
    opt: dict[str, Any] = {}
    if present(f, "command"):
        opt["command"] = _args(f["command"])
    if present(f, "entrypoint"):
        opt["entrypoint"] = _args(f["entrypoint"])
    if present(f, "environment"):
        opt["environment"] = _environment(f["environment"])
    if present(f, "dns"):
        opt["dns"] = (
            tuple(str(item.address()) for item in f["dns"].items())
            if isinstance(f["dns"].value, list)
            else (str(f["dns"].address()),)
        )
    if present(f, "endpoint_mode"):
        opt["endpoint_mode"] = f["endpoint_mode"].choice(("vip", "dnsrr"))
    if present(f, "healthcheck"):
        opt["healthcheck"] = _healthcheck(f["healthcheck"])
    if present(f, "hosts"):
        opt["hosts"] = {host: str(ip.address()) for host, ip in f["hosts"].mapping().items()}
    if present(f, "labels"):
        opt["labels"] = _labels(f["labels"])
    if present(f, "logging"):
        log = f["logging"].mapping({"driver", "options"}, required=("driver",))
        options = log["options"].string_map() if present(log, "options") else {}
        opt["logging"] = Logging(log["driver"].string(r"[a-z0-9_.-]+", "a docker logging driver name"), options)
    if present(f, "mode"):
        opt["mode"] = f["mode"].choice(("replicated", "global"))
    if present(f, "replicas"):
        if opt.get("mode") == "global":
            raise f["replicas"].error("is set for a global service", "replicas only with mode: replicated")
        opt["replicas"] = f["replicas"].integer(0, 1000)
    if present(f, "networks"):
        opt["networks"] = tuple(f["networks"].string_list(NETWORK_NAME, "a network name"))
    if present(f, "placement"):
        opt["placement"] = _placement(f["placement"])
    if present(f, "restart_config"):
        opt["restart_config"] = _restart(f["restart_config"])
    if present(f, "stop_grace_period"):
        opt["stop_grace_period"] = duration_of(f["stop_grace_period"])
    if present(f, "standalone"):
        opt["standalone"] = f["standalone"].boolean()
    for key in ("user", "working_dir"):
        if present(f, key):
            opt[key] = f[key].string()
    for key in ("cap_add", "cap_drop"):
        if present(f, key):
            opt[key] = tuple(f[key].string_list(r"[A-Z_]+|ALL", "capability names like NET_ADMIN"))
    if present(f, "sysctls"):
        opt["sysctls"] = f["sysctls"].string_map()
    if present(f, "secrets"):
        opt["secrets"] = _secrets(f["secrets"], opt.get("environment", {}))
    if present(f, "cpu_limit"):
        opt["cpu_limit"] = f["cpu_limit"].number()
    if present(f, "mem_limit"):
        opt["mem_limit"] = size_of(f["mem_limit"])
    if present(f, "backup_scripts"):
        opt["backup_scripts"] = _backup_scripts(f["backup_scripts"])
    if present(f, "initialize_roles"):
        raise f["initialize_roles"].error(
            "Ansible roles cannot run here",
            "initialize: {command: <shell command>} or initialize: {script: <file under services/>}, "
            "run once inside the service's first running task",
        )
    if present(f, "initialize"):
        opt["initialize"] = _initialize(f["initialize"])
    for key in ("monitor_error", "ignore_error"):
        if present(f, key):
            opt[key] = tuple(f[key].string_list())
    if present(f, "monitor_error") or present(f, "ignore_error"):
        for key in ("monitor_error", "ignore_error"):
            for index, pattern in enumerate(opt.get(key, ())):
                try:
                    re.compile(pattern)
                except re.error as exc:
                    raise f[key].at(index, pattern).error(f"is not a regular expression ({exc})") from None
    available_on = _stages(f["available_on"]) if present(f, "available_on") else file_stages
    return Service(
        name=name,
        file=node.file,
        image=_image(f["image"], name),
        available_on=available_on,
        ports=_ports(f["ports"], opt.get("endpoint_mode")) if "ports" in f else (),
        volumes=tuple(_mount(item) for item in f["volumes"].items()) if "volumes" in f else (),
        **opt,
    )


def _labels(node: Node) -> dict[str, str]:
    labels = node.string_map()
    for key in labels:
        refused = next((v for prefix, v in REFUSED_LABELS.items() if key.startswith(prefix)), None)
        if refused is not None:
            raise node.at(key, labels[key]).error(*refused)
    return labels


def _image(node: Node, service: str) -> str | ImageBuild:
    if isinstance(node.value, str):
        return image_reference(node)
    f = node.mapping(IMAGE_KEYS)
    if present(f, "from") == present(f, "context"):
        raise node.error("needs exactly one of 'from' (generated Dockerfile) and 'context' (a build directory)")
    if present(f, "roles"):
        raise f["roles"].error(
            "Ansible roles cannot run here",
            "image: {context: <directory under services/>} with a Dockerfile whose RUN steps do what the roles did",
        )
    if present(f, "standalone"):
        raise f["standalone"].error("is a service attribute here", "standalone: true on the service itself")
    if present(f, "privileged") and f["privileged"].boolean():
        # hive-builder ran its role build container privileged (build-images.yml docker_container privileged);
        # a Docker build has no such container, and a swarm service cannot run privileged: kreuzwerker
        # docker_service task_spec.container_spec.privileges holds only credential_spec and se_linux_context.
        raise f["privileged"].error(
            "swarm services cannot run privileged, and a Docker build needs no privileged container",
            "drop it; give the service the capabilities it needs, e.g. cap_add: [SYS_ADMIN, NET_ADMIN]",
        )
    if present(f, "from"):
        for key in ("dockerfile", "target", "args"):
            if present(f, key):
                raise f[key].error("only applies to a context build", "use 'context' with it, or drop it")
    else:
        for key in GENERATED_DOCKERFILE_KEYS:
            if present(f, key):
                raise f[key].error(
                    "only applies to the generated Dockerfile of a 'from' build",
                    f"write {GENERATED_DOCKERFILE_INSTRUCTION[key]} in the context's Dockerfile",
                )
    pull_on = _stages(f["pull_on"]) if present(f, "pull_on") else ()
    if present(f, "pull_from") and not pull_on:
        raise f["pull_from"].error("is set without pull_on", "list the stages that pull it in pull_on")
    if pull_on and not present(f, "pull_from"):
        raise f["pull_on"].error("is set without pull_from", "the image to pull on those stages")
    context = None
    if present(f, "context"):
        context = f["context"].string(r"[A-Za-z0-9_.][A-Za-z0-9_./-]*", "a directory relative to services/")
        if context.startswith("/") or ".." in context.split("/"):
            raise f["context"].bad("a directory inside services/")
    return ImageBuild(
        from_image=image_reference(f["from"]) if present(f, "from") else None,
        context=context,
        dockerfile=f["dockerfile"].string() if present(f, "dockerfile") else None,
        args=f["args"].string_map() if present(f, "args") else {},
        target=f["target"].string() if present(f, "target") else None,
        env=_environment(f["env"]) if present(f, "env") else {},
        entrypoint=_args(f["entrypoint"]) if present(f, "entrypoint") else None,
        command=_args(f["command"]) if present(f, "command") else None,
        user=f["user"].string() if present(f, "user") else None,
        working_dir=f["working_dir"].string() if present(f, "working_dir") else None,
        stop_signal=f["stop_signal"].string(r"SIG[A-Z0-9]+|\d+", "a signal like SIGTERM")
        if present(f, "stop_signal")
        else None,
        pull_on=pull_on,
        pull_from=image_reference(f["pull_from"]) if present(f, "pull_from") else None,
        expose=_expose(f["expose"]) if present(f, "expose") else (),
    )


def _expose(node: Node) -> tuple[str, ...]:
    """``expose``: one entry or a list (hive-builder push-image.yml: a string, or a list of EXPOSE values)."""
    allowed = "a port or port/protocol, e.g. 80 or 53/udp (a list for several)"
    entries = []
    for item in _listed(node) if not isinstance(node.value, int) else [node]:
        text = item.string(r"\d{1,5}(/(tcp|udp|sctp))?", allowed)
        if not 1 <= int(text.split("/")[0]) <= 65535:
            raise item.bad(allowed)
        entries.append(text)
    return tuple(entries)


def image_reference(node: Node) -> str:
    text = node.string()
    if not re.fullmatch(IMAGE_REFERENCE, text):
        if text.lower() != text and re.fullmatch(IMAGE_REFERENCE, text.lower()):
            raise node.error(f"{text} has upper-case letters", "docker image names are lower-case")
        raise node.bad(IMAGE_ALLOWED)
    return text


def _port(node: Node) -> Port:
    if isinstance(node.value, dict):
        # hive-builder's long syntax (published_port, target_port: docker_swarm_service's names) or the compose
        # file's (published, target): the same port either way.
        f = node.mapping({"published", "target", "published_port", "target_port", "protocol", "mode"})
        for short, long in (("published", "published_port"), ("target", "target_port")):
            if short in f and long in f:
                raise f[long].error(f"is set together with {short}", f"one of {short} and {long}")
        target = f.get("target_port") or f.get("target")
        if target is None or target.value is None:
            raise node.at("target_port", None).error("is required", "the port inside the container")
        published = f.get("published_port") or f.get("published")
        return Port(
            target=target.integer(1, 65535),
            protocol=f["protocol"].choice(PROTOCOLS) if present(f, "protocol") else "tcp",
            mode=f["mode"].choice(PUBLISH_MODES) if present(f, "mode") else "ingress",
            published=published.integer(1, 65535) if published is not None and published.value is not None else None,
        )
    text = node.string()
    match = _SHORT_PORT.fullmatch(text.strip())
    allowed = "'published:target[/protocol]' or 'target[/protocol]', protocol tcp, udp or sctp"
    if not match:
        raise node.bad(allowed)
    published, target, protocol = match.groups()
    protocol = protocol or "tcp"
    if protocol not in PROTOCOLS:
        raise node.bad(allowed)
    for value in (published, target):
        if value is not None and not 1 <= int(value) <= 65535:
            raise node.bad("port numbers 1..65535")
    return Port(int(target), protocol, "ingress", int(published) if published else None)


def _ports(node: Node, endpoint_mode: str | None) -> tuple[Port, ...]:
    """The ports of one service: none on a port the hosts use, none twice, no ingress port with dnsrr."""
    ports: list[Port] = []
    seen: dict[tuple[int, str], int] = {}
    for item in node.items():
        port = _port(item)
        if port.published in HOST_PORTS:
            raise item.error(
                f"publishes {port.published}, the hosts' {HOST_PORTS[port.published]} port",
                "another port; " + ", ".join(str(p) for p in sorted(HOST_PORTS)) + " belong to the hosts",
            )
        if port.published is not None:
            slot = (port.published, port.protocol)
            if slot in seen:
                raise item.error(
                    f"{port.published}/{port.protocol} is already published by ports[{seen[slot]}] of this service",
                    "each published port once",
                )
            seen[slot] = item.path[-1]  # type: ignore[assignment]
        if endpoint_mode == "dnsrr" and port.mode == "ingress":
            raise item.error(
                "is an ingress port, but endpoint_mode is dnsrr (swarm refuses: the ingress needs a virtual IP)",
                "mode: host for this port, or endpoint_mode: vip",
            )
        ports.append(port)
    return tuple(ports)


def _mount(node: Node) -> Mount:
    f = node.mapping(
        {"source", "target", "type", "readonly", "drbd", "driver", "driver_opts", "nfs"}, required=("target",)
    )
    if present(f, "nfs"):
        raise f["nfs"].error("NFS volumes are not supported", "drbd, driver/driver_opts, bind or tmpfs")
    target = f["target"].string(r"/.*", "an absolute path in the container")
    source = f["source"].string() if present(f, "source") else None
    definitions = [key for key in ("drbd", "driver") if present(f, key)]
    if len(definitions) > 1:
        raise f["driver"].error("is set together with drbd", "a volume is either drbd or driver/driver_opts")
    if present(f, "driver_opts") and not present(f, "driver"):
        raise f["driver_opts"].error("is set without driver", "driver_opts only with driver")
    if present(f, "type"):
        kind = f["type"].choice(("volume", "bind", "tmpfs"))
    elif source is not None and not source.startswith("/") and (source.startswith((".", "~")) or "/" in source):
        raise f["source"].error(
            f"{source} is a relative path: a bind mount needs an absolute host path",
            "an absolute path like /srv/data, or a volume name (letters, digits, '_', '.', '-')",
        )
    else:
        kind = "bind" if source is not None and source.startswith("/") else ("tmpfs" if source is None else "volume")
    if kind != "tmpfs" and source is None:
        raise f["source"].error("is required", f"the volume name or host path of this {kind} mount")
    if definitions and kind != "volume":
        raise f["type"].error(f"is {kind} but a {definitions[0]} volume is defined", "type: volume or omit type")
    if kind == "volume":
        _name(f["source"], source or "", VOLUME_NAME)
    if kind == "bind" and not (source or "").startswith("/"):
        raise f["source"].error(
            f"{source} is a relative path: a bind mount needs an absolute host path", "e.g. /srv/data"
        )
    return Mount(
        source=source,
        target=target,
        type=kind,
        readonly=f["readonly"].boolean() if present(f, "readonly") else False,
        drbd=_drbd(f["drbd"]) if present(f, "drbd") else None,
        driver=f["driver"].string() if present(f, "driver") else None,
        driver_opts=f["driver_opts"].string_map() if present(f, "driver_opts") else {},
    )


def _drbd(node: Node) -> Drbd:
    f = node.mapping({"fstype", "size", "diskless", "device_id", "vgname", "available_on"}, required=("size",))
    size_bytes = size_of(f["size"])
    if size_bytes < 16 << 20:
        raise f["size"].bad("at least 16M")
    return Drbd(
        fstype=f["fstype"].choice(FSTYPES) if present(f, "fstype") else "xfs",
        size=str(f["size"].value),
        size_bytes=size_bytes,
        diskless=tuple(f["diskless"].string_list()) if present(f, "diskless") else (),
        device_id=f["device_id"].integer(1, 255) if present(f, "device_id") else None,
        vgname=f["vgname"].string(r"[A-Za-z0-9_][A-Za-z0-9_.+-]*", "an LVM volume group name")
        if present(f, "vgname")
        else "drbdvg",
        available_on=_stages(f["available_on"]) if present(f, "available_on") else STAGES,
    )


def _healthcheck(node: Node) -> Healthcheck:
    f = node.mapping({"test", "interval", "timeout", "retries", "start_period", "disable"}, required=())
    if present(f, "disable") and f["disable"].boolean():
        return Healthcheck(("NONE",), None, None, None, None)
    if not present(f, "test"):
        raise f.get("test", node.at("test", None)).error("is required", "e.g. [CMD, curl, -f, http://localhost/]")
    test = f["test"]
    tests = ("CMD-SHELL", test.string()) if isinstance(test.value, str) else tuple(test.string_list())
    return Healthcheck(
        test=tests,
        interval=duration_of(f["interval"]) if present(f, "interval") else None,
        timeout=duration_of(f["timeout"]) if present(f, "timeout") else None,
        retries=f["retries"].integer(0, 100) if present(f, "retries") else None,
        start_period=duration_of(f["start_period"]) if present(f, "start_period") else None,
    )


def _restart(node: Node) -> RestartConfig:
    f = node.mapping({"condition", "delay", "max_attempts", "window"})
    return RestartConfig(
        condition=f["condition"].choice(("none", "on-failure", "any")) if present(f, "condition") else None,
        delay=duration_of(f["delay"]) if present(f, "delay") else None,
        max_attempts=f["max_attempts"].integer(0, 1000) if present(f, "max_attempts") else None,
        window=duration_of(f["window"]) if present(f, "window") else None,
    )


def _placement(node: Node) -> Placement:
    f = node.mapping({"constraints", "preferences", "max_replicas"})
    preferences = []
    for item in f["preferences"].items() if "preferences" in f else []:
        if isinstance(item.value, dict):
            spread = item.mapping({"spread"}, required=("spread",))["spread"].string()
        else:
            spread = item.string(r"(spread=)?\S+", "{spread: node.labels.az} or 'spread=node.labels.az'")
            spread = spread.removeprefix("spread=")
        if not re.fullmatch(SPREAD, spread):
            raise item.bad("a spread over node.labels.<label> or engine.labels.<label> (swarm ignores others)")
        preferences.append(spread)
    return Placement(
        constraints=tuple(_constraint(item) for item in _listed(f["constraints"])) if present(f, "constraints") else (),
        preferences=tuple(preferences),
        max_replicas=f["max_replicas"].integer(0, 1000) if present(f, "max_replicas") else None,
    )


def _listed(node: Node) -> list[Node]:
    """A list of nodes; a single string is a one-element list."""
    return [node] if isinstance(node.value, str) else node.items()


def _constraint(node: Node) -> str:
    text = node.string()
    if not CONSTRAINT.fullmatch(text):
        raise node.bad(CONSTRAINT_ALLOWED)
    return text


def _network(node: Node, name: str) -> NetworkSpec:
    f = node.mapping({"driver", "ipam", "driver_opts", "attachable", "internal"})
    if present(f, "driver") and f["driver"].value != "overlay":
        raise f["driver"].bad("overlay (hive networks are always overlay)")
    subnets: list[dict[str, str]] = []
    ipam_driver = None
    ipam_options: dict[str, str] = {}
    if present(f, "ipam"):
        ipam = f["ipam"].mapping({"driver", "config", "options"})
        ipam_driver = ipam["driver"].string() if present(ipam, "driver") else None
        ipam_options = ipam["options"].string_map() if present(ipam, "options") else {}
        for item in ipam["config"].items() if "config" in ipam else []:
            entry = item.mapping({"subnet", "gateway", "iprange", "ip_range"}, required=("subnet",))
            config = {"subnet": str(entry["subnet"].network())}
            if present(entry, "gateway"):
                config["gateway"] = str(entry["gateway"].address())
            for key in ("iprange", "ip_range"):
                if present(entry, key):
                    config["ip_range"] = str(entry[key].network())
            subnets.append(config)
    return NetworkSpec(
        name=name,
        file=node.file,
        subnets=tuple(subnets),
        ipam_driver=ipam_driver,
        ipam_options=ipam_options,
        driver_opts=f["driver_opts"].string_map() if present(f, "driver_opts") else {},
        attachable=f["attachable"].boolean() if present(f, "attachable") else True,
        internal=f["internal"].boolean() if present(f, "internal") else False,
    )


def _initialize(node: Node) -> Initialize:
    f = node.mapping({"command", "script"})
    if present(f, "command") == present(f, "script"):
        raise node.error("needs exactly one of command and script")
    if present(f, "command"):
        return Initialize(command=f["command"].string(r"(?s).*\S.*", "a shell command"))
    script = f["script"].string(r"(?!/)(?!.*(^|/)\.\.(/|$)).+", "a file under services/, e.g. pdnsdb/initialize.sh")
    return Initialize(script=script, file=node.file, path=(*node.path, "script"))


def _backup_scripts(node: Node) -> tuple[dict[str, Any], ...]:
    scripts: list[dict[str, Any]] = []
    for item in node.items():
        script = _backup_script(item)
        if any(s["name"] == script["name"] for s in scripts):
            raise item.error(f"name {script['name']!r} is used twice", "one name per backup (it names the files)")
        scripts.append(script)
    return tuple(scripts)


def _backup_script(node: Node) -> dict[str, Any]:
    keys = {
        "name", "directory", "backup_command", "backup_file", "restore_command", "restore_file", "ext",
        "cleanup_days_before", "batch_scripts",
    }  # fmt: skip
    f = node.mapping(keys, required=("name",))
    if present(f, "directory") == present(f, "backup_command"):
        raise node.error("needs exactly one of directory and backup_command")
    script: dict[str, Any] = {"name": f["name"].string(r"[A-Za-z0-9_.-]+", "a file-name-safe name")}
    if present(f, "directory"):
        for key in ("backup_file", "restore_command", "restore_file", "ext"):
            if present(f, key):
                raise f[key].error("is only for the backup_command form", "directory backups are .tar.gz archives")
        script["directory"] = f["directory"].string(r"/.*", "an absolute path inside the service's container")
    else:
        if not present(f, "backup_file"):
            raise node.error("backup_command needs backup_file", "the file the command writes inside the task")
        for key in ("backup_command", "restore_command"):
            if present(f, key):
                script[key] = f[key].string(r"(?s).*\S.*", "a shell command")
        for key in ("backup_file", "restore_file"):
            if present(f, key):
                script[key] = f[key].string(r"/.*", "an absolute path inside the service's container")
        if present(f, "restore_file") and not present(f, "restore_command"):
            raise f["restore_file"].error("is set without restore_command", "the command that reads it back")
        if present(f, "ext"):
            script["ext"] = f["ext"].string(r"[A-Za-z0-9]+(\.[A-Za-z0-9]+)*", "a file extension such as sql or tar.gz")
    if present(f, "cleanup_days_before"):
        script["cleanup_days_before"] = f["cleanup_days_before"].integer(0, 3650)
    if present(f, "batch_scripts"):
        script["batch_scripts"] = f["batch_scripts"].string_list()
    return script


def _secrets(node: Node, environment: dict[str, str]) -> tuple[ServiceSecret, ...]:
    """``secrets:`` — a config key, or ``{config, target, env, uid, gid, mode}``."""
    secrets: list[ServiceSecret] = []
    targets: dict[str, int] = {}
    for item in node.items():
        if isinstance(item.value, str):
            key = item.string(CONFIG_KEY, "a config key: letters, digits, '_', '-' (services:<key>)")
            secret = ServiceSecret(key, key, path=tuple(item.path))
        else:
            f = item.mapping({"config", "target", "env", "uid", "gid", "mode", "generate"}, required=("config",))
            key = f["config"].string(CONFIG_KEY, "a config key: letters, digits, '_', '-' (services:<key>)")
            target = (
                f["target"].string(SECRET_FILE, f"a file name under {SECRETS_DIR}/, e.g. db_password")
                if present(f, "target")
                else key
            )
            env = (
                f["env"].string(ENV_NAME, "an environment variable name, e.g. DB_PASSWORD_FILE")
                if present(f, "env")
                else None
            )
            if env is not None and env in environment:
                raise f["env"].error(f"{env} is also set in environment", "one value per variable")
            secret = ServiceSecret(
                key,
                target,
                env=env,
                uid=f["uid"].string(r"\d+", "a numeric user id") if present(f, "uid") else "0",
                gid=f["gid"].string(r"\d+", "a numeric group id") if present(f, "gid") else "0",
                mode=f["mode"].integer(0, 0o777) if present(f, "mode") else 0o400,
                generate=f["generate"].integer(16, 128) if present(f, "generate") else None,
                path=(*item.path, "config"),
            )
        if secret.target in targets:
            raise item.error(
                f"{SECRETS_DIR}/{secret.target} is also the file of secrets[{targets[secret.target]}]",
                "a different target per secret",
            )
        targets[secret.target] = item.path[-1]  # type: ignore[assignment]
        secrets.append(secret)
    return tuple(secrets)
