"""Apply the program's swarm-layer ``docker:*`` resources to the real hosts through the Docker Engine API.

The rehearsal's stand-in for pulumi-docker on the swarm (``docker:index/{network,image,service,volume}``): each
executor takes a resource's recorded inputs — camelCase, exactly what the engine hands the provider — and does
what the provider does, field by field, on the daemon of the provider the resource names. The provider is a
``pulumi:providers:docker`` with ``host`` ``tcp://<address>:<port>`` and PEM ``caMaterial``/``certMaterial``/
``keyMaterial`` (mutual TLS); :func:`client_for` turns its recorded inputs into a ``docker.DockerClient``.

Every input field is either mapped onto the Engine API or listed as lifecycle-only (it changes what Pulumi does,
not what is created: ``convergeConfig`` is the converge wait itself, ``buildOnPreview``); any other field raises
:class:`~tests.rehearsal.docker_apply.UnmappedField` — a field the translator does not know fails the rehearsal,
it is never dropped.

* ``Network`` — ``POST /networks/create`` (overlay, attachable, IPAM, options such as the MTU, labels).
* ``Image`` (pulumi-docker ≥ 4's own resource) — builds ``build.context`` (relative to the project directory) on
  the provider's daemon with ``build.dockerfile``, tags ``imageName``, pushes it with the ``registry`` auth and
  outputs ``repoDigest`` = ``<imageName without tag>@sha256:…`` as pulumi-docker reports it.
* ``Service`` — ``POST /services/create`` (or ``/services/{id}/update`` in place) with the full ServiceSpec and
  ``auth`` as the X-Registry-Auth header for the pull; then, with ``convergeConfig``, waits like
  kreuzwerker's ``waitOnService`` until every task is running (replicated: the replica count; global: every task
  the orchestrator made) and fails with the tasks' errors after ``convergeConfig.timeout``.
* ``Volume`` — ``POST /volumes/create`` on the provider's daemon.
* ``Secret`` — ``POST /secrets/create`` with the name, the decoded ``data`` and the labels; removed with
  ``DELETE /secrets/{id}``, which swarm refuses while a service uses the secret (as for the provider).
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import os
import re
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

import docker
import docker.errors
import docker.tls

from tests.rehearsal.docker_apply import UnmappedField, _check_fields, _labels
from tests.rehearsal.engine import parse_duration

PROVIDER = "pulumi:providers:docker"
NETWORK = "docker:index/network:Network"
IMAGE = "docker:index/image:Image"
SERVICE = "docker:index/service:Service"
VOLUME = "docker:index/volume:Volume"
SECRET = "docker:index/secret:Secret"
SWARM_TYPES = (NETWORK, IMAGE, SERVICE, VOLUME, SECRET)
SECRET_FIELDS = ("name", "data", "labels")
MIN_API = "1.41"  # only until the server's version is read
CLIENT_TIMEOUT = 1800  # a build of a Debian-package image takes minutes
CONVERGE_POLL = 1.0  # seconds between task checks (the provider polls every `delay`; this only waits less)
FAILED_TASK_STATES = ("failed", "rejected", "orphaned")
NETWORK_READ_DELAY = 2.0  # kreuzwerker resource_docker_network_funcs.go networkReadRefreshDelay


class ServiceDidNotConverge(RuntimeError):
    """A service's tasks did not all run within ``convergeConfig.timeout`` (the tasks' errors attached)."""


def _ns(where: str, duration: Any) -> int:
    seconds = parse_duration(str(duration))
    if seconds is None:
        raise UnmappedField(f"{where}: empty duration")
    return round(seconds * 1_000_000_000)


def _check(where: str, value: Any, known: Iterable[str]) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise UnmappedField(f"{where}: expected an object, got {type(value).__name__}")
    _check_fields(where, value, known)
    return value


# ---------------------------------------------------------------------------------------------------------------
# Providers


PROVIDER_FIELDS = ("host", "caMaterial", "certMaterial", "keyMaterial", "disableDockerDaemonCheck", "version")


class ProviderClients:
    """``docker.DockerClient`` per recorded provider (by its inputs); TLS material in a private temp dir."""

    def __init__(self) -> None:
        self._clients: dict[str, Any] = {}
        self._lock = threading.Lock()
        self._dir = Path(tempfile.mkdtemp(prefix="hive-swarm-tls-"))
        self._dir.chmod(0o700)

    def client_for(self, urn: str, inputs: Mapping[str, Any]) -> Any:
        _check_fields(f"{PROVIDER} {urn}", inputs, PROVIDER_FIELDS)
        host = inputs.get("host")
        if not host:
            raise UnmappedField(f"{PROVIDER} {urn}: no host (the swarm providers always name one)")
        key = hashlib.sha256(json.dumps(dict(inputs), sort_keys=True).encode()).hexdigest()[:16]
        with self._lock:
            if key in self._clients:
                return self._clients[key]
            tls = None
            if inputs.get("caMaterial") or inputs.get("certMaterial") or inputs.get("keyMaterial"):
                paths = {}
                for field_name, file_name in (("caMaterial", "ca"), ("certMaterial", "cert"), ("keyMaterial", "key")):
                    if not inputs.get(field_name):
                        raise UnmappedField(f"{PROVIDER} {urn}: {field_name} missing (mutual TLS needs all three)")
                    path = self._dir / f"{key}-{file_name}.pem"
                    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
                    with os.fdopen(fd, "w") as fh:
                        fh.write(inputs[field_name])
                    paths[file_name] = str(path)
                tls = docker.tls.TLSConfig(
                    client_cert=(paths["cert"], paths["key"]), ca_cert=paths["ca"], verify=paths["ca"]
                )
            client = docker.DockerClient(base_url=str(host), tls=tls, timeout=CLIENT_TIMEOUT, version=MIN_API)
            # requests lets REQUESTS_CA_BUNDLE/CURL_CA_BUNDLE override the session's CA: trust only the site's
            client.api.trust_env = False
            client.api._version = client.api._retrieve_server_version()  # version="auto", after the line above
            self._clients[key] = client
            return client

    def close(self) -> None:
        with self._lock:
            for client in self._clients.values():
                client.close()
            self._clients.clear()
        for path in self._dir.glob("*"):
            path.unlink()
        self._dir.rmdir()


def provider_address(inputs: Mapping[str, Any]) -> str | None:
    """``tcp://10.0.0.5:2376`` → ``10.0.0.5``."""
    host = str(inputs.get("host") or "")
    return host.split("://", 1)[-1].rsplit(":", 1)[0] or None


