"""A service definition → the inputs of ``docker.Service`` (reference §2.2). Pure: no Pulumi resources.

:func:`service_inputs` returns the keyword arguments of ``docker.Service`` as plain nested dicts with the SDK's
Python (snake_case) names; the Pulumi SDK translates them as it translates its ``…Args`` classes. Values that
are only known while the program runs (the image digest, network ids, the allocated ports and DRBD minors,
the registry password) come in through :class:`ServiceRefs` and may be Outputs; with plain values the result
is plain, which is what the unit tests use.

hive-builder's mapping (``deploy-services.yml``): ``command`` → swarm *args*, ``entrypoint`` → swarm
*command*; ``hostname`` = the service name; ``hosts`` = every server (FQDN and short name) → private IP, the
service's own ``hosts`` win; the label ``HIVE_STANDALONE`` (``True``/``False``) always; the default logging is
the syslog driver to ``udp://<ip>:10514`` (facility local0, tag = service) — here the host's own log relay
at ``udp://127.0.0.1:10514`` (hostsetup/log-relay.sh; the collector itself on a repository that is a hive), which
forwards to the repository through a disk queue, so a task starts and keeps its lines while the repository is
down (the driver runs in dockerd, in the host's network namespace);
``standalone`` adds tmpfs on /run, /tmp and /sys/fs/cgroup, five capabilities and, without a command,
``sh -c "mount -t cgroup2 cgroup2 /sys/fs/cgroup && exec /sbin/init"``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from components.inventory.services import Healthcheck, Mount, RestartConfig, Service, ServiceSecret
from components.inventory.site import Site, Volume
from components.swarm.update_policy import rollback_config, update_config

SYSLOG_PORT = 10514
LOCAL_RELAY = "127.0.0.1"  # every server's log relay (the collector on the repository) listens there
STANDALONE_TMPFS = ("/run", "/tmp", "/sys/fs/cgroup")
STANDALONE_CAPS = ("NET_ADMIN", "SYS_ADMIN", "SYSLOG", "SYS_PTRACE", "AUDIT_CONTROL")
STANDALONE_COMMAND = ("sh", "-c", "mount -t cgroup2 cgroup2 /sys/fs/cgroup && exec /sbin/init")
DEFAULT_RESTART_DELAY = "5s"  # docker's own default
REGISTRY_USER = "hive"
_ZERO_DURATION = re.compile(r"(0+(\.0+)?(ns|us|µs|ms|s|m|h))+")


class Numbers(Protocol):
    """Allocated numbers: plain ints from a resolved Site in tests, Outputs in the program."""

    def published_port(self, service: str, index: int) -> Any: ...

    def drbd_device(self, volume: str) -> Any: ...


@dataclass(frozen=True)
class SiteNumbers:
    """:class:`Numbers` read from a plain (resolved) Site."""

    site: Site

    def published_port(self, service: str, index: int) -> int:
        svc = next(s for s in self.site.catalog.services if s.name == service)
        return self.site.published_port(svc, index)

    def drbd_device(self, volume: str) -> str:
        device = next(v for v in self.site.volumes if v.name == volume).device
        assert device is not None
        return device


@dataclass(frozen=True)
class RegistryAuth:
    server: str
    password: Any  # secret Input[str]
    username: str = REGISTRY_USER


@dataclass(frozen=True)
class ServiceRefs:
    """What a service's inputs refer to besides the site itself."""

    image: Any  # Input[str]: the pushed digest for a built image, else the image reference
    network_ids: Mapping[str, Any]  # network name → Input[str] id
    numbers: Numbers
    registry_auth: RegistryAuth | None = None  # set when the image comes from the site registry
    # target file name → (id, name) of the docker secret (Input[str] each), one per entry of ``secrets:``
    secrets: Mapping[str, tuple[Any, Any]] = field(default_factory=dict)


@dataclass(frozen=True)
class ServiceInputs:
    kwargs: dict[str, Any]
    ignore_changes: list[str] = field(default_factory=list)


def is_zero_duration(value: str | None) -> bool:
    return value is not None and (value == "0" or _ZERO_DURATION.fullmatch(value) is not None)


def default_logging(site: Site, service: Service) -> dict[str, Any]:
    return {
        "name": "syslog",
        "options": {
            "syslog-address": f"udp://{LOCAL_RELAY}:{SYSLOG_PORT}",
            "syslog-facility": "local0",
            "tag": service.name,
        },
    }


def host_entries(site: Site, service: Service) -> list[dict[str, str]]:
    """Every server by FQDN and short name, then the service's own ``hosts`` (which override)."""
    entries: dict[str, str] = {}
    for host in site.hosts:
        entries[host.fqdn] = host.private_ip
        entries[host.hostname] = host.private_ip
    entries.update(service.hosts)
    return [{"host": name, "ip": ip} for name, ip in entries.items()]


