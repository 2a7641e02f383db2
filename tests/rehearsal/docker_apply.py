"""Apply the program's recorded docker resources to a real engine through the Docker Engine API (docker SDK).

The rehearsal's stand-in for the pulumi-docker provider (kreuzwerker terraform-provider-docker 4.x, read at
``internal/provider/resource_docker_{network,volume,image,container}_funcs.go``): each ``create_*`` takes a
resource's recorded inputs — camelCase, exactly what the engine hands the provider — does what the provider's
Create does, and returns the id and the outputs the program reads. Every input field is either mapped or
listed as lifecycle-only (it changes what Pulumi does on update/delete, not what is created); any other field
raises :class:`UnmappedField`: a field the translator does not know fails the rehearsal, it is never dropped.

    applier = DockerApplier(client, project_dir)
    rid, outputs = applier.create(type_token, name, inputs)   # Network, Volume, RemoteImage, Container
    applier.destroy_all(remove_images=True)                   # reverse order of creation

    mocks = DockerApplyMocks(applier)     # harness mocks: docker resources of the ``engine`` provider are
    run_program(..., mocks=mocks)         # created for real as the program registers them (preview: fakes)

``provide_base_image(client, image)`` tags a local image as ``debian:trixie`` when the engine has none, so
that ``hostsetup/local-host/Dockerfile`` builds offline from the rehearsal's debootstrap image.
"""

from __future__ import annotations

import base64
import contextlib
import io
import tarfile
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import docker
import docker.errors
import docker.types

from tests.harness import BaseMocks
from tests.provider_schema.constraints import check_inputs

NETWORK = "docker:index/network:Network"
VOLUME = "docker:index/volume:Volume"
REMOTE_IMAGE = "docker:index/remoteImage:RemoteImage"
CONTAINER = "docker:index/container:Container"
BASE_IMAGE = "debian:trixie"
START_TIMEOUT = 15.0  # seconds a must_run container may take to show as running


class UnmappedField(AssertionError):
    """A recorded input this translator does not map: the rehearsal would not create what the program says."""


def _check_fields(where: str, inputs: Mapping[str, Any], known: Iterable[str]) -> None:
    unknown = sorted(set(inputs) - set(known))
    if unknown:
        raise UnmappedField(f"{where}: input field(s) {unknown} are not mapped to the Docker Engine API")


def _labels(items: Iterable[Mapping[str, str]] | None) -> dict[str, str]:
    """``[{label, value}]`` → ``{label: value}``."""
    out = {}
    for item in items or []:
        _check_fields("label", item, ("label", "value"))
        out[item["label"]] = item["value"]
    return out


def provide_base_image(client: Any, image: str, base: str = BASE_IMAGE) -> bool:
    """Tag ``image`` as ``base`` unless the engine already has ``base``; True when it tagged."""
    try:
        client.images.get(base)
        return False
    except docker.errors.ImageNotFound:
        repository, _, tag = base.partition(":")
        client.images.get(image).tag(repository, tag or "latest")
        return True


@dataclass
class Created:
    type: str
    name: str  # the physical name (container, network, volume, image tag)
    id: str
    keep: bool = False  # an image with keepLocally