# ---------------------------------------------------------------------------------------------------------------
# Networks and volumes


NETWORK_FIELDS = (
    "name", "driver", "options", "ipamConfigs", "ipamDriver", "ipamOptions", "labels", "internal", "attachable",
    "ingress", "ipv6",
)  # fmt: skip


def network_create_body(name: str, inputs: Mapping[str, Any]) -> dict[str, Any]:
    """kreuzwerker ``resourceDockerNetworkCreate`` (resource_docker_network_funcs.go): ``network.CreateOptions``
    from the configured attributes (``ipam_driver`` defaults to ``default``, so IPAM is always sent)."""
    where = f"{NETWORK} {name}"
    _check_fields(where, inputs, NETWORK_FIELDS)
    pools = []
    for config in inputs.get("ipamConfigs") or []:
        _check(f"{where} ipamConfigs", config, ("subnet", "gateway", "ipRange", "auxAddress"))
        pool = {
            "Subnet": config.get("subnet"),
            "Gateway": config.get("gateway"),
            "IPRange": config.get("ipRange"),
            "AuxiliaryAddresses": config.get("auxAddress"),
        }
        pools.append({k: v for k, v in pool.items() if v})
    body: dict[str, Any] = {
        "Name": inputs.get("name") or name,
        "Driver": inputs.get("driver") or "bridge",
        "Internal": bool(inputs.get("internal", False)),
        "Attachable": bool(inputs.get("attachable", False)),
        "Ingress": bool(inputs.get("ingress", False)),
        "EnableIPv6": bool(inputs.get("ipv6", False)),
        "IPAM": {
            "Driver": inputs.get("ipamDriver") or "default",
            "Config": pools,
            "Options": inputs.get("ipamOptions"),
        },
        "Options": dict(inputs.get("options") or {}),
        "Labels": _labels(inputs.get("labels")),
    }
    return body


def network_state(attrs: Mapping[str, Any]) -> dict[str, Any]:
    """What kreuzwerker's ``resourceDockerNetworkReadRefreshFunc`` (resource_docker_network_funcs.go) puts into
    the state from ``NetworkInspect`` — every attribute, in the Pulumi names; ``options`` are the daemon's
    (a swarm manager adds ``com.docker.network.driver.overlay.vxlanid_list``), ``ipam_config`` from
    ``flattenIpamConfigSpec``."""
    ipam = attrs.get("IPAM") or {}
    configs = []
    for config in ipam.get("Config") or []:
        entry = {
            "subnet": config.get("Subnet", ""),
            "ipRange": config.get("IPRange", ""),
            "gateway": config.get("Gateway", ""),
            "auxAddress": config.get("AuxiliaryAddresses") or {},
        }
        configs.append({k: v for k, v in entry.items() if v})
    return {
        "name": attrs["Name"],
        "labels": [{"label": k, "value": v} for k, v in sorted((attrs.get("Labels") or {}).items())],
        "driver": attrs["Driver"],
        "internal": bool(attrs.get("Internal")),
        "attachable": bool(attrs.get("Attachable")),
        "ingress": bool(attrs.get("Ingress")),
        "ipv6": bool(attrs.get("EnableIPv6")),
        "ipamDriver": ipam.get("Driver") or "",
        "ipamOptions": ipam.get("Options") or {},
        "scope": attrs["Scope"],
        "options": dict(attrs.get("Options") or {}),
        "ipamConfigs": configs,
    }