def service_networks(site: Site, service: Service) -> list[str]:
    """The networks a service joins: its own list, else every network of the site (default first)."""
    if service.networks is not None:
        return list(service.networks)
    return ["hive_default_network", *(n.name for n in site.catalog.networks)]


def _volumes_by_name(site: Site) -> dict[str, Volume]:
    return {v.name: v for v in site.volumes}


def mount_input(mount: Mount, volumes: Mapping[str, Volume], numbers: Numbers) -> dict[str, Any]:
    spec: dict[str, Any] = {"type": mount.type, "target": mount.target}
    if mount.source is not None and mount.type != "tmpfs":
        spec["source"] = mount.source
    if mount.readonly:
        spec["read_only"] = True
    if mount.type != "volume" or mount.source is None:
        return spec
    volume = volumes.get(mount.source)
    if volume is not None and volume.kind == "drbd":
        assert volume.drbd is not None
        # docker's local driver mounts the DRBD device on whichever hive runs the task; DRBD 9 auto-promote
        # makes that hive Primary on open and demotes it on close, so the task can move between hives.
        spec["volume_options"] = {
            "driver_name": "local",
            "driver_options": {"type": volume.drbd.fstype, "device": numbers.drbd_device(volume.name)},
        }
    elif volume is not None and volume.kind == "driver":
        assert volume.driver is not None
        options: dict[str, Any] = {"driver_name": volume.driver}
        if volume.driver_opts:
            options["driver_options"] = dict(volume.driver_opts)
        spec["volume_options"] = options
    return spec


def secret_reference(secret: ServiceSecret, refs: ServiceRefs) -> dict[str, Any]:
    """``task_spec.container_spec.secrets[]``: kreuzwerker resource_docker_service_structures.go (v4.5.0
    l. 929–949) sends ``file_name`` as ``SecretReference.File.Name``; docker puts a relative name under
    /run/secrets/ in the task, as ``docker service create --secret source=…,target=<name>`` does."""
    secret_id, secret_name = refs.secrets[secret.target]
    return {
        "secret_id": secret_id,
        "secret_name": secret_name,
        "file_name": secret.target,
        "file_uid": secret.uid,
        "file_gid": secret.gid,
        "file_mode": secret.mode,
    }


def _healthcheck(check: Healthcheck) -> dict[str, Any]:
    spec: dict[str, Any] = {"tests": list(check.test)}
    for key in ("interval", "timeout", "start_period"):
        value = getattr(check, key)
        if value is not None:
            spec[key] = value
    if check.retries is not None:
        spec["retries"] = check.retries
    return spec


def restart_policy(config: RestartConfig) -> tuple[dict[str, Any], list[str]]:
    """The restart policy and the paths whose provider read-back must be ignored.

    pulumi-docker #1285: a ``delay``/``window`` of "0s" (or one left out: docker reports "0s") differs from
    state on every preview. ``delay`` defaults to docker's 5s; a zero ``delay`` or ``window`` (zero window is
    docker's default: unbounded) is left out and its read-back ignored.
    """
    policy: dict[str, Any] = {"condition": config.condition or "any"}
    ignore: list[str] = []
    delay = config.delay if config.delay is not None else DEFAULT_RESTART_DELAY
    if is_zero_duration(delay):
        ignore.append("taskSpec.restartPolicy.delay")
    else:
        policy["delay"] = delay
    if config.max_attempts is not None:
        policy["max_attempts"] = config.max_attempts
    if config.window is None or is_zero_duration(config.window):
        ignore.append("taskSpec.restartPolicy.window")
    else:
        policy["window"] = config.window
    return policy, ignore


def _labels(values: Mapping[str, str]) -> list[dict[str, str]]:
    return [{"label": key, "value": values[key]} for key in sorted(values)]


