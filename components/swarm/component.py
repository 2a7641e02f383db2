"""The Swarm component: docker providers, overlay networks, image builds, DRBD volumes and services.

Structure (which networks, images, volumes and services exist) comes from the plain ``ProgramSite.site``;
every allocated number (published ports, DRBD minors) comes from ``ProgramSite.resolved`` as an Output,
because it depends on this stack's previous outputs. No resource is created inside an ``apply``.
"""

from __future__ import annotations

import datetime
import hashlib
import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pulumi
import pulumi_command as command
import pulumi_docker as docker
import pulumi_random as random
from pulumi.output import Unknown

from components.backup.initialize import delegation_env, init_command, init_text
from components.infra.types import ProvisionedHost
from components.inventory.addressing import Host
from components.inventory.exports import Endpoint, dns_delegation
from components.inventory.service_config import NAMESPACE as SERVICE_CONFIG
from components.inventory.services import Service, ServiceSecret
from components.inventory.site import Site
from components.program_site import ProgramSite
from components.provision.host import DIAL_ERROR_LIMIT, PER_DIAL_TIMEOUT
from components.provision.steps import LIB
from components.swarm import commands, drbd_config, image_digest, image_pulls
from components.swarm.docker_endpoint import docker_endpoint
from components.swarm.images import ImagePlan, image_plans, preflight, registry_server, write_generated_context
from components.swarm.networks import network_plans
from components.swarm.secrets import secret_data, secret_name, secret_suffix
from components.swarm.service_spec import (
    REGISTRY_USER,
    RegistryAuth,
    ServiceRefs,
    service_inputs,
    udp_ports,
)
from components.swarm.spec_hash import json_sha256

HOSTSETUP_DIR = Path(__file__).resolve().parents[2] / "hostsetup"
CONVERGE_SCRIPT = Path(__file__).resolve().parent / commands.CONVERGE_SCRIPT
IMAGE_DIGEST_SCRIPT = Path(__file__).resolve().parent / commands.IMAGE_DIGEST_SCRIPT
VOLUME_STEP_TIMEOUT = "30m"  # an initial full resync of a large volume runs inside the format step
IMAGES_TIMEOUTS = pulumi.CustomTimeouts(create="30m", update="30m")  # first pulls of large images
INITIALIZE_TIMEOUTS = pulumi.CustomTimeouts(create="15m", update="15m")  # the agent waits up to 180 s for a task


@dataclass(frozen=True)
class SwarmArgs:
    """Inputs of :class:`Swarm`.

    ``swarm_ready``: the provisioner's resources after which every hive is a swarm manager with its labels;
    ``registry_ready``: after which the site registry accepts pushes and every host pulls from it;
    ``registry_logins``: per hive, its own part of that; ``drbd_ready``: after which every hive
    has the DRBD module, drbd-utils and its thin pool (drbd-install, drbd-pool) and its bundle of hostsetup files
    (with the DRBD scripts and images.sh: provision steps.swarm_files).
    Secrets: ``client_key_pem``, ``registry_password``, ``ssh_private_key``.
    """

    program: ProgramSite
    hosts: Sequence[ProvisionedHost]
    ca_pem: pulumi.Input[str]
    client_cert_pem: pulumi.Input[str]
    client_key_pem: pulumi.Input[str]
    registry_password: pulumi.Input[str]
    ssh_private_key: pulumi.Input[str]
    swarm_ready: Sequence[pulumi.Resource] = ()
    registry_ready: Sequence[pulumi.Resource] = ()
    drbd_ready: Sequence[pulumi.Resource] = ()
    agent_ready: Sequence[pulumi.Resource] = ()  # the repository's agent (backup step): runs ``initialize``
    # hive FQDN → its registry-login step: after it the hive's daemon pulls from the site registry (and from
    # elsewhere). The image pulls and digests on a hive wait for their own hive's login only; without the map
    # (a Swarm built on its own) they wait for swarm_ready and registry_ready.
    registry_logins: Mapping[str, pulumi.Resource] = field(default_factory=dict)
    project_dir: Path | None = None  # where services/ lives; default: the working directory (Pulumi's)