class DockerApplier:
    """Creates recorded docker resources on one engine; remembers them for :meth:`destroy_all`."""

    LIFECYCLE_ONLY: Mapping[str, tuple[str, ...]] = {
        NETWORK: (),
        VOLUME: (),
        REMOTE_IMAGE: ("keepLocally", "forceRemove", "triggers", "pullTriggers"),
        CONTAINER: ("destroyGraceSeconds", "removeVolumes", "containerReadRefreshTimeoutMilliseconds"),
    }

    def __init__(self, client: Any, project_dir: Path, log: Callable[[str], None] | None = None) -> None:
        self.client = client
        self.api = client.api
        self.project_dir = Path(project_dir)
        self.log = log or (lambda message: print(f"[docker-apply] {message}", flush=True))
        self.created: list[Created] = []
        self._lock = threading.Lock()
        self._handlers: dict[str, Callable[[str, Mapping[str, Any]], tuple[str, dict[str, Any]]]] = {
            NETWORK: self.create_network,
            VOLUME: self.create_volume,
            REMOTE_IMAGE: self.create_remote_image,
            CONTAINER: self.create_container,
        }

    def handles(self, type_: str) -> bool:
        return type_ in self._handlers

    def create(self, type_: str, name: str, inputs: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
        """Create resource ``name`` of ``type_``; return (id, outputs)."""
        if type_ not in self._handlers:
            raise UnmappedField(f"{type_} {name}: no translation to the Docker Engine API")
        return self._handlers[type_](name, inputs)

    def _remember(self, created: Created) -> None:
        with self._lock:
            self.created.append(created)

    # -- network -----------------------------------------------------------------------------------------
    NETWORK_FIELDS = (
        "name", "driver", "options", "ipamConfigs", "ipamDriver", "ipamOptions", "labels", "internal", "attachable",
        "ingress", "ipv6",
    )  # fmt: skip

    def create_network(self, name: str, inputs: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
        _check_fields(
            f"{NETWORK} {name}",
            inputs,
            self.NETWORK_FIELDS,
        )
        pools = []
        for config in inputs.get("ipamConfigs") or []:
            _check_fields(f"{NETWORK} {name} ipamConfigs", config, ("subnet", "gateway", "ipRange", "auxAddress"))
            pools.append(
                docker.types.IPAMPool(
                    subnet=config.get("subnet"),
                    gateway=config.get("gateway"),
                    iprange=config.get("ipRange"),
                    aux_addresses=config.get("auxAddress"),
                )
            )
        ipam = docker.types.IPAMConfig(
            driver=inputs.get("ipamDriver") or "default", pool_configs=pools, options=inputs.get("ipamOptions")
        )
        physical = inputs.get("name") or name
        network = self.client.networks.create(
            physical,
            driver=inputs.get("driver") or "bridge",
            options=inputs.get("options"),
            ipam=ipam,
            labels=_labels(inputs.get("labels")) or None,
            internal=bool(inputs.get("internal", False)),
            attachable=inputs.get("attachable"),
            ingress=inputs.get("ingress"),
            enable_ipv6=inputs.get("ipv6"),
            check_duplicate=True,
        )
        self._remember(Created(NETWORK, physical, network.id))
        network.reload()
        attrs = network.attrs
        self.log(f"network {physical} {attrs.get('IPAM', {}).get('Config')}")
        return network.id, {"name": physical, "driver": attrs["Driver"], "scope": attrs["Scope"]}

    # -- volume ------------------------------------------------------------------------------------------
    def create_volume(self, name: str, inputs: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
        _check_fields(f"{VOLUME} {name}", inputs, ("name", "driver", "driverOpts", "labels"))
        physical = inputs.get("name") or name
        volume = self.client.volumes.create(
            physical,
            driver=inputs.get("driver") or "local",
            driver_opts=inputs.get("driverOpts"),
            labels=_labels(inputs.get("labels")) or None,
        )
        self._remember(Created(VOLUME, physical, volume.name))
        attrs = volume.attrs
        return volume.name, {"name": volume.name, "driver": attrs["Driver"], "mountpoint": attrs["Mountpoint"]}

    # -- image -------------------------------------------------------------------------------------------
    BUILD_FIELDS = (
        "context", "dockerfile", "buildArgs", "label", "labels", "target", "noCache", "pullParent", "remove",
        "forceRemove", "networkMode", "extraHosts", "shmSize", "platform",
    )  # fmt: skip

    def create_remote_image(self, name: str, inputs: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
        where = f"{REMOTE_IMAGE} {name}"
        _check_fields(where, inputs, ("name", "build", "platform", *self.LIFECYCLE_ONLY[REMOTE_IMAGE]))
        tag = inputs["name"]
        build = inputs.get("build")
        started = time.monotonic()
        if build is None:
            image = self.client.images.pull(tag, platform=inputs.get("platform"))
        else:
            _check_fields(f"{where} build", build, self.BUILD_FIELDS)
            if inputs.get("platform"):
                raise UnmappedField(f"{where}: platform with a build")
            context = self.project_dir / build["context"]
            labels = {**(build.get("label") or {}), **(build.get("labels") or {})}
            image, _ = self.client.images.build(
                path=str(context),
                dockerfile=build.get("dockerfile"),
                tag=tag,
                buildargs=build.get("buildArgs"),
                labels=labels or None,
                target=build.get("target"),
                nocache=bool(build.get("noCache", False)),
                pull=bool(build.get("pullParent", False)),
                rm=bool(build.get("remove", True)),
                forcerm=bool(build.get("forceRemove", False)),
                network_mode=build.get("networkMode"),
                extra_hosts=dict(h.split(":", 1) for h in build.get("extraHosts") or []) or None,
                shmsize=build.get("shmSize"),
                platform=build.get("platform"),
            )
        self._remember(Created(REMOTE_IMAGE, tag, image.id, keep=bool(inputs.get("keepLocally", False))))
        self.log(f"image {tag} = {image.id[:19]} in {time.monotonic() - started:.0f}s")
        digests = [d for d in image.attrs.get("RepoDigests") or [] if d.startswith(tag.rsplit(":", 1)[0] + "@")]
        return image.id + tag, {"imageId": image.id, "repoDigest": digests[0] if digests else ""}

    # -- container ---------------------------------------------------------------------------------------
    CONTAINER_FIELDS = (
        "name", "image", "hostname", "domainname", "networksAdvanced", "networkMode", "ports", "capabilities",
        "securityOpts", "cgroupnsMode", "tmpfs", "mounts", "devices", "uploads", "stopSignal", "stopTimeout",
        "restart", "maxRetryCount", "labels", "envs", "command", "entrypoints", "user", "workingDir",
        "privileged", "sysctls", "dns", "dnsSearches", "dnsOpts", "hosts", "shmSize", "logDriver", "logOpts",
        "init", "tty", "stdinOpen", "start", "mustRun", "readOnly",
    )  # fmt: skip

    def create_container(self, name: str, inputs: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
        where = f"{CONTAINER} {name}"
        _check_fields(where, inputs, (*self.CONTAINER_FIELDS, *self.LIFECYCLE_ONLY[CONTAINER]))
        physical = inputs.get("name") or name
        networks = list(inputs.get("networksAdvanced") or [])
        ports, bindings = self._ports(where, inputs.get("ports"))
        host_config = self.api.create_host_config(
            cap_add=(inputs.get("capabilities") or {}).get("adds"),
            cap_drop=(inputs.get("capabilities") or {}).get("drops"),
            security_opt=inputs.get("securityOpts"),
            cgroupns=inputs.get("cgroupnsMode"),
            tmpfs=inputs.get("tmpfs"),
            mounts=[self._mount(where, m) for m in inputs.get("mounts") or []] or None,
            devices=[self._device(where, d) for d in inputs.get("devices") or []] or None,
            port_bindings=bindings or None,
            restart_policy=self._restart(inputs),
            privileged=bool(inputs.get("privileged", False)),
            sysctls=inputs.get("sysctls"),
            dns=inputs.get("dns"),
            dns_search=inputs.get("dnsSearches"),
            dns_opt=inputs.get("dnsOpts"),
            extra_hosts=self._hosts(where, inputs.get("hosts")),
            shm_size=inputs["shmSize"] * 1024 * 1024 if inputs.get("shmSize") else None,
            log_config=(
                docker.types.LogConfig(type=inputs["logDriver"], config=inputs.get("logOpts"))
                if inputs.get("logDriver")
                else None
            ),
            init=inputs.get("init"),
            read_only=inputs.get("readOnly"),
            network_mode=inputs.get("networkMode"),
        )
        created = self.api.create_container(
            inputs["image"],
            name=physical,
            hostname=inputs.get("hostname"),
            domainname=inputs.get("domainname"),
            labels=_labels(inputs.get("labels")) or None,
            environment=inputs.get("envs"),
            command=inputs.get("command"),
            entrypoint=inputs.get("entrypoints"),
            user=inputs.get("user"),
            working_dir=inputs.get("workingDir"),
            stop_signal=inputs.get("stopSignal"),
            stop_timeout=inputs.get("stopTimeout"),
            tty=bool(inputs.get("tty", False)),
            stdin_open=bool(inputs.get("stdinOpen", False)),
            ports=ports or None,
            host_config=host_config,
            detach=True,
        )
        cid = created["Id"]
        self._remember(Created(CONTAINER, physical, cid))
        if networks:
            # as the provider does: created on the default network, moved to the advanced ones before start
            with contextlib.suppress(docker.errors.APIError):
                self.api.disconnect_container_from_network(cid, "bridge")
            for network in networks:
                _check_fields(f"{where} networksAdvanced", network, ("name", "ipv4Address", "ipv6Address", "aliases"))
                self.api.connect_container_to_network(
                    cid,
                    network["name"],
                    ipv4_address=network.get("ipv4Address"),
                    ipv6_address=network.get("ipv6Address"),
                    aliases=network.get("aliases"),
                )
        for upload in inputs.get("uploads") or []:
            self.api.put_archive(cid, "/", self._upload_tar(where, upload))
        if inputs.get("start", True):
            self.api.start(cid)
            if inputs.get("mustRun", True):
                self._wait_running(where, cid)
        return cid, self._container_outputs(cid, inputs)

    @staticmethod
    def _ports(where: str, ports: list[Mapping[str, Any]] | None) -> tuple[list[Any], dict[str, Any]]:
        exposed: list[Any] = []
        bindings: dict[str, Any] = {}
        for port in ports or []:
            _check_fields(f"{where} ports", port, ("internal", "external", "ip", "protocol"))
            key = f"{port['internal']}/{port.get('protocol') or 'tcp'}"
            exposed.append((port["internal"], port.get("protocol") or "tcp"))
            bindings[key] = (port.get("ip") or "0.0.0.0", port.get("external"))
        return exposed, bindings

    @staticmethod
    def _mount(where: str, mount: Mapping[str, Any]) -> Any:
        _check_fields(
            f"{where} mounts", mount, ("type", "source", "target", "readOnly", "bindOptions", "volumeOptions")
        )
        propagation = (mount.get("bindOptions") or {}).get("propagation")
        volume_options = dict(mount.get("volumeOptions") or {})
        _check_fields(f"{where} volumeOptions", volume_options, ("noCopy", "driverName", "driverOptions", "labels"))
        return docker.types.Mount(
            target=mount["target"],
            source=mount.get("source"),
            type=mount["type"],
            read_only=bool(mount.get("readOnly", False)),
            propagation=propagation,
            no_copy=bool(volume_options.get("noCopy", False)),
            labels=_labels(volume_options.get("labels")) or None,
            driver_config=(
                docker.types.DriverConfig(volume_options["driverName"], volume_options.get("driverOptions"))
                if volume_options.get("driverName")
                else None
            ),
        )

    @staticmethod
    def _device(where: str, device: Mapping[str, Any]) -> str:
        _check_fields(f"{where} devices", device, ("hostPath", "containerPath", "permissions"))
        host = device["hostPath"]
        return f"{host}:{device.get('containerPath') or host}:{device.get('permissions') or 'rwm'}"

    @staticmethod
    def _restart(inputs: Mapping[str, Any]) -> dict[str, Any] | None:
        policy = inputs.get("restart")
        if not policy or policy == "no":
            return None
        out: dict[str, Any] = {"Name": policy}
        if policy == "on-failure":
            out["MaximumRetryCount"] = inputs.get("maxRetryCount") or 0
        return out

    @staticmethod
    def _hosts(where: str, hosts: list[Mapping[str, Any]] | None) -> dict[str, str] | None:
        out = {}
        for entry in hosts or []:
            _check_fields(f"{where} hosts", entry, ("host", "ip"))
            out[entry["host"]] = entry["ip"]
        return out or None

    @staticmethod
    def _upload_tar(where: str, upload: Mapping[str, Any]) -> bytes:
        """The provider's upload archive: one file, owned by root, mode ``permissions`` (octal) else 0744 if
        ``executable`` else 0644, extracted at ``/``."""
        _check_fields(f"{where} uploads", upload, ("file", "content", "contentBase64", "executable", "permissions"))
        if "content" in upload:
            data = str(upload["content"]).encode()
        elif "contentBase64" in upload:
            data = base64.b64decode(upload["contentBase64"])
        else:
            raise UnmappedField(f"{where} uploads: neither content nor contentBase64")
        default_mode = 0o744 if upload.get("executable") else 0o644
        mode = int(upload["permissions"], 8) if upload.get("permissions") else default_mode
        info = tarfile.TarInfo(str(upload["file"]).lstrip("/"))
        info.size = len(data)
        info.mode = mode
        info.mtime = int(time.time())
        buffer = io.BytesIO()
        with tarfile.open(fileobj=buffer, mode="w") as tar:
            tar.addfile(info, io.BytesIO(data))
        return buffer.getvalue()

    def _wait_running(self, where: str, cid: str) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            state = self.api.inspect_container(cid)["State"]
            if state.get("Running"):
                return
            if time.monotonic() > deadline or state.get("Status") in ("exited", "dead"):
                logs = self.api.logs(cid, tail=30).decode(errors="replace")
                raise RuntimeError(f"{where}: container is not running ({state.get('Status')}):\n{logs}")
            time.sleep(0.2)

    def _container_outputs(self, cid: str, inputs: Mapping[str, Any]) -> dict[str, Any]:
        attrs = self.api.inspect_container(cid)
        networks = attrs["NetworkSettings"]["Networks"] or {}
        ports = []
        for port in inputs.get("ports") or []:
            key = f"{port['internal']}/{port.get('protocol') or 'tcp'}"
            bound = (attrs["NetworkSettings"]["Ports"] or {}).get(key) or [{}]
            ports.append({**port, "external": int(bound[0].get("HostPort") or port.get("external") or 0)})
        return {
            "networkDatas": [
                {
                    "networkName": net,
                    "ipAddress": data.get("IPAddress", ""),
                    "gateway": data.get("Gateway", ""),
                    "macAddress": data.get("MacAddress", ""),
                }
                for net, data in networks.items()
            ],
            **({"ports": ports} if ports else {}),
        }

    # -- teardown ----------------------------------------------------------------------------------------
    def destroy_all(self, *, remove_images: bool = False) -> None:
        """Remove what was created, newest first (containers with their anonymous volumes, networks,
        volumes; images only when ``keepLocally`` is false or ``remove_images``)."""
        with self._lock:
            created, self.created = list(reversed(self.created)), []
        for kind in (CONTAINER, NETWORK, VOLUME, REMOTE_IMAGE):
            for item in (c for c in created if c.type == kind):
                with contextlib.suppress(docker.errors.NotFound):
                    if kind == CONTAINER:
                        self.api.remove_container(item.id, force=True, v=True)
                    elif kind == NETWORK:
                        self.api.remove_network(item.id)
                    elif kind == VOLUME:
                        self.api.remove_volume(item.id, force=True)
                    elif remove_images or not item.keep:
                        with contextlib.suppress(docker.errors.APIError):
                            self.api.remove_image(item.name)


def remove_labelled(client: Any, labels: Mapping[str, str]) -> int:
    """Remove every container, network and volume carrying all ``labels``; return how many."""
    filters = {"label": [f"{k}={v}" for k, v in labels.items()]}
    removed = 0
    for container in client.containers.list(all=True, filters=filters):
        with contextlib.suppress(docker.errors.NotFound):
            container.remove(force=True, v=True)
            removed += 1
    for network in client.networks.list(filters=filters):
        with contextlib.suppress(docker.errors.NotFound):
            network.remove()
            removed += 1
    for volume in client.volumes.list(filters=filters):
        with contextlib.suppress(docker.errors.NotFound):
            volume.remove(force=True)
            removed += 1
    return removed


class DockerApplyMocks(BaseMocks):
    """Harness mocks that create the docker resources of the given providers for real, as they are registered.

    ``providers``: the logical names of the docker providers whose resources the applier's engine gets
    (``engine`` = the local provider's). A docker resource of any other provider is an error unless
    ``fake_others``. In a preview nothing is created (the fakes answer, as for every other resource).
    """

    def __init__(
        self,
        applier: DockerApplier,
        *,
        providers: Iterable[str] = ("engine",),
        fake_others: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.applier = applier
        self.providers = frozenset(providers)
        self.fake_others = fake_others

    def routed(self, args: Any) -> bool:
        if not args.custom or not args.typ.startswith("docker:") or self.preview:
            return False
        provider = (args.provider or "").rsplit("::", 1)[0].rsplit("::", 1)[-1]
        if provider in self.providers and self.applier.handles(args.typ):
            return True
        if self.fake_others:
            return False
        raise UnmappedField(f"{args.typ} {args.name} (provider {provider or 'default'}): not routed to an engine")

    def new_resource(self, args: Any) -> tuple[str, dict]:
        if args.custom and args.typ.startswith("docker:"):
            refused = check_inputs(args.typ, args.inputs)  # the provider's Check, in preview and in up
            if refused:
                raise UnmappedField(f"{args.name}: the provider refuses: " + "; ".join(refused))
        if self.routed(args):
            resource_id, outputs = self.applier.create(args.typ, args.name, args.inputs)
            return resource_id, {**args.inputs, **outputs}
        return super().new_resource(args)
