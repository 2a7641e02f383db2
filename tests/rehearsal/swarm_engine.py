"""RehearsalMocks that also apply the program's ``docker:*`` resources — one run executes the host commands AND
the swarm layer, in the order ``pulumi up`` would use (the SDK registers a resource only when its inputs and
``depends_on`` are resolved; each executor blocks until the daemon is done, so dependents wait for it).

Routing, by the provider a resource names (its recorded provider URN → that ``pulumi:providers:docker``'s inputs):

* a provider with a ``host`` (the swarm's first hive, the repository server: ``tcp://<address>:2376`` with
  mutual TLS) → :mod:`tests.rehearsal.swarm_apply` on that daemon (Network, Image, Service, Volume);
* a provider without one (the ``local`` provider's ``engine``: the operator's own engine) → the
  :class:`~tests.rehearsal.docker_apply.DockerApplier` given as ``local_applier`` (RemoteImage, Network,
  Volume, Container on the outer engine).

Every recorded docker input is first checked against the upstream schema constraints (the provider's Check:
``tests/provider_schema/docker.json``; ConflictsWith, required, enumerations, …) — in preview too.

State semantics are the engine's (tests/rehearsal/engine.py: a provider with known inputs is configured — pulumi-docker
pings its daemon unless it is an ``ssh://`` endpoint —, a resource of an unconfigured one is an update in a preview),
with pulumi-docker's diff rules:

* bridged resources (``Network``, ``Volume``, ``Service``, ``Secret``, the local provider's): the configuration
  against the state the provider's Read left — an attribute that is ``ForceNew`` upstream and differs replaces:
  delete, then create, for a resource with ``delete_before_replace`` (networks, services); otherwise the
  engine's default, create first and delete the old one after every create and update of the run
  (pulumi/pulumi pkg/resource/deploy/step_generator.go: "the delete step is generated 'later' on, after all
  creates/updates finish"; a docker secret, whose new version has a new name); other differences of a
  ``Service`` update it in place; nothing differs → nothing is done. A ``Service`` update that fails (the
  daemon refuses the spec, the converge wait fails) is kept in the state as the engine keeps it — the NEW
  configuration with initialization errors (terraform-plugin-sdk ``Resource.Apply`` returns ``data.State()``
  with the error, the bridge makes it a partial state) —, and the next ``up`` makes an empty update of it that
  runs nothing and succeeds (the bridge finds no diff);
* ``Image`` (native): old inputs against new ones, plus the build-context content (pulumi-docker's context
  hash, so an edited file under ``services/<name>/`` rebuilds): builds and pushes again (same URN, new digest);
* a docker resource the program no longer registers is removed from its daemon at the end of the ``up``
  (services before networks); images keep their tags (pulumi-docker never deletes them).

Every docker execution is an :class:`~tests.rehearsal.engine.Execution` with ``host`` = the daemon's address
(``local`` for the operator's engine) and ``step`` = ``network``/``image``/``service``/``volume``/``container``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import docker.errors

from tests.harness.program import HarnessResourceArgs
from tests.provider_schema.constraints import _snake, check_inputs, replacing_paths
from tests.rehearsal.docker_apply import BASE_IMAGE, DockerApplier
from tests.rehearsal.engine import (
    COMMAND,
    CREATE,
    DELETE,
    REPLACE,
    SAME,
    UPDATE,
    Decision,
    RehearsalMocks,
    RunRecord,
    UnsupportedResource,
    _changed_keys,
    _decode,
    _encode,
    input_digests,
    step_of_command,
)
from tests.rehearsal.lab import Lab
from tests.rehearsal.site import RehearsalSite
from tests.rehearsal.swarm_apply import (
    IMAGE,
    NETWORK,
    PROVIDER,
    SECRET,
    SERVICE,
    SWARM_TYPES,
    VOLUME,
    ProviderClients,
    build_and_push,
    context_digest,
    create_network,
    create_secret,
    create_service,
    create_volume,
    provider_address,
    remove_network,
    remove_secret,
    remove_service,
    update_service,
)

LOCAL = "local"


class ProviderRefused(AssertionError):
    """Recorded inputs the real provider's Check refuses (upstream schema constraints, tests/provider_schema)."""


SENSITIVE = {SECRET: ("data",)}  # kreuzwerker Sensitive: true — never in the log
INIT_ERRORS = "initErrors"  # a resource the engine kept from a failed update (its state holds the new spec)
CONTEXT_KEY = "__buildContext__"  # the extra "input" an Image diffs on (pulumi-docker's contextHash)


def _step(type_: str) -> str:
    return type_.rsplit(":", 1)[-1].lower()