def container_spec(site: Site, service: Service, refs: ServiceRefs) -> dict[str, Any]:
    spec: dict[str, Any] = {"image": refs.image, "hostname": service.name}
    args = service.command
    if args is None and service.standalone:
        args = STANDALONE_COMMAND
    if args is not None:
        spec["args"] = list(args)
    if service.entrypoint is not None:
        spec["commands"] = list(service.entrypoint)
    env = dict(service.environment)
    # a ``secrets:`` entry with ``env``: the variable holds the file's path, never the value
    env.update({secret.env: secret.file for secret in service.secrets if secret.env is not None})
    if env:
        spec["env"] = env
    if service.secrets:
        spec["secrets"] = [secret_reference(secret, refs) for secret in service.secrets]
    spec["hosts"] = host_entries(site, service)
    if service.dns:
        spec["dns_config"] = {"nameservers": list(service.dns)}
    if service.user is not None:
        spec["user"] = service.user
    if service.working_dir is not None:
        spec["dir"] = service.working_dir
    if service.stop_grace_period is not None:
        spec["stop_grace_period"] = service.stop_grace_period
    if service.healthcheck is not None:
        spec["healthcheck"] = _healthcheck(service.healthcheck)
    cap_add = list(service.cap_add)
    if service.standalone:
        cap_add += [cap for cap in STANDALONE_CAPS if cap not in cap_add]
    if cap_add:
        spec["cap_adds"] = cap_add
    if service.cap_drop:
        spec["cap_drops"] = list(service.cap_drop)
    if service.sysctls:
        spec["sysctl"] = dict(service.sysctls)
    volumes = _volumes_by_name(site)
    mounts = [mount_input(m, volumes, refs.numbers) for m in service.volumes]
    if service.standalone:
        taken = {m.target for m in service.volumes}
        mounts += [{"type": "tmpfs", "target": path} for path in STANDALONE_TMPFS if path not in taken]
    if mounts:
        spec["mounts"] = mounts
    return spec


def task_spec(site: Site, service: Service, refs: ServiceRefs) -> tuple[dict[str, Any], list[str]]:
    spec: dict[str, Any] = {"container_spec": container_spec(site, service, refs)}
    ignore: list[str] = []
    logging = service.logging
    spec["log_driver"] = (
        {"name": logging.driver, **({"options": dict(logging.options)} if logging.options else {})}
        if logging is not None
        else default_logging(site, service)
    )
    spec["networks_advanceds"] = [{"id": refs.network_ids[name]} for name in service_networks(site, service)]
    if service.placement is not None:
        placement: dict[str, Any] = {}
        if service.placement.constraints:
            placement["constraints"] = list(service.placement.constraints)
        if service.placement.preferences:
            # kreuzwerker stringSetToPlacementPrefs (resource_docker_service_structures.go) sends each string
            # verbatim as the SpreadDescriptor, and swarmkit honours only descriptors that start with
            # ``node.labels.``/``engine.labels.``: the descriptor itself, never ``spread=<descriptor>``.
            placement["prefs"] = list(service.placement.preferences)
        if service.placement.max_replicas is not None:
            placement["max_replicas"] = service.placement.max_replicas
        if placement:
            spec["placement"] = placement
    if service.restart_config is not None:
        spec["restart_policy"], ignore = restart_policy(service.restart_config)
    limits: dict[str, int] = {}
    if service.cpu_limit is not None:
        limits["nano_cpus"] = round(service.cpu_limit * 1_000_000_000)
    if service.mem_limit is not None:
        limits["memory_bytes"] = service.mem_limit
    if limits:
        spec["resources"] = {"limits": limits}
    return spec, ignore


def endpoint_spec(service: Service, numbers: Numbers) -> dict[str, Any] | None:
    spec: dict[str, Any] = {}
    if service.endpoint_mode is not None:
        spec["mode"] = service.endpoint_mode
    if service.ports:
        spec["ports"] = [
            {
                "target_port": port.target,
                "published_port": numbers.published_port(service.name, index),
                "protocol": port.protocol,
                "publish_mode": port.mode,
            }
            for index, port in enumerate(service.ports)
        ]
    return spec or None


def service_inputs(site: Site, service: Service, refs: ServiceRefs) -> ServiceInputs:
    """The keyword arguments of ``docker.Service`` for ``service`` (and the ``ignore_changes`` it needs)."""
    task, ignore = task_spec(site, service, refs)
    kwargs: dict[str, Any] = {"name": service.name, "task_spec": task}
    if service.mode == "global":
        kwargs["mode"] = {"global_": True}
    else:
        kwargs["mode"] = {"replicated": {"replicas": service.replicas if service.replicas is not None else 1}}
    endpoint = endpoint_spec(service, refs.numbers)
    if endpoint is not None:
        kwargs["endpoint_spec"] = endpoint
    kwargs["labels"] = _labels({"HIVE_STANDALONE": str(service.standalone), **service.labels})
    # a failed update rolls back to the last good spec (components/swarm/update_policy.py, issue 16)
    kwargs["update_config"] = update_config(site, service)
    kwargs["rollback_config"] = rollback_config(site, service)
    # No converge_config, on any service: the program's converge step proves every service converged
    # (components/swarm/component.py ``_converge``; docs/provider-notes.md "Update policy").
    if refs.registry_auth is not None:
        kwargs["auth"] = {
            "server_address": refs.registry_auth.server,
            "username": refs.registry_auth.username,
            "password": refs.registry_auth.password,
        }
    return ServiceInputs(kwargs, ignore)


def udp_ports(service: Service) -> list[int]:
    """Indexes of the service's UDP ports (their published numbers come from :class:`Numbers`)."""
    return [index for index, port in enumerate(service.ports) if port.protocol == "udp"]
