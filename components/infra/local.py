"""Local: the hosts are containers on the operator's own Docker engine — the ``private`` stage's default.

Each host is a Debian 13 container with systemd as PID 1 and sshd (``hostsetup/local-host``); from the
first SSH connection on, it is provisioned by the same code as a cloud instance. Created (logical names in
brackets), all through one docker provider [``engine``]:

* the provider talks to the engine the ``docker:host`` / ``docker:context`` stack config names, else
  ``DOCKER_HOST``, else the default socket. Its inputs are always known, so the engine configures it in every
  preview and ``up``, and pulumi-docker's native half then pings that engine (``docker:context`` is read by
  the bridged half only: the native half pings ``docker:host``/``DOCKER_HOST``/the default socket, then
  Docker Desktop's user sockets) — ``disable_docker_daemon_check`` silences the bridged half's ping only
  (docs/provider-notes.md, "Engine: preview and provider configuration"). So without an engine even a
  preview of this stage fails, at the provider: ``./hive`` checks that an engine answers before it runs
  Pulumi and says what to install;
* the host image [``host-image``]: ``docker.RemoteImage`` built by that engine from ``hostsetup/local-host``
  with build arg ``user`` = ``ssh_user``, tagged ``hive-host:<prefix><name>`` (one tag per hive and stage:
  two hives on one engine do not share it). ``triggers`` carry a hash of the build context, so editing the
  Dockerfile rebuilds it; it is kept in the engine on destroy (``docker image rm`` it by hand);
* a user-defined bridge network [``net``] ``<prefix><name>-net`` on ``cidr``, gateway = the cidr's first
  address (the inventory's host addresses start at +4), MTU = ``underlay_mtu``;
* per host: a volume [``<hostname>-docker``] ``<fqdn>-docker`` for ``/var/lib/docker`` (overlay2 cannot sit
  on the container's own overlay root: without it the nested dockerd falls back to ``vfs``) and a container
  [``<hostname>``] named ``<fqdn>`` (e.g. ``p-hive0.pdns``), hostname = the short host name, at the
  inventory's private IP.

The container is not ``--privileged`` (that fails where the engine's capability bounding set is not full):
it adds the capabilities of :mod:`components.infra.local_caps`, runs unconfined by seccomp and AppArmor
(systemd and a nested runc need syscalls and mounts the default profiles forbid), has a private cgroup
namespace, tmpfs at ``/run`` and ``/run/lock``, ``/dev/net/tun`` and ``/lib/modules`` (read-only, for the
nested dockerd's modprobe of bridge/overlay/vxlan modules) when this machine has them, and stops with
``SIGRTMIN+3`` (systemd's clean shutdown). A nested dockerd needs ``/proc/sys`` writable (with Docker's
default read-only ``/proc/sys`` it starts, but no container on any network: it cannot write the IPv6 sysctls
of the container's interface — checked with Debian's docker.io 26 in a host on Docker 20.10).
``ReadonlyPaths`` is not a pulumi-docker input; the Engine API rejects ``systempaths=unconfined`` (a CLI
option); pulumi-docker 5 does translate it client-side, but reads ``SecurityOpt`` back without it and
``security_opts`` forces replacement, so every later ``pulumi up`` would replace every host. So the image's
PID 1 (``hive-host-init``) remounts ``/proc/sys`` — and the cgroup hierarchies — read-write, and the other
masked and read-only paths keep Docker's defaults.

SSH reach. On Linux the engine's bridge networks are routed from this machine: a host is reached at its
private IP on port 22. Docker Desktop (macOS, Windows) runs the engine in a VM whose container addresses are
not routable from the operator's machine: there ssh (22) and the docker API (2376) of host ``i`` are
published on ``127.0.0.1`` at ``22200 + i`` and ``23760 + i`` — fixed numbers, so they survive an engine
restart and are known in a preview — and the host's address (and ``public_ip``, what ``ssh_config`` uses) is
``127.0.0.1``. The choice is made by ``platform.system()`` when the program runs.

The authorized key is written by the provider at container creation (``uploads``): owned by root, mode
0644, which sshd's StrictModes accepts (owner root or the user, not group/world-writable) and the user can
read. So is the SSH host key the program generated [``<hostname>-host-key``] and every connection pins
(``/etc/ssh/ssh_host_ed25519_key``, 0600, a secret input: Pulumi keeps it encrypted in the state; the image's
``sshd-keygen`` then makes no key of its own). ``uploads`` forces a new container, so a site made before host
keys were pinned gets new host containers on its next ``up``. ``machine`` is the container, ``machine_id``
its id: a replaced container runs every host step again.
An image rebuild does not replace running hosts (``ignore_changes=["image"]``, as the AWS AMI): new and
replaced hosts get the new image. There is no mirrored disk: DRBD cannot run in a container, so the
inventory turns ``drbd`` volumes into local volumes on this provider (and warns).
"""