class SwarmRehearsalMocks(RehearsalMocks):
    """:class:`RehearsalMocks` + the docker executors (see the module docstring).

    ``local_applier``: where the docker resources of a provider without ``host`` go (the private stage's host
    containers on the outer engine); without it such a resource is unsupported.
    """

    def __init__(
        self,
        state_path: str | Path,
        *,
        local_applier: DockerApplier | None = None,
        base_image_seed: Callable[[Any], None] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(state_path, **kwargs)
        self.local_applier = local_applier
        self.base_image_seed = base_image_seed
        self._seeded: set[str] = set()
        self._seed_lock = threading.Lock()
        self.clients = ProviderClients()
        self.providers: dict[str, dict[str, Any]] = {}  # provider URN -> its recorded inputs (this process)
        # replaced create-before-delete: (provider URN, type, old id), deleted after the run's creates/updates
        self.pending_deletes: list[tuple[str, str, str]] = []

    def close(self) -> None:
        self.clients.close()

    # -- Mocks API -------------------------------------------------------------------------------------------
    def new_resource(self, args: Any) -> tuple[str, dict]:
        if args.typ == PROVIDER:
            with self.lock:
                self.providers[args.urn] = dict(args.inputs)
            return super().new_resource(args)
        if args.custom and args.typ.startswith("docker:"):
            if self.targets is not None and not self.targets(args):
                return self._skip(args)
            refused = check_inputs(args.typ, args.inputs)  # the provider's Check: in preview and in up
            if refused:
                raise ProviderRefused(f"{args.name}: " + "; ".join(refused))
            return self._apply_docker(args)
        return super().new_resource(args)

    # -- the docker engine -----------------------------------------------------------------------------------
    def _provider_inputs(self, args: HarnessResourceArgs) -> tuple[str, dict[str, Any]]:
        urn = (args.provider or "").rsplit("::", 1)[0]
        with self.lock:
            inputs = self.providers.get(urn)
        if inputs is None:
            raise UnsupportedResource(f"{args.typ} {args.name!r}: no explicit docker provider (default provider?)")
        return urn, inputs

    def _docker_plan(
        self, type_: str, old: dict | None, digests: dict[str, str], inputs: Mapping[str, Any]
    ) -> tuple[str, tuple]:
        """The provider's Diff. Bridged resources (Network, Volume, Service, the local provider's): the SDK's
        diff of the configuration against the STATE the last Create/Read left (:func:`replacing_paths` over the
        upstream ForceNew flags), so an attribute the daemon reads back differently replaces the resource here
        as it would for real. The native Image: old inputs against new inputs (pulumi-docker ``Diff``), never
        a replacement; a changed build context too (``contextDigest``)."""
        if old is None or old.get("type") != type_:
            return CREATE, tuple(sorted(digests))
        changed = _changed_keys(old.get("inputs", {}), digests)
        if type_ == IMAGE:
            return (UPDATE, changed) if changed else (SAME, ())
        state = _decode(old.get("outputs") or {})
        replacing = tuple(replacing_paths(type_, inputs, state))
        if replacing:
            top = {path.split(".", 1)[0] for path in replacing}
            shown = {
                k: ("[secret]", "[secret]") if k in SENSITIVE.get(type_, ()) else (state.get(k), inputs.get(k))
                for k in {*state, *inputs}
                if _snake(k) in top or _snake(k).removesuffix("s") in top
            }
            self.log(f"{type_}: replaced for {list(replacing)} (state, configuration): {shown}")
            return REPLACE, replacing
        if not changed:
            return SAME, ()
        if type_ == SERVICE:
            return UPDATE, changed
        raise UnsupportedResource(f"{type_}: an in-place update of {changed} (the rehearsal only replaces these)")

    def _apply_docker(self, args: HarnessResourceArgs) -> tuple[str, dict]:
        urn, inputs, base_dir = args.urn, dict(args.inputs), self._base_dir()
        digests = input_digests(inputs, base_dir)
        if args.typ == IMAGE:
            digests[CONTEXT_KEY] = context_digest(base_dir, inputs)
        with self.lock:
            old = self.state.resources.get(urn)
            record = self.current
            self._seen.add(urn)
        operation, changed = self._diff_unavailable(args, old, *self._docker_plan(args.typ, old, digests, inputs))
        init_errors = operation == SAME and bool(old and old.get(INIT_ERRORS))
        if init_errors:
            operation = UPDATE  # step_generator.go: unchanged but with initialization errors → an empty update
        with self.lock:
            record.decisions.append(Decision(record.number, urn, args.typ, args.name, operation, changed))
        if operation == SAME:
            return old["id"], _decode(old["outputs"])
        if self.preview:
            return (old["id"] if operation == UPDATE else ""), inputs
        provider_urn, provider = self._provider_inputs(args)
        if init_errors:
            # the bridge's Update finds no diff and returns the old properties without calling the provider
            # (pulumi-terraform-bridge pkg/tfbridge/provider.go l. 1725–1731): nothing runs; the update succeeds
            # and the engine keeps the resource without its init errors
            assert old is not None
            with self.lock:
                self.state.resources[urn] = {k: v for k, v in old.items() if k != INIT_ERRORS} | {"run": record.number}
                self.state.save()
            self.log(f"{args.name}: update (initialization errors of run {old['run']}; no diff: nothing runs)")
            return old["id"], _decode(old["outputs"])

        host = provider_address(provider) or LOCAL

        def action() -> tuple[str, dict, str]:
            if host == LOCAL:
                return (*self._local(args, inputs, operation), "")
            return (*self._swarm(args, inputs, operation, old, provider_urn, provider, base_dir), "")

        try:
            return self._execute(args, record, operation, host, _step(args.typ), digests, action, provider=provider_urn)
        except Exception as exc:
            if args.typ == SERVICE and operation == UPDATE and old is not None:
                self._keep_partial_update(args, old, digests, inputs, provider_urn, str(exc))
            raise

    def _keep_partial_update(
        self, args: HarnessResourceArgs, old: dict, digests: dict[str, str], inputs: dict, provider: str, error: str
    ) -> None:
        """A failed Update of a bridged Service: what the engine keeps. terraform-plugin-sdk
        ``helper/schema/resource.go`` l. 989–994 (``Resource.Apply``) returns ``data.State()`` — the planned
        new state — together with the Update's error; pulumi-terraform-bridge ``pkg/tfbridge/provider.go``
        l. 1741–1757 turns that into a *reason* and l. 1792–1793 into ``initializationError`` with those
        properties, which the engine records as the resource's state with its init errors. So the state holds
        the NEW configuration (over the old read-back) although the daemon may run another spec, and the next
        ``up`` finds no diff (see the empty update in :meth:`_apply_docker`)."""
        outputs = {**_decode(old.get("outputs") or {}), **inputs}
        with self.lock:
            self.state.resources[args.urn] = {
                **old,
                "inputs": digests,
                "outputs": _encode(outputs),
                "run": self.current.number,
                "provider": provider,
                INIT_ERRORS: [error],
            }
            self.state.save()

    def _local(self, args: HarnessResourceArgs, inputs: dict, operation: str) -> tuple[str, dict]:
        if self.local_applier is None:
            raise UnsupportedResource(f"{args.typ} {args.name!r}: a local-engine resource and no local_applier")
        if operation != CREATE:
            raise UnsupportedResource(f"{args.typ} {args.name!r}: {operation} of a local-engine resource")
        id_, outputs = self.local_applier.create(args.typ, args.name, inputs)
        return id_, {**inputs, **outputs}

    def _swarm(
        self,
        args: HarnessResourceArgs,
        inputs: dict,
        operation: str,
        old: dict | None,
        provider_urn: str,
        provider: Mapping[str, Any],
        base_dir: Path,
    ) -> tuple[str, dict]:
        if args.typ not in SWARM_TYPES:
            raise UnsupportedResource(f"{args.typ} {args.name!r}: no swarm executor for this type")
        client = self.clients.client_for(provider_urn, provider)
        if operation == REPLACE and old is not None:
            if args.record.delete_before_replace:
                self._remove(client, args.typ, old["id"])
            else:
                with self.lock:
                    self.pending_deletes.append((provider_urn, args.typ, old["id"]))
        if args.typ == SECRET:
            return create_secret(client, args.name, inputs)
        if args.typ == NETWORK:
            return create_network(client, args.name, inputs)
        if args.typ == VOLUME:
            return create_volume(client, args.name, inputs)
        if args.typ == IMAGE:
            self._seed(provider_urn, client)
            return build_and_push(client, base_dir, args.name, inputs, self.log)
        if operation == UPDATE and old is not None:
            return update_service(client, args.name, old["id"], inputs, self.log)
        return create_service(client, args.name, inputs, self.log)

    def _seed(self, provider_urn: str, client: Any) -> None:
        """The offline substitute, once per daemon before its first build (see :func:`seed_base_image`)."""
        if self.base_image_seed is None:
            return
        with self._seed_lock:
            if provider_urn not in self._seeded:
                self.base_image_seed(client)
                self._seeded.add(provider_urn)

    @staticmethod
    def _remove(client: Any, type_: str, resource_id: str) -> None:
        if type_ == SERVICE:
            remove_service(client, resource_id)
        elif type_ == NETWORK:
            remove_network(client, resource_id)
        elif type_ == VOLUME:
            client.api.remove_volume(resource_id, force=True)
        elif type_ == SECRET:
            remove_secret(client, resource_id)
        # IMAGE: pulumi-docker's Image never deletes tags

    def remember(self, run: Any) -> None:
        """After a successful ``up``: first the old versions of resources replaced create-before-delete (the
        engine deletes them once every create and update is done), then what the base class does."""
        if not run.preview:
            with self.lock:
                pending, self.pending_deletes = self.pending_deletes, []
                record = self.current
            for provider_urn, type_, resource_id in pending:
                with self.lock:
                    record.decisions.append(Decision(record.number, "", type_, resource_id, DELETE))
                    provider = self.providers[provider_urn]
                self._remove(self.clients.client_for(provider_urn, provider), type_, resource_id)
        super().remember(run)

    # -- deletes of resources the program no longer registers ------------------------------------------------
    def _delete(self, urn: str, entry: dict, record: RunRecord) -> None:
        if entry["type"] not in SWARM_TYPES:
            return super()._delete(urn, entry, record)
        with self.lock:
            record.decisions.append(Decision(record.number, urn, entry["type"], entry.get("name", ""), DELETE))
            provider = self.providers.get(entry.get("provider", ""))
        if provider is not None and entry["type"] != IMAGE:
            self._remove(self.clients.client_for(entry["provider"], provider), entry["type"], entry["id"])
        with self.lock:
            self.state.resources.pop(urn, None)
        return None


# ---------------------------------------------------------------------------------------------------------------
# The one offline substitute


def seed_base_image(outer: Any, image: str, base: str = BASE_IMAGE, log: Callable[[str], None] = print) -> Callable:
    """A ``base_image_seed``: the site's images are built ``FROM debian:trixie`` on the repository server, whose
    dockerd would pull it from Docker Hub — which this machine cannot reach. So, before the first build on a
    daemon without ``base``, the lab's own Debian 13 host image (``image``, debootstrap'd from Debian's
    packages) is streamed from the outer engine (``docker save``) into that daemon over its TLS API
    (``docker load``) and tagged ``base``. Nothing else of the program is substituted."""

    def seed(client: Any) -> None:
        try:
            client.api.inspect_image(base)
            return
        except docker.errors.NotFound:
            pass
        started = time.monotonic()
        client.api.load_image(outer.api.get_image(image))
        repository, _, tag = base.partition(":")
        client.api.tag(image, repository, tag or "latest")
        log(f"seeded {base} from {image} in {time.monotonic() - started:.0f}s (offline substitute for Docker Hub)")

    return seed


# ---------------------------------------------------------------------------------------------------------------
# A prepared-stage rehearsal site whose runs execute the swarm layer too


NOT_REHEARSABLE = {
    "drbd-install": "the DRBD9 kernel module cannot be built or loaded in a host container (no DRBD in this kernel)",
    "drbd-pool": "no device-mapper in this kernel: LVM cannot create the thin pool",
    "drbd-volume": "no DRBD in this kernel: the resource cannot be created, brought up or formatted",
    "drbd-growfs": "no DRBD in this kernel: nothing to grow",
}


def swarm_targets(skip_services: frozenset[str] = frozenset()) -> Callable[[HarnessResourceArgs], bool]:
    """``--target``: every resource except the DRBD host/volume steps (:data:`NOT_REHEARSABLE`) and the
    services in ``skip_services`` (those that mount a DRBD volume: its device never exists here). The program
    leaves a left-out service out of ``converge-services`` by itself (components/swarm/component.py
    ``_converge_line``: the engine's SkippedCreate gives it no id)."""

    def targeted(args: HarnessResourceArgs) -> bool:
        if args.typ == COMMAND and step_of_command(args.inputs.get("create")) in NOT_REHEARSABLE:
            return False
        return not (args.typ == SERVICE and args.inputs.get("name") in skip_services)

    return targeted


class SwarmSite(RehearsalSite):
    """:class:`~tests.rehearsal.site.RehearsalSite` whose runs go through :class:`SwarmRehearsalMocks`: the
    provisioner and the swarm layer in one ``up`` (``base_image``: the lab's host image, seeded as
    ``debian:trixie`` into the repository server's daemon before its first build)."""

    def __init__(
        self,
        lab: Lab,
        state_dir: Path,
        *,
        project_dir: Path,
        skip_services: frozenset[str] = frozenset(),
        log: Callable[[str], None] | None = None,
    ) -> None:
        super().__init__(lab, state_dir, log=log, project_dir=project_dir)
        self.mocks = SwarmRehearsalMocks(
            Path(state_dir) / "state.json",
            base_dir=self.project_dir,
            targets=swarm_targets(skip_services),
            base_image_seed=seed_base_image(lab.client, lab.image),
            **({"log": log} if log else {}),
        )

    def close(self) -> None:
        self.mocks.close()