def create_network(client: Any, name: str, inputs: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
    """``resourceDockerNetworkCreate``: ``NetworkCreate``, then ``resourceDockerNetworkRead``; the state is what
    that Read saw. The Read is a ``retry.StateChangeConf`` with ``Delay: networkReadRefreshDelay`` (2 s) before
    its first refresh — time in which the swarm allocator fills the network's driver state (driver name,
    options with the VNI); an inspect before that reports an empty driver and no options. Its refresh func
    waits for options only when ``Scope == "overlay"``, a scope the Engine API never reports (a swarm
    network's is ``swarm``), so after the delay it reads once."""
    api = client.api
    body = network_create_body(name, inputs)
    result = api._result(api._post_json(api._url("/networks/create"), data=body), True)
    time.sleep(NETWORK_READ_DELAY)
    return result["Id"], network_state(api.inspect_network(result["Id"]))


def remove_network(client: Any, network_id: str) -> None:
    with contextlib.suppress(docker.errors.NotFound):
        client.api.remove_network(network_id)


def create_volume(client: Any, name: str, inputs: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
    _check_fields(f"{VOLUME} {name}", inputs, ("name", "driver", "driverOpts", "labels"))
    volume = client.api.create_volume(
        inputs.get("name") or name,
        driver=inputs.get("driver") or "local",
        driver_opts=inputs.get("driverOpts"),
        labels=_labels(inputs.get("labels")) or None,
    )
    outputs = {**inputs, "name": volume["Name"], "driver": volume["Driver"], "mountpoint": volume["Mountpoint"]}
    return volume["Name"], outputs


# ---------------------------------------------------------------------------------------------------------------
# Images


IMAGE_FIELDS = ("imageName", "build", "registry", "skipPush", "buildOnPreview")
IMAGE_LIFECYCLE = ("buildOnPreview",)
IMAGE_BUILD_FIELDS = ("context", "dockerfile", "args", "target", "platform", "network", "addHosts", "cacheFrom")


def context_digest(project_dir: Path, inputs: Mapping[str, Any]) -> str:
    """The build context's content hash (pulumi-docker's ``contextHash``: a changed file rebuilds the image)."""
    build = inputs.get("build") or {}
    if not build.get("context"):
        return ""
    root = project_dir / build["context"]
    digest = hashlib.sha256()
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        digest.update(str(path.relative_to(root)).encode() + b"\0")
        digest.update(oct(path.stat().st_mode & 0o777).encode() + b"\0")
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    dockerfile = build.get("dockerfile")
    if dockerfile and not (project_dir / dockerfile).resolve().is_relative_to(root.resolve()):
        digest.update((project_dir / dockerfile).read_bytes())
    return digest.hexdigest()


def _registry_auth(where: str, registry: Mapping[str, Any] | None) -> dict[str, str] | None:
    if not registry:
        return None
    _check(where, registry, ("server", "username", "password"))
    return {
        "username": registry.get("username") or "",
        "password": registry.get("password") or "",
        "serveraddress": registry.get("server") or "",
    }


def build_and_push(
    client: Any, project_dir: Path, name: str, inputs: Mapping[str, Any], log: Callable[[str], None]
) -> tuple[str, dict[str, Any]]:
    where = f"{IMAGE} {name}"
    _check_fields(where, inputs, IMAGE_FIELDS)
    image_name = str(inputs["imageName"])
    build = _check(f"{where} build", inputs.get("build") or {}, IMAGE_BUILD_FIELDS)
    if not build.get("context"):
        raise UnmappedField(f"{where}: an Image without a build context (the program always builds)")
    context = (project_dir / build["context"]).resolve()
    dockerfile = project_dir / (build.get("dockerfile") or f"{build['context']}/Dockerfile")
    cache_from = build.get("cacheFrom")
    if cache_from:
        cache_from = _check(f"{where} build.cacheFrom", cache_from, ("images",)).get("images")
    repository, _, tag = image_name.rpartition(":") if ":" in image_name.rsplit("/", 1)[-1] else (image_name, "", "")
    started = time.monotonic()
    image, _ = client.images.build(
        path=str(context),
        dockerfile=os.path.relpath(dockerfile.resolve(), context),
        tag=image_name,
        buildargs=build.get("args") or None,
        target=build.get("target"),
        platform=build.get("platform"),
        network_mode=build.get("network"),
        extra_hosts=dict(h.split(":", 1) for h in build.get("addHosts") or []) or None,
        cache_from=cache_from or None,
        rm=True,
        forcerm=True,
    )
    built = time.monotonic()
    outputs: dict[str, Any] = {
        **inputs,
        "baseImageName": image_name,
        "context": build["context"],
        "dockerfile": build.get("dockerfile") or "",
        "platform": build.get("platform") or "",
        "registryServer": (inputs.get("registry") or {}).get("server") or "",
        "imageId": image.id,
    }
    if inputs.get("skipPush"):
        outputs["repoDigest"] = ""
        return image.id, outputs
    auth = _registry_auth(f"{where} registry", inputs.get("registry"))
    digest = None
    errors = []
    for line in client.api.push(repository, tag=tag or "latest", auth_config=auth, stream=True, decode=True):
        if "error" in line:
            errors.append(str(line.get("error")))
        aux = line.get("aux") or {}
        if aux.get("Digest"):
            digest = aux["Digest"]
    if errors or not digest:
        raise RuntimeError(f"{where}: push of {image_name} failed: {'; '.join(errors) or 'no digest reported'}")
    log(f"image {image_name}: built in {built - started:.0f}s, pushed in {time.monotonic() - built:.0f}s")
    outputs["repoDigest"] = f"{repository}@{digest}"
    return outputs["repoDigest"], outputs


# ---------------------------------------------------------------------------------------------------------------
# Services: recorded inputs → ServiceSpec


SERVICE_FIELDS = (
    "name", "labels", "mode", "taskSpec", "endpointSpec", "updateConfig", "rollbackConfig", "auth", "convergeConfig",
)  # fmt: skip
SERVICE_LIFECYCLE = ("auth", "convergeConfig")  # the pull's header and the wait: not in the spec
TASK_FIELDS = (
    "containerSpec", "forceUpdate", "logDriver", "networksAdvanceds", "placement", "resources", "restartPolicy",
    "runtime",
)  # fmt: skip
CONTAINER_FIELDS = (
    "image", "args", "capAdds", "capDrops", "commands", "dir", "dnsConfig", "env", "groups", "healthcheck",
    "hostname", "hosts", "init", "isolation", "labels", "mounts", "readOnly", "stopGracePeriod", "stopSignal",
    "sysctl", "user", "secrets",
)  # fmt: skip
SECRET_REFERENCE_FIELDS = ("secretId", "secretName", "fileName", "fileUid", "fileGid", "fileMode")


def _mount(where: str, mount: Mapping[str, Any]) -> dict[str, Any]:
    """kreuzwerker ``createContainerSpec`` (resource_docker_service_structures.go), its ``mounts`` loop."""
    _check(where, mount, ("target", "type", "bindOptions", "readOnly", "source", "tmpfsOptions", "volumeOptions"))
    out: dict[str, Any] = {"Target": mount["target"], "Type": mount["type"]}
    if mount.get("source") is not None:
        out["Source"] = mount["source"]
    if mount.get("readOnly") is not None:
        out["ReadOnly"] = bool(mount["readOnly"])
    if mount.get("bindOptions"):
        bind = _check(f"{where} bindOptions", mount["bindOptions"], ("propagation",))
        out["BindOptions"] = {"Propagation": bind.get("propagation")}
    if mount.get("tmpfsOptions"):
        tmpfs = _check(f"{where} tmpfsOptions", mount["tmpfsOptions"], ("mode", "sizeBytes"))
        out["TmpfsOptions"] = {
            k: v for k, v in {"SizeBytes": tmpfs.get("sizeBytes"), "Mode": tmpfs.get("mode")}.items() if v is not None
        }
    if mount.get("volumeOptions"):
        volume = _check(
            f"{where} volumeOptions", mount["volumeOptions"], ("driverName", "driverOptions", "labels", "noCopy")
        )
        options: dict[str, Any] = {}
        if volume.get("noCopy") is not None:
            options["NoCopy"] = bool(volume["noCopy"])
        if volume.get("labels"):
            options["Labels"] = _labels(volume["labels"])
        if volume.get("driverName") or volume.get("driverOptions"):
            options["DriverConfig"] = {
                "Name": volume.get("driverName") or "",  # no default: the daemon's own applies
                "Options": dict(volume.get("driverOptions") or {}),
            }
        out["VolumeOptions"] = options
    return out


def _container_spec(where: str, spec: Mapping[str, Any]) -> dict[str, Any]:
    """kreuzwerker ``createContainerSpec``; ``hosts`` as ``extraHostsSetToServiceExtraHosts`` (``"<ip> <host>"``)."""
    _check(where, spec, CONTAINER_FIELDS)
    out: dict[str, Any] = {"Image": spec["image"]}
    simple = {
        "args": "Args",
        "commands": "Command",
        "dir": "Dir",
        "groups": "Groups",
        "hostname": "Hostname",
        "init": "Init",
        "isolation": "Isolation",
        "readOnly": "ReadOnly",
        "stopSignal": "StopSignal",
        "user": "User",
        "capAdds": "CapabilityAdd",
        "capDrops": "CapabilityDrop",
        "sysctl": "Sysctls",
    }
    for key, api_key in simple.items():
        if spec.get(key) is not None:
            out[api_key] = spec[key]
    if spec.get("env"):
        out["Env"] = [f"{k}={v}" for k, v in sorted(spec["env"].items())]
    if spec.get("labels"):
        out["Labels"] = _labels(spec["labels"])
    if spec.get("stopGracePeriod"):
        out["StopGracePeriod"] = _ns(f"{where} stopGracePeriod", spec["stopGracePeriod"])
    if spec.get("hosts"):
        out["Hosts"] = [
            f"{_check(f'{where} hosts', h, ('host', 'ip'))['ip']} {h['host']}" for h in spec["hosts"]
        ]  # the Engine API's /etc/hosts line form
    if spec.get("dnsConfig"):
        dns = _check(f"{where} dnsConfig", spec["dnsConfig"], ("nameservers", "searches", "options"))
        out["DNSConfig"] = {
            k: v
            for k, v in {
                "Nameservers": dns.get("nameservers"),
                "Search": dns.get("searches"),
                "Options": dns.get("options"),
            }.items()
            if v is not None
        }
    if spec.get("healthcheck"):
        check = _check(
            f"{where} healthcheck", spec["healthcheck"], ("tests", "interval", "timeout", "startPeriod", "retries")
        )
        health: dict[str, Any] = {"Test": list(check["tests"])}
        for key, api_key in (("interval", "Interval"), ("timeout", "Timeout"), ("startPeriod", "StartPeriod")):
            if check.get(key):
                health[api_key] = _ns(f"{where} healthcheck.{key}", check[key])
        if check.get("retries") is not None:
            health["Retries"] = int(check["retries"])
        out["HealthCheck"] = health
    if spec.get("mounts"):
        out["Mounts"] = [_mount(f"{where} mounts[{i}]", m) for i, m in enumerate(spec["mounts"])]
    if spec.get("secrets"):
        out["Secrets"] = [_secret_reference(f"{where} secrets[{i}]", r) for i, r in enumerate(spec["secrets"])]
    return out


def _secret_reference(where: str, reference: Mapping[str, Any]) -> dict[str, Any]:
    """kreuzwerker ``createContainerSpec``'s secrets loop (resource_docker_service_structures.go v4.5.0
    l. 929–949): ``SecretID``, ``SecretName`` when set, ``File`` ``{Name, UID, GID, Mode}``; an unset field
    takes its schema Default (resource_docker_service.go l. 430–448: ``"0"``, ``"0"``, ``0o444``)."""
    _check(where, reference, SECRET_REFERENCE_FIELDS)
    mode = reference.get("fileMode")
    out: dict[str, Any] = {
        "SecretID": reference["secretId"],
        "File": {
            "Name": reference["fileName"],
            "UID": reference.get("fileUid") if reference.get("fileUid") is not None else "0",
            "GID": reference.get("fileGid") if reference.get("fileGid") is not None else "0",
            "Mode": int(mode) if mode is not None else 0o444,
        },
    }
    if reference.get("secretName"):
        out["SecretName"] = reference["secretName"]
    return out


def _placement(where: str, placement: Mapping[str, Any]) -> dict[str, Any]:
    """kreuzwerker ``createPlacement`` (+ ``stringSetToPlacementPrefs``, ``mapSetToPlacementPlatforms``)."""
    _check(where, placement, ("constraints", "maxReplicas", "platforms", "prefs"))
    out: dict[str, Any] = {}
    if placement.get("constraints"):
        out["Constraints"] = list(placement["constraints"])
    if placement.get("prefs"):
        # kreuzwerker stringSetToPlacementPrefs (resource_docker_service_structures.go): each string, verbatim,
        # is a SpreadDescriptor — no parsing, no "spread=" prefix stripped (swarmkit ignores such a descriptor)
        out["Preferences"] = [{"Spread": {"SpreadDescriptor": str(pref)}} for pref in placement["prefs"]]
    if placement.get("maxReplicas") is not None:
        out["MaxReplicas"] = int(placement["maxReplicas"])
    if placement.get("platforms"):
        out["Platforms"] = [
            {"Architecture": _check(f"{where} platforms", p, ("architecture", "os"))["architecture"], "OS": p["os"]}
            for p in placement["platforms"]
        ]
    return out


def _resources(where: str, resources: Mapping[str, Any]) -> dict[str, Any]:
    """kreuzwerker ``createResources``."""
    _check(where, resources, ("limits", "reservation"))
    out: dict[str, Any] = {}
    for key, api_key in (("limits", "Limits"), ("reservation", "Reservations")):
        if resources.get(key):
            part = _check(f"{where} {key}", resources[key], ("memoryBytes", "nanoCpus"))
            out[api_key] = {
                k: int(v)
                for k, v in {"MemoryBytes": part.get("memoryBytes"), "NanoCPUs": part.get("nanoCpus")}.items()
                if v is not None
            }
    return out


def _restart_policy(where: str, policy: Mapping[str, Any]) -> dict[str, Any]:
    """kreuzwerker ``createRestartPolicy``: the block's raw map holds every attribute (zero values for those left
    out), so Delay, MaxAttempts and Window are always sent — an unset delay is 0s, not docker's 5s default."""
    _check(where, policy, ("condition", "delay", "maxAttempts", "window"))
    return {
        "Condition": policy.get("condition") or "",
        "Delay": _ns(f"{where} delay", policy["delay"]) if policy.get("delay") else 0,
        "MaxAttempts": int(policy.get("maxAttempts") or 0),
        "Window": _ns(f"{where} window", policy["window"]) if policy.get("window") else 0,
    }


class ProviderRefused(ValueError):
    """An input the provider's schema validation refuses (the real provider fails the resource with it)."""


# kreuzwerker v4.5.0 internal/provider/resource_docker_service.go l. 800-903: both blocks, every attribute with a
# schema Default (Terraform fills a present block's missing attributes), and their ValidateDiagFunc patterns —
# update_config's anchored, rollback_config's not (``(pause|continue)``, ``(stop-first|start-first)``).
UPDATE_DEFAULTS = {
    "parallelism": 1, "delay": "0s", "failureAction": "pause", "monitor": "5s", "maxFailureRatio": "0.0",
    "order": "stop-first",
}  # fmt: skip
UPDATE_PATTERNS = {"failureAction": r"^(pause|continue|rollback)$", "order": r"^(stop-first|start-first)$"}
ROLLBACK_PATTERNS = {"failureAction": r"(pause|continue)", "order": r"(stop-first|start-first)"}


def _update_config(where: str, config: Mapping[str, Any], patterns: Mapping[str, str]) -> dict[str, Any]:
    """kreuzwerker ``createUpdateOrRollbackConfig`` (resource_docker_service_structures.go l. 1294-1320): every
    attribute of the block (defaults filled by the schema) → swarm.UpdateConfig; refused as the schema refuses."""
    _check(where, config, tuple(UPDATE_DEFAULTS))
    values = {**UPDATE_DEFAULTS, **{k: v for k, v in config.items() if v is not None}}
    for key, pattern in patterns.items():
        if not re.search(pattern, str(values[key])):
            raise ProviderRefused(f"{where}.{key}: {values[key]!r} does not match {pattern}")
    if int(values["parallelism"]) < 0:
        raise ProviderRefused(f"{where}.parallelism: {values['parallelism']} < 0")
    ratio = float(values["maxFailureRatio"])  # validateStringIsFloatRatio: a float in [0, 1]
    if not 0.0 <= ratio <= 1.0:
        raise ProviderRefused(f"{where}.maxFailureRatio: {ratio} is not in [0, 1]")
    return {
        "Parallelism": int(values["parallelism"]),
        "Delay": _ns(f"{where} delay", values["delay"]),
        "FailureAction": values["failureAction"],
        "Monitor": _ns(f"{where} monitor", values["monitor"]),
        "MaxFailureRatio": ratio,
        "Order": values["order"],
    }


def service_spec(name: str, inputs: Mapping[str, Any]) -> dict[str, Any]:
    """The Engine API ServiceSpec for a recorded ``docker.Service``: kreuzwerker ``createServiceSpec``
    (resource_docker_service_structures.go) with ``createServiceTaskSpec``, ``createServiceAdvancedNetworks``,
    ``createLogDriver``, ``createServiceMode``, ``createServiceEndpointSpec``/``portSetToServicePorts``
    (``protocol`` tcp and ``publish_mode`` ingress are schema Defaults, which Terraform applies)."""
    where = f"{SERVICE} {name}"
    _check_fields(where, inputs, SERVICE_FIELDS)
    task_in = _check(f"{where} taskSpec", inputs["taskSpec"], TASK_FIELDS)
    task: dict[str, Any] = {"ContainerSpec": _container_spec(f"{where} containerSpec", task_in["containerSpec"])}
    if task_in.get("forceUpdate") is not None:
        task["ForceUpdate"] = int(task_in["forceUpdate"])
    if task_in.get("runtime"):
        task["Runtime"] = task_in["runtime"]
    if task_in.get("logDriver"):
        driver = _check(f"{where} logDriver", task_in["logDriver"], ("name", "options"))
        task["LogDriver"] = {"Name": driver["name"], "Options": dict(driver.get("options") or {})}
    if task_in.get("networksAdvanceds"):
        networks = []
        for net in task_in["networksAdvanceds"]:
            _check(f"{where} networksAdvanceds", net, ("id", "name", "aliases", "driverOpts"))
            entry: dict[str, Any] = {"Target": net.get("id") or net.get("name")}
            if net.get("aliases"):
                entry["Aliases"] = list(net["aliases"])
            if net.get("driverOpts"):
                entry["DriverOpts"] = dict(net["driverOpts"])
            networks.append(entry)
        task["Networks"] = networks
    if task_in.get("placement"):
        task["Placement"] = _placement(f"{where} placement", task_in["placement"])
    if task_in.get("resources"):
        task["Resources"] = _resources(f"{where} resources", task_in["resources"])
    if task_in.get("restartPolicy"):
        task["RestartPolicy"] = _restart_policy(f"{where} restartPolicy", task_in["restartPolicy"])

    spec: dict[str, Any] = {"Name": inputs.get("name") or name, "TaskTemplate": task}
    if inputs.get("labels"):
        spec["Labels"] = _labels(inputs["labels"])
    mode = _check(f"{where} mode", inputs.get("mode") or {"replicated": {"replicas": 1}}, ("global", "replicated"))
    if mode.get("global"):
        spec["Mode"] = {"Global": {}}
    else:
        replicated = _check(f"{where} mode.replicated", mode.get("replicated") or {}, ("replicas",))
        spec["Mode"] = {"Replicated": {"Replicas": int(replicated.get("replicas", 1))}}
    if inputs.get("endpointSpec"):
        endpoint = _check(f"{where} endpointSpec", inputs["endpointSpec"], ("mode", "ports"))
        out: dict[str, Any] = {}
        if endpoint.get("mode"):
            out["Mode"] = endpoint["mode"]
        ports = []
        for port in endpoint.get("ports") or []:
            _check(
                f"{where} endpointSpec.ports", port, ("name", "protocol", "targetPort", "publishedPort", "publishMode")
            )
            entry = {
                "Name": port.get("name"),
                "Protocol": port.get("protocol") or "tcp",
                "TargetPort": int(port["targetPort"]),
                "PublishedPort": int(port["publishedPort"]) if port.get("publishedPort") is not None else None,
                "PublishMode": port.get("publishMode") or "ingress",
            }
            ports.append({k: v for k, v in entry.items() if v is not None})
        if ports:
            out["Ports"] = ports
        spec["EndpointSpec"] = out
    if inputs.get("updateConfig"):
        spec["UpdateConfig"] = _update_config(f"{where} updateConfig", inputs["updateConfig"], UPDATE_PATTERNS)
    if inputs.get("rollbackConfig"):
        spec["RollbackConfig"] = _update_config(f"{where} rollbackConfig", inputs["rollbackConfig"], ROLLBACK_PATTERNS)
    return spec


def _auth_header(where: str, auth: Mapping[str, Any] | None) -> dict[str, str]:
    if not auth:
        return {}
    _check(where, auth, ("serverAddress", "username", "password"))
    config = {
        "username": auth.get("username") or "",
        "password": auth.get("password") or "",
        "serveraddress": auth.get("serverAddress") or "",
    }
    return {"X-Registry-Auth": base64.urlsafe_b64encode(json.dumps(config).encode()).decode()}


def _converge(client: Any, name: str, service_id: str, inputs: Mapping[str, Any], log: Callable[[str], None]) -> None:
    """kreuzwerker's waitOnService: until every task of the current spec runs — and still runs ``delay`` later
    (a task that crash-loops is not converged) —, or the timeout."""
    converge = inputs.get("convergeConfig")
    if not converge:
        return  # detached, as the provider without converge_config
    where = f"{SERVICE} {name} convergeConfig"
    _check(where, converge, ("delay", "timeout"))
    timeout = parse_duration(converge.get("timeout") or "3m") or 180.0
    api = client.api
    deadline = time.monotonic() + timeout
    started = time.monotonic()
    problems: dict[str, str] = {}
    stable = parse_duration(converge.get("delay") or "7s") or 0.0
    converged_since: float | None = None
    while True:
        service = api.inspect_service(service_id)
        update = (service.get("UpdateStatus") or {}).get("State")
        tasks = api.tasks(filters={"service": service_id})
        running = [t for t in tasks if t.get("DesiredState") == "running"]
        up = [t for t in running if t["Status"]["State"] == "running"]
        for t in tasks:
            status = t.get("Status") or {}
            if status.get("State") in FAILED_TASK_STATES or status.get("Err"):
                node = t.get("NodeID", "")[:12]
                problems[t["ID"]] = f"task {t['ID'][:12]} on node {node}: {status.get('State')}: {status.get('Err')}"
        mode = service["Spec"]["Mode"]
        # global: one task per node the orchestrator placed the service on (the docker CLI's globalProgress)
        nodes = {t["NodeID"] for t in tasks if t.get("NodeID")}
        wanted = mode["Replicated"]["Replicas"] if "Replicated" in mode else len(nodes)
        converged = len(up) == wanted and len(running) == wanted and (wanted > 0 or "Replicated" in mode)
        if update in (None, "completed") and converged:
            converged_since = converged_since or time.monotonic()
            if time.monotonic() - converged_since >= stable:  # still running after `delay`: not crash-looping
                log(f"service {name}: {len(up)} task(s) running after {time.monotonic() - started:.0f}s")
                return
        else:
            converged_since = None
        if update in ("paused", "rollback_completed", "rollback_paused"):
            raise ServiceDidNotConverge(f"{SERVICE} {name}: update {update}: {service['UpdateStatus'].get('Message')}")
        if time.monotonic() > deadline:
            states = ", ".join(f"{t['ID'][:12]}={t['Status']['State']}" for t in running) or "no task"
            detail = "\n".join(list(problems.values())[-10:]) or "no task error reported"
            raise ServiceDidNotConverge(
                f"{SERVICE} {name}: {len(up)}/{wanted} task(s) running after {timeout:.0f}s ({states})\n{detail}"
            )
        time.sleep(CONVERGE_POLL)


def create_service(
    client: Any, name: str, inputs: Mapping[str, Any], log: Callable[[str], None]
) -> tuple[str, dict[str, Any]]:
    spec = service_spec(name, inputs)
    api = client.api
    headers = _auth_header(f"{SERVICE} {name} auth", inputs.get("auth"))
    result = api._result(api._post_json(api._url("/services/create"), data=spec, headers=headers), True)
    _converge(client, name, result["ID"], inputs, log)
    return result["ID"], dict(inputs)


def update_service(
    client: Any, name: str, service_id: str, inputs: Mapping[str, Any], log: Callable[[str], None]
) -> tuple[str, dict[str, Any]]:
    """In place (``POST /services/{id}/update`` with the whole new spec), as the provider's Update."""
    spec = service_spec(name, inputs)
    api = client.api
    version = api.inspect_service(service_id)["Version"]["Index"]
    headers = _auth_header(f"{SERVICE} {name} auth", inputs.get("auth"))
    url = api._url("/services/{0}/update", service_id)
    api._raise_for_status(api._post_json(url, data=spec, headers=headers, params={"version": version}))
    _converge(client, name, service_id, inputs, log)
    return service_id, dict(inputs)


def create_secret(client: Any, name: str, inputs: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
    """kreuzwerker ``resourceDockerSecretCreate`` (internal/provider/resource_docker_secret.go, v4.5.0 l. 91–118):
    ``data`` decoded with ``base64.StdEncoding`` (the Check's ``validateStringIsBase64Encoded`` refused anything
    else), ``SecretCreate`` with ``name`` and the labels; the id is the swarm's. Its Read sets ``name`` only
    (``data`` is never read back, l. 135–139), so the state keeps the configured inputs."""
    where = f"{SECRET} {name}"
    _check_fields(where, inputs, SECRET_FIELDS)
    data = base64.b64decode(inputs["data"], validate=True)
    spec: dict[str, Any] = {"Name": inputs["name"], "Data": base64.b64encode(data).decode()}
    if inputs.get("labels"):
        spec["Labels"] = _labels(inputs["labels"])
    api = client.api
    result = api._result(api._post_json(api._url("/secrets/create"), data=spec), True)
    return result["ID"], dict(inputs)


def remove_secret(client: Any, secret_id: str) -> None:
    """``resourceDockerSecretDelete`` (l. 143–155): ``SecretRemove``; any error — also "in use by service" —
    fails the delete."""
    client.api.remove_secret(secret_id)


def remove_service(client: Any, service_id: str) -> None:
    with contextlib.suppress(docker.errors.NotFound):
        client.api.remove_service(service_id)