from __future__ import annotations

import hashlib
import os
import platform
from dataclasses import dataclass
from pathlib import Path

import pulumi
import pulumi_docker as docker

from components.infra.cloud import SSH_PORT
from components.infra.firewall_policy import DOCKER_API_PORT
from components.infra.host_keys import generated_host_key, public_line
from components.infra.local_caps import container_capabilities, read_proc_status
from components.infra.types import InfraArgs, ProvisionedHost, resource_name, tags
from components.inventory.addressing import Host
from components.inventory.site import Site

IMAGE_CONTEXT = Path(__file__).resolve().parents[2] / "hostsetup" / "local-host"
IMAGE_REPOSITORY = "hive-host"
LOOPBACK = "127.0.0.1"
LOOPBACK_SSH_PORT_BASE = 22200
LOOPBACK_DOCKER_PORT_BASE = 23760
DOCKER_DATA_DIR = "/var/lib/docker"
SECURITY_OPTS = ("seccomp=unconfined", "apparmor=unconfined")
TMPFS = {"/run": "rw,nosuid,nodev,mode=755", "/run/lock": "rw,nosuid,nodev,noexec,mode=1777"}
STOP_SIGNAL = "SIGRTMIN+3"
RESTART = "unless-stopped"
TUN_DEVICE = "/dev/net/tun"
KERNEL_MODULES = "/lib/modules"
HOST_KEY_FILE = "/etc/ssh/ssh_host_ed25519_key"


@dataclass(frozen=True)
class Reach:
    """How the program reaches a host container from this machine."""

    address: str
    ssh_port: int
    docker_port: int
    published: tuple[tuple[int, int], ...]  # (container port, loopback port) pairs to publish

    @property
    def public_ip(self) -> str | None:
        """What the outside world (ssh_config) uses when it is not the private address."""
        return LOOPBACK if self.published else None


def reach(host: Host, system: str) -> Reach:
    """Direct on Linux (the engine's bridge is routed here), loopback-published ports elsewhere."""
    if system == "Linux":
        return Reach(host.private_ip, SSH_PORT, DOCKER_API_PORT, ())
    ssh = LOOPBACK_SSH_PORT_BASE + host.index
    api = LOOPBACK_DOCKER_PORT_BASE + host.index
    return Reach(LOOPBACK, ssh, api, ((SSH_PORT, ssh), (DOCKER_API_PORT, api)))


def image_name(site: Site) -> str:
    return f"{IMAGE_REPOSITORY}:{site.stage.prefix}{site.stage.name}"


def container_name(host: Host) -> str:
    return host.fqdn


def home_dir(user: str) -> str:
    return "/root" if user == "root" else f"/home/{user}"


def gateway(site: Site) -> str:
    return str(site.stage.cidr.network_address + 1)


def context_digest(context: Path) -> str:
    """sha256 over every file of the build context (relative path and content), in a stable order."""
    digest = hashlib.sha256()
    for path in sorted(p for p in context.rglob("*") if p.is_file()):
        digest.update(path.relative_to(context).as_posix().encode() + b"\0")
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