@dataclass(frozen=True)
class ResolvedNumbers:
    """:class:`~components.swarm.service_spec.Numbers` as Outputs of the resolved site."""

    resolved: pulumi.Output[Site]

    def published_port(self, service: str, index: int) -> pulumi.Output[int]:
        def port(site: Site) -> int:
            svc = next(s for s in site.catalog.services if s.name == service)
            return site.published_port(svc, index)

        return self.resolved.apply(port)

    def drbd_device(self, volume: str) -> pulumi.Output[str]:
        return self.resolved.apply(lambda site: str(drbd_config.volume_named(site, volume).device))


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _file_sha256(name: str) -> str:
    return _sha256((HOSTSETUP_DIR / name).read_text(encoding="utf-8"))


class Swarm(pulumi.ComponentResource):
    """Everything that lives on the swarm of one stage."""

    swarm_provider: docker.Provider
    repository_provider: docker.Provider | None
    networks: dict[str, docker.Network]
    images: dict[str, docker.Image]
    services: dict[str, docker.Service]
    volume_steps: dict[str, list[command.remote.Command]]
    secrets: dict[str, dict[str, docker.Secret]]  # service → file name → its docker secret
    digest_step: command.remote.Command | None  # image-digests: the digests of every tag the services run
    images_output: pulumi.Output[dict[str, dict[str, str]]]  # service → {image, digest, run}
    pull_steps: dict[str, command.remote.Command]  # hive FQDN → images.sh pull (before the services)
    converged: command.remote.Command | None  # converge-services: after every service, their convergence
    prune_steps: dict[str, command.remote.Command]  # hive FQDN → images.sh prune (after ``converged``)
    services_output: pulumi.Output[dict[str, list[dict[str, Any]]]]
    volumes_output: pulumi.Output[dict[str, dict[str, Any]]]
    registry: str

    def __init__(self, name: str, args: SwarmArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("hive:swarm:Swarm", name, None, opts)
        self._args = args
        self._site = args.program.site
        self._resolved = args.program.resolved
        self._numbers = ResolvedNumbers(self._resolved)
        self._project_dir = args.project_dir or Path.cwd()
        self._hosts = {h.spec.fqdn: h for h in args.hosts}
        site = self._site
        self.registry = registry_server(site)

        plans = image_plans(site)
        check_images(self._project_dir, site)

        self.swarm_provider = self._docker_provider("swarm", site.first_hive, args.swarm_ready)
        self.repository_provider = (
            self._docker_provider("repository", site.repository, args.registry_ready) if plans else None
        )
        self.networks = self._networks()
        self.images = {plan.service: self._image(plan) for plan in plans}
        self.volume_steps = self._drbd_volumes()
        # The parent zone's delegation to the hives (stack output dns_delegation; given to ``initialize``).
        self.dns_delegation = pulumi.Output.all(*[self._host(h).published_ip for h in site.hives]).apply(
            lambda addresses: dns_delegation(
                site.stage.zone,
                site.stage.domain,
                [Endpoint(h.fqdn, a) for h, a in zip(site.hives, addresses, strict=True)],
            )
        )
        self.secrets = {}
        self._secret_values: dict[str, pulumi.Output[str]] = {}
        self._image_records: dict[str, pulumi.Output[dict[str, str]]] = {}
        self._now = datetime.datetime.now(datetime.UTC).isoformat(timespec="microseconds")
        self._digest_run = self._args.program.previous_output(image_digest.OUTPUT).apply(
            lambda previous: image_digest.run_marker(previous, pulumi.runtime.is_dry_run(), self._now)
        )
        self.digest_step = self._digest_step()
        # what each service runs (a build's pushed digest, a tag's resolved digest): its spec and the pulls use it
        self._image_inputs = {s.name: self._image_input(s) for s in site.catalog.services}
        self._image_sets = self._pull_sets()
        self.pull_steps = {h.fqdn: self._pull_step(h) for h in site.hives}
        self._pulled_by_hives: dict[tuple[str, ...], command.local.Command] = {}
        self._converge_lines: list[pulumi.Output[str | None]] = []
        self.services = {s.name: self._service(s) for s in site.catalog.services}
        self.converged = self._converge_step()
        for service in site.catalog.services:
            if service.initialize is not None:
                self._initialize(service)  # once the services run their specs
        self.prune_steps = {h.fqdn: self._prune_step(h) for h in site.hives}
        self.images_output = (
            pulumi.Output.all(**self._image_records) if self._image_records else pulumi.Output.from_input({})
        )

        self.services_output = self._resolved.apply(_published_ports)
        self.volumes_output = self._resolved.apply(_volume_table)
        self.register_outputs(
            {
                "services": self.services_output,
                "volumes": self.volumes_output,
                "registry": self.registry,
                "images": self.images_output,
            }
        )

    # -- providers -------------------------------------------------------------------------------------------

    def _host(self, spec: Host) -> ProvisionedHost:
        try:
            return self._hosts[spec.fqdn]
        except KeyError:
            raise ValueError(f"SwarmArgs.hosts has no host {spec.fqdn}") from None

    def _pull_ready(self, spec: Host) -> list[pulumi.Resource]:
        """What a pull on ``spec`` waits for: its own registry login (after its docker and the site registry).
        Not the other hosts' steps: every dependency the program declares costs the SDK a walk over all the
        target depends on (pulumi/runtime/resource_cycle_breaker.py ``_reachable``), and every hive's pull
        depends on every digest step (docs/provider-notes.md, "Images are pulled on every eligible hive")."""
        login = self._args.registry_logins.get(spec.fqdn)
        return [login] if login is not None else [*self._args.swarm_ready, *self._args.registry_ready]

    def _docker_provider(self, name: str, spec: Host, ready: Sequence[pulumi.Resource]) -> docker.Provider:
        host = self._host(spec)
        endpoint = docker_endpoint(
            # A preview must not contact the daemon, and pulumi-docker pings every known tcp:// host when the
            # engine configures it (components/swarm/docker_endpoint.py; docs/provider-notes.md "Engine:
            # preview and provider configuration"): in a dry run the provider gets the known ssh:// endpoint on
            # which pulumi-docker never connects, so it is configured and diffs every resource for real.
            preview=pulumi.runtime.is_dry_run(),
            host=pulumi.Output.concat(
                "tcp://", host.address, ":", pulumi.Output.from_input(host.docker_port).apply(str)
            ),
            ca=self._args.ca_pem,
            cert=self._args.client_cert_pem,
            key=pulumi.Output.secret(self._args.client_key_pem),
        )
        return docker.Provider(
            name,
            **endpoint.provider_kwargs(),
            # Read by the bridged half only (kreuzwerker internal/provider/config.go MakeClient); the native half
            # pings a tcp:// host in Configure regardless (pulumi-docker provider/image.go configureDockerClient),
            # i.e. in every `up`: an unreachable daemon fails there, before any resource of it.
            disable_docker_daemon_check=True,
            opts=pulumi.ResourceOptions(parent=self, depends_on=list(ready)),
        )

    # -- networks and images ---------------------------------------------------------------------------------

    def _networks(self) -> dict[str, docker.Network]:
        networks = {}
        for plan in network_plans(self._site):
            networks[plan.name] = docker.Network(
                f"network-{plan.name}",
                **plan.kwargs,
                opts=pulumi.ResourceOptions(
                    parent=self,
                    provider=self.swarm_provider,
                    delete_before_replace=True,  # explicit names (pulumi-docker #1356)
                ),
            )
        return networks

    def _image(self, plan: ImagePlan) -> docker.Image:
        write_generated_context(self._project_dir, plan)
        return docker.Image(
            f"image-{plan.service}",
            image_name=plan.image_name,
            build=plan.build_args(self._host(self._site.repository).identity),
            registry={
                "server": self.registry,
                "username": REGISTRY_USER,
                "password": pulumi.Output.secret(self._args.registry_password),
            },
            opts=pulumi.ResourceOptions(parent=self, provider=self.repository_provider),
        )

    # -- DRBD ------------------------------------------------------------------------------------------------

    def _connection(self, host: ProvisionedHost) -> command.remote.ConnectionArgs:
        return command.remote.ConnectionArgs(
            host=host.address,
            port=host.ssh_port,
            user=self._site.stage.ssh_user,
            private_key=pulumi.Output.secret(self._args.ssh_private_key),
            host_key=host.host_key,  # pinned: components/infra/host_keys.py
            dial_error_limit=DIAL_ERROR_LIMIT,
            per_dial_timeout=PER_DIAL_TIMEOUT,
        )

    def _host_opts(
        self, host: ProvisionedHost, depends_on: Sequence[pulumi.Resource], **extra: Any
    ) -> pulumi.ResourceOptions:
        return pulumi.ResourceOptions(parent=self, depends_on=list(depends_on), deleted_with=host.machine, **extra)

    def _drbd_volumes(self) -> dict[str, list[command.remote.Command]]:
        """Per DRBD volume: drbd-volume.sh on every hive (the format host after all others), then drbd-growfs.sh
        on every hive. A service mounting the volume waits for all of them. The scripts are in each hive's
        bundle (provision steps.swarm_files; ``drbd_ready`` comes after it)."""
        site = self._site
        volumes = drbd_config.drbd_volumes(site)
        if not volumes:
            return {}
        steps: dict[str, list[command.remote.Command]] = {}
        for volume in volumes:
            created: list[command.remote.Command] = []
            for plan in drbd_config.volume_steps(site, volume):
                # the format host waits for every other hive: their metadata exists and they are up
                waits = created if plan.formats else []
                created.append(self._volume_step(volume.name, plan.host, waits))
            grows = [self._growfs_step(volume.name, hive, [created[-1]]) for hive in site.hives]
            steps[volume.name] = [*created, *grows]
        return steps

    def _script_triggers(self, host: ProvisionedHost, script: str) -> list[pulumi.Input[str]]:
        """A replaced machine, or an edit of the script or of lib.sh, runs the step again."""
        return [host.identity, _file_sha256(script), _file_sha256(LIB)]

    def _volume_step(self, name: str, spec: Host, waits: Sequence[pulumi.Resource]) -> command.remote.Command:
        user = self._site.stage.ssh_user
        host = self._host(spec)

        def create(site: Site) -> str:
            volume = drbd_config.volume_named(site, name)
            step = next(p for p in drbd_config.volume_steps(site, volume) if p.host.fqdn == spec.fqdn)
            return commands.script_command(user, commands.DRBD_VOLUME, step.env)

        timeouts = pulumi.CustomTimeouts(create=VOLUME_STEP_TIMEOUT, update=VOLUME_STEP_TIMEOUT)
        return command.remote.Command(
            f"drbd-volume-{name}-{spec.hostname}",
            connection=self._connection(host),
            create=self._resolved.apply(create),
            stdin=self._resolved.apply(lambda s: drbd_config.render_resource(s, drbd_config.volume_named(s, name))),
            triggers=self._script_triggers(host, commands.DRBD_VOLUME),
            add_previous_output_in_env=False,
            opts=self._host_opts(host, [*waits, *self._args.drbd_ready], custom_timeouts=timeouts),
        )

    def _growfs_step(self, name: str, spec: Host, waits: Sequence[pulumi.Resource]) -> command.remote.Command:
        user = self._site.stage.ssh_user
        host = self._host(spec)
        size = drbd_config.volume_named(self._site, name).drbd

        def create(site: Site) -> str:
            env = drbd_config.growfs_env(site, drbd_config.volume_named(site, name), spec)
            return commands.script_command(user, commands.DRBD_GROWFS, env)

        return command.remote.Command(
            f"drbd-growfs-{name}-{spec.hostname}",
            connection=self._connection(host),
            create=self._resolved.apply(create),
            # the size is not in its environment: a grown volume must run it again
            triggers=[*self._script_triggers(host, commands.DRBD_GROWFS), str(size.size_bytes if size else 0)],
            add_previous_output_in_env=False,
            opts=self._host_opts(host, waits),
        )

    # -- services --------------------------------------------------------------------------------------------

    def _secret_value(self, secret: ServiceSecret) -> pulumi.Output[str]:
        """The secret ``services:<key>`` (a Pulumi secret), or for an unset key with ``generate`` a random
        password kept in the state — one per key, shared by every service that lists it."""
        if secret.config not in self._secret_values:
            value = pulumi.Config(SERVICE_CONFIG).get_secret(secret.config)
            if value is None:
                assert secret.generate is not None  # the model refuses an unset key without it
                password = random.RandomPassword(
                    f"{SERVICE_CONFIG}-{secret.config}",
                    length=secret.generate,
                    special=False,
                    opts=pulumi.ResourceOptions(parent=self),
                )
                value = password.result
            self._secret_values[secret.config] = pulumi.Output.secret(value)
        return self._secret_values[secret.config]

    def _secret(self, service: Service, secret: ServiceSecret) -> docker.Secret:
        """One docker secret per (service, file); a new value is a new secret (components/swarm/secrets.py)."""
        value = self._secret_value(secret)
        # A value of None: its RandomPassword was left out by `up --target` — the engine's SkippedCreate gives a
        # resource its inputs as outputs, so no `result` (tests/rehearsal/engine.py emulates it) — and this
        # secret is left out with it: nothing is derived from the missing value.
        suffix = pulumi.Output.all(pulumi.Output.secret(self._args.registry_password), value).apply(
            lambda pair: None if pair[1] is None else secret_suffix(pair[0], service.name, secret.target, pair[1])
        )
        # an HMAC under the stack's random registry password reveals nothing of the value: the name is plain
        name = pulumi.Output.unsecret(suffix).apply(
            lambda text: None if text is None else secret_name(service.name, secret.target, text)
        )
        return docker.Secret(
            f"secret-{service.name}-{secret.target}",
            name=name,
            data=pulumi.Output.secret(value.apply(lambda text: None if text is None else secret_data(text))),
            opts=pulumi.ResourceOptions(parent=self, provider=self.swarm_provider),
        )

    def _image_input(self, service: Service) -> pulumi.Input[str]:
        """The service's image: the pushed digest of a build, ``<tag>@sha256:…`` of a tag, else as written."""
        site = self._site
        built = self.images.get(service.name)
        if built is not None:
            return built.repo_digest
        tag = image_digest.tag_image(site, service)
        if tag is None:
            return service.image_reference(site.stage.stage, site.repository.fqdn)
        assert self.digest_step is not None  # made for every tag of the site
        preview = pulumi.runtime.is_dry_run()
        reference = self.digest_step.stdout.apply(lambda out: image_digest.pinned(tag, out, preview))
        self._image_records[service.name] = pulumi.Output.all(reference, self._digest_run).apply(
            lambda values: image_digest.record(tag, values[0], values[1])
        )
        return reference

    def _digest_step(self) -> command.remote.Command | None:
        """``image-digests``: image-digest.sh on the first hive for every distinct tag the services run (none:
        no step); again at every ``up`` (``HIVE_RUN``), never in a preview (components/swarm/image_digest.py)."""
        site = self._site
        tags = sorted({tag for s in site.catalog.services if (tag := image_digest.tag_image(site, s)) is not None})
        if not tags:
            return None
        first = self._host(site.first_hive)
        user = site.stage.ssh_user
        return command.remote.Command(
            "image-digests",
            connection=self._connection(first),
            create=self._digest_run.apply(lambda marker: commands.image_digest_command(user, marker)),
            stdin=commands.script_with_lines(IMAGE_DIGEST_SCRIPT.read_text(encoding="utf-8"), tags),
            add_previous_output_in_env=False,
            opts=self._host_opts(first, self._pull_ready(site.first_hive), custom_timeouts=IMAGES_TIMEOUTS),
        )

    def _service(self, service: Service) -> docker.Service:
        site = self._site
        from_registry = self.images.get(service.name) is not None or service.image_reference(
            site.stage.stage, site.repository.fqdn
        ).startswith(self.registry + "/")
        self.secrets[service.name] = {s.target: self._secret(service, s) for s in service.secrets}
        refs = ServiceRefs(
            image=self._image_inputs[service.name],
            network_ids={name: net.id for name, net in self.networks.items()},
            numbers=self._numbers,
            registry_auth=(
                RegistryAuth(self.registry, pulumi.Output.secret(self._args.registry_password))
                if from_registry
                else None
            ),
            secrets={target: (made.id, made.name) for target, made in self.secrets[service.name].items()},
        )
        inputs = service_inputs(site, service, refs)
        volume_steps = [
            step
            for mount in service.volumes
            if mount.source is not None
            for step in self.volume_steps.get(mount.source, [])
        ]
        # every hive that may run a task holds the image first (image_pulls.py)
        pulled = self._pulled(image_pulls.eligible_hives(site, service))
        resource = docker.Service(
            f"service-{service.name}",
            **inputs.kwargs,
            opts=pulumi.ResourceOptions(
                parent=self,
                provider=self.swarm_provider,
                depends_on=[*volume_steps, *pulled],
                ignore_changes=inputs.ignore_changes or None,
                delete_before_replace=True,  # the name is the swarm DNS name (pulumi-docker #1356)
            ),
        )
        spec = {key: value for key, value in inputs.kwargs.items() if key != "auth"}
        spec_hash = json_sha256(spec)
        self._converge_lines.append(_converge_line(service.name, refs.image, resource.id, spec_hash))
        if udp_ports(service):
            self._flush_conntrack(service, resource, spec_hash)
        return resource

    # -- images on every hive that may run them ---------------------------------------------------------------

    def _pull_sets(self) -> pulumi.Output[dict[str, list[str]]]:
        """Hive FQDN → the image references it must hold: the one each service's spec runs (a built image by
        its pushed digest, a tag by the digest resolved at this up)."""
        site = self._site
        return pulumi.Output.all(**self._image_inputs).apply(lambda refs: image_pulls.pull_sets(site, refs))

    def _pull_step(self, spec: Host) -> command.remote.Command:
        """images.sh ``pull`` on one hive (the services wait for it). Runs again only when the hive's set, the
        script or the machine changes: a no-op ``up`` runs nothing."""
        user = self._site.stage.ssh_user
        host = self._host(spec)
        refs = self._image_sets.apply(lambda sets: sets[spec.fqdn])
        return command.remote.Command(
            f"images-pull-{spec.hostname}",
            connection=self._connection(host),
            create=refs.apply(lambda values: commands.images_command(user, "pull", values)),
            triggers=[
                *self._script_triggers(host, commands.IMAGES),
                refs.apply(lambda values: _sha256("\n".join(values))),
            ],
            add_previous_output_in_env=False,
            # images.sh is in the hive's bundle, shipped before its registry login (provision steps.swarm_files)
            opts=self._host_opts(host, self._pull_ready(spec), custom_timeouts=IMAGES_TIMEOUTS),
        )

    def _prune_step(self, spec: Host) -> command.remote.Command:
        """images.sh ``prune`` on one hive, after every service (``converge-services``), for the set its pull
        named, with the pull's triggers: it runs again exactly when the pull does.

        Both come from the pull's own outputs — pulumi-command echoes its inputs (v1.2.1
        provider/pkg/provider/remote/command.go ``CommandOutputs`` embeds ``CommandInputs``; commandController.go
        ``Create`` l. 38, ``Update`` l. 70) — so the prune depends on its pull, not again on every image of the
        site (each such dependency costs the SDK a walk of everything the image depends on)."""
        host = self._host(spec)
        pull = self.pull_steps[spec.fqdn]
        return command.remote.Command(
            f"images-prune-{spec.hostname}",
            connection=self._connection(host),
            create=pull.create.apply(lambda text: None if text is None else commands.images_prune_of(text)),
            triggers=pull.triggers,
            add_previous_output_in_env=False,
            opts=self._host_opts(host, [self.converged] if self.converged else [], custom_timeouts=IMAGES_TIMEOUTS),
        )

    def _pulled(self, hives: Sequence[Host]) -> list[command.local.Command]:
        """What a service that may run on ``hives`` waits for: ``images-pulled`` (every hive) or
        ``images-pulled-<hostname>-…`` (a subset), after the pulls of exactly those hives; none for no hive.

        It runs nothing and only gathers (pulumi-command v1.2.1 provider/pkg/provider/local/commandController.go
        ``Create``: no ``create``, nothing runs; it has no ``update`` or ``delete`` either): a pull depends on
        every image of the site,
        so each service depending on every hive's pull directly cost services × hives walks over all images."""
        if not hives:
            return []
        key = tuple(h.fqdn for h in hives)
        if key not in self._pulled_by_hives:
            everywhere = len(hives) == len(self._site.hives)
            name = "images-pulled" if everywhere else "-".join(["images-pulled", *(h.hostname for h in hives)])
            self._pulled_by_hives[key] = command.local.Command(
                name,
                opts=pulumi.ResourceOptions(parent=self, depends_on=[self.pull_steps[fqdn] for fqdn in key]),
            )
        return [self._pulled_by_hives[key]]

    def _converge_step(self) -> command.remote.Command | None:
        """``converge-services``: service-converge.sh on the first hive after every service, with each service's
        image and key (a hash of its id and spec). It fails ``pulumi up`` when a service's update was rolled back
        or paused, its spec does not run its image (swarm rolled it back), or its tasks do not all run the spec
        within the bound; the script ends itself by then (pulumi-command does not stop a running session at
        custom_timeouts). The script checks only the services whose key is not the one it recorded when they
        last converged: each service is checked after each change of its spec.

        One mechanism for every service, and not the provider's ``converge_config`` on replicated ones (the
        provider refuses it on global services anyway): when converge_config's wait fails, the bridge records
        the NEW spec in the state (with init errors) and the next ``up`` finds no diff and succeeds while swarm
        runs the rolled-back spec. A failed Command is not recorded at all (pulumi-go-provider infer), so its
        stdin still differs at the next ``up``, which checks the failed service again and fails again until the
        operator's fix changes the spec (docs/provider-notes.md "Update policy"). A no-op ``up`` does not run
        it: its inputs are unchanged. One step, not one per service: every resource and every dependency
        costs the program's evaluation (the SDK walks each dependency's closure, resource_cycle_breaker.py);
        every hive's prune waits for it."""
        if not self._converge_lines:
            return None
        first = self._host(self._site.first_hive)
        script = CONVERGE_SCRIPT.read_text(encoding="utf-8")
        bound = f"{commands.CONVERGE_TIMEOUT + 60}s"
        return command.remote.Command(
            "converge-services",
            connection=self._connection(first),
            create=commands.converge_command(self._site.stage.ssh_user),
            stdin=pulumi.Output.all(*self._converge_lines).apply(
                lambda lines: commands.script_with_lines(script, sorted(line for line in lines if line is not None))
            ),
            add_previous_output_in_env=False,
            # after every service: its stdin holds each one's id (a property dependency orders it as depends_on
            # would; both would cost the SDK a second walk of each service's closure)
            opts=self._host_opts(first, [], custom_timeouts=pulumi.CustomTimeouts(create=bound, update=bound)),
        )

    def _initialize(self, service: Service) -> command.remote.Command:
        """``initialize`` once the service runs, through the repository's agent; again only when its text or
        the delegation values it is given change (components/backup/initialize.py)."""
        host = self._host(self._site.repository)
        text = init_text(service, self._project_dir)
        user = self._site.stage.ssh_user
        env = self.dns_delegation.apply(delegation_env)
        return command.remote.Command(
            f"initialize-{service.name}",
            connection=self._connection(host),
            create=env.apply(lambda values: init_command(user, service.name, values)),
            stdin=text,
            triggers=[_sha256(text), env.apply(lambda values: _sha256(json.dumps(values, sort_keys=True)))],
            add_previous_output_in_env=False,
            opts=self._host_opts(
                host,
                [self.converged or self.services[service.name], *self._args.agent_ready],
                custom_timeouts=INITIALIZE_TIMEOUTS,
            ),
        )

    def _flush_conntrack(self, service: Service, resource: docker.Service, spec_hash: pulumi.Output[str]) -> None:
        """After a UDP service is (re)deployed, delete stale conntrack entries of its ports on every hive."""
        user = self._site.stage.ssh_user
        ports = pulumi.Output.all(*[self._numbers.published_port(service.name, i) for i in udp_ports(service)])
        for hive in self._site.hives:
            host = self._host(hive)
            command.remote.Command(
                f"conntrack-{service.name}-{hive.hostname}",
                connection=self._connection(host),
                create=ports.apply(lambda values: commands.conntrack_command(user, [int(v) for v in values])),
                triggers=[resource.id, spec_hash],
                add_previous_output_in_env=False,
                opts=self._host_opts(host, [resource]),
            )


def _converge_line(
    name: str, image: pulumi.Input[str], service_id: pulumi.Output[str], spec_hash: pulumi.Output[str]
) -> pulumi.Output[str | None]:
    """The service's line for service-converge.sh (its key: a hash of its id and spec), or None for a service that
    does not exist yet: its image is None (a build left out by ``up --target``: image_pulls.pull_sets) or its id
    or spec is not known. In an ``up`` that is a service the engine left out (``--target``: its SkippedCreate
    registers it with an empty id, which the SDK resolves as unknown — pulumi/runtime/resource.py
    ``register_resource``: ``is_known = bool(resp.id)``); the script would find no such service. In a preview it
    is also a service still to be created, indistinguishable from a left-out one: its line is left out there
    too, so the plan shows ``converge-services`` unchanged when the only change is a new service — the ``up``
    then adds its line and checks it."""

    def line(values: list[Any] | Unknown) -> str | None:
        # an unknown part makes the whole list unknown (pulumi output.py ``apply``: run_with_unknowns)
        if isinstance(values, Unknown) or any(isinstance(v, Unknown) for v in values):
            return None
        image, known_id, known_hash = values
        if image is None or not known_id:
            return None
        return commands.converge_line(name, image, _sha256(f"{known_id} {known_hash}"))

    return pulumi.Output.all(image, service_id, spec_hash).apply(line, run_with_unknowns=True)


def check_images(project_dir: Path, site: Site) -> None:
    """Stop the program (one line) when a build context is missing or the operator's environment would
    redirect the image builds (:func:`components.swarm.images.preflight`). The Hive calls it before it
    creates any resource; the Swarm again, for a Swarm built on its own."""
    problems = preflight(project_dir, site, os.environ)
    if problems:
        raise pulumi.RunError("; ".join(problems))


def _published_ports(site: Site) -> dict[str, list[dict[str, Any]]]:
    """``services`` output: service name → its ports, as the inventory document shows them."""
    return {s["name"]: s["ports"] for s in site.to_json()["services"]}


def _volume_table(site: Site) -> dict[str, dict[str, Any]]:
    """``volumes`` output: volume name → kind and, for DRBD, minor, port, device, fstype, size, diskless."""
    return {v["name"]: {k: value for k, value in v.items() if k != "name"} for v in site.to_json()["volumes"]}