class LocalHosts(pulumi.ComponentResource):
    """The machines of one stage as containers on the operator's Docker engine."""

    hosts: list[ProvisionedHost]

    def __init__(self, name: str, args: InfraArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("hive:infra:Local", name, None, opts)
        site = args.site
        self._site = site
        config = pulumi.Config("docker")
        self.provider = docker.Provider(
            "engine",
            host=config.get("host"),
            context=config.get("context"),
            # The bridged half's ping only (kreuzwerker internal/provider/config.go MakeClient); pulumi-docker's
            # native half pings this engine in Configure regardless (provider/image.go configureDockerClient).
            disable_docker_daemon_check=True,
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.image = self._image()
        self.network = self._network()
        system = platform.system()
        capabilities = container_capabilities(read_proc_status())
        key_line = pulumi.Output.from_input(args.ssh_public_key).apply(lambda key: key.strip() + "\n")
        self.containers: dict[str, docker.Container] = {}
        self.hosts = [self._host(host, reach(host, system), capabilities, key_line) for host in site.hosts]
        self.register_outputs(
            {
                "image": self.image.image_id,
                "network": self.network.name,
                "containers": {fqdn: c.id for fqdn, c in self.containers.items()},
            }
        )

    def _opts(
        self, *, delete_before_replace: bool = False, ignore_changes: list[str] | None = None
    ) -> pulumi.ResourceOptions:
        return pulumi.ResourceOptions(
            parent=self,
            provider=self.provider,
            delete_before_replace=delete_before_replace,
            ignore_changes=ignore_changes,
        )

    def _image(self) -> docker.RemoteImage:
        site = self._site
        return docker.RemoteImage(
            "host-image",
            name=image_name(site),
            build=docker.RemoteImageBuildArgs(
                # relative to the project directory (the program's working directory), like the step scripts
                context=os.path.relpath(IMAGE_CONTEXT, Path.cwd()),
                build_args={"user": site.stage.ssh_user},
            ),
            triggers={"context": context_digest(IMAGE_CONTEXT)},
            keep_locally=True,
            opts=self._opts(),
        )

    def _network(self) -> docker.Network:
        site = self._site
        return docker.Network(
            "net",
            name=resource_name(site, "net"),
            driver="bridge",
            ipam_configs=[docker.NetworkIpamConfigArgs(subnet=str(site.stage.cidr), gateway=gateway(site))],
            options={"com.docker.network.driver.mtu": str(site.stage.underlay_mtu)},
            labels=[docker.NetworkLabelArgs(label=k, value=v) for k, v in tags(site).items()],
            # The name and subnet are fixed: the old network must go before its successor can take them.
            opts=self._opts(delete_before_replace=True),
        )

    def _host(self, host: Host, where: Reach, capabilities: list[str], key_line: pulumi.Output[str]) -> ProvisionedHost:
        site = self._site
        host_key = generated_host_key(f"{host.hostname}-host-key", self)
        labels = tags(site, host=host.fqdn)
        volume = docker.Volume(
            f"{host.hostname}-docker",
            name=f"{container_name(host)}-docker",
            labels=[docker.VolumeLabelArgs(label=k, value=v) for k, v in labels.items()],
            opts=self._opts(delete_before_replace=True),
        )
        mounts = [docker.ContainerMountArgs(type="volume", source=volume.name, target=DOCKER_DATA_DIR)]
        if Path(KERNEL_MODULES).is_dir():
            mounts.append(
                docker.ContainerMountArgs(type="bind", source=KERNEL_MODULES, target=KERNEL_MODULES, read_only=True)
            )
        devices = (
            [docker.ContainerDeviceArgs(host_path=TUN_DEVICE, container_path=TUN_DEVICE, permissions="rwm")]
            if Path(TUN_DEVICE).exists()
            else []
        )
        container = docker.Container(
            host.hostname,
            name=container_name(host),
            image=self.image.image_id,
            hostname=host.hostname,
            networks_advanced=[
                docker.ContainerNetworksAdvancedArgs(name=self.network.name, ipv4_address=host.private_ip)
            ],
            ports=[
                docker.ContainerPortArgs(internal=inside, external=outside, ip=LOOPBACK, protocol="tcp")
                for inside, outside in where.published
            ]
            or None,
            capabilities=docker.ContainerCapabilitiesArgs(adds=capabilities),
            security_opts=list(SECURITY_OPTS),
            cgroupns_mode="private",
            tmpfs=dict(TMPFS),
            mounts=mounts,
            devices=devices or None,
            uploads=[
                docker.ContainerUploadArgs(
                    file=f"{home_dir(site.stage.ssh_user)}/.ssh/authorized_keys", content=key_line, permissions="0644"
                ),
                # The SSH host key every connection pins; a secret input (encrypted in the state), copied into
                # the container before it starts (sshd-keygen then makes no other key).
                docker.ContainerUploadArgs(
                    file=HOST_KEY_FILE,
                    content=pulumi.Output.secret(host_key.private_key_openssh),
                    permissions="0600",
                ),
                docker.ContainerUploadArgs(
                    file=f"{HOST_KEY_FILE}.pub", content=host_key.public_key_openssh, permissions="0644"
                ),
            ],
            stop_signal=STOP_SIGNAL,
            restart=RESTART,
            labels=[docker.ContainerLabelArgs(label=k, value=v) for k, v in labels.items()],
            opts=self._opts(
                # The name and the address are fixed: the old container must go before its successor starts.
                delete_before_replace=True,
                ignore_changes=["image"],
            ),
        )
        self.containers[host.fqdn] = container
        return ProvisionedHost(
            spec=host,
            public_ip=None if where.public_ip is None else pulumi.Output.from_input(where.public_ip),
            address=where.address,
            ssh_port=where.ssh_port,
            docker_port=where.docker_port,
            machine=container,
            machine_id=container.id,
            mirrored_device_hint=None,
            host_key=public_line(host_key),
        )
