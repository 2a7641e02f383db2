"""Run the real Pulumi program under `pulumi.runtime` mocks and record everything it registers.

How it works (read against pulumi 3.27x `pulumi/runtime/{mocks,stack,settings,resource,rpc}.py`):

* `run_program` does what the Python language host does (`pulumi/automation/_server.py`
  `LanguageServer.Run`): inside a *fresh* `contextvars` context it installs new runtime `Settings`
  (project, stack, dry_run, a new RPC manager and output set, root resource reset to None), sets
  the config with `set_all_config` (values as strings, objects/lists as JSON, as the engine passes
  them), creates a new event loop and runs `run_in_stack(program)` — the SDK's own entry point,
  which creates the root `pulumi:pulumi:Stack`, runs the program, registers the stack outputs and
  waits for every outstanding RPC and Output (`wait_for_rpcs`).  Because all runtime state lives in
  context variables, each run is independent; several runs in one pytest process are fine.
* The monitor is a subclass of the SDK's `MockMonitor`.  The SDK hands it the complete
  `RegisterResourceRequest` protobuf that the real engine would get, so we record the resource
  *and its options* (protect, dependencies, propertyDependencies, deletedWith, parent, provider,
  additionalSecretOutputs, ignoreChanges, replaceOnChanges, retainOnDelete, deleteBeforeReplace,
  customTimeouts, aliases, importId, version, source position) straight from that request.
* Secrets: the request's `object` struct carries secret values wrapped as
  `{"4dabf18193072939515e22adb298388d": "1b47061264138c4ac30d75fd1eb44270", "value": ...}`.  We
  walk the struct ourselves and record the *path* of every secret (`secret_inputs`), giving the
  mocks and the record plain values.  The outputs the mocks return are re-wrapped the way the real
  engine does it: a key is secret when the same input key carried a secret or the key is listed in
  `additionalSecretOutputs` (which the SDK sets e.g. for `tls.PrivateKey.private_key_pem`).  The
  plain `MockMonitor` ignores additionalSecretOutputs, so it could not prove "the key is secret".
* Stack exports land in `RegisterResourceOutputs` for the stack's URN (from `Stack._finish`);
  components' `register_outputs` go through the same RPC and are recorded per resource.
* Unknowns: during preview (`preview=True`) the SDK resolves every output the monitor did not
  return, or returned as the unknown sentinel, as *unknown*; it does not merge inputs back in
  preview.  `BaseMocks` therefore returns the inputs plus fake outputs, with every computed value
  as `UNKNOWN` in preview (see fake_values.py).  Unknown values are recorded as the singleton
  `UNKNOWN` (an instance of the SDK's `pulumi.output.Unknown`, repr "UNKNOWN"); use `is_unknown(v)`.

Fragile by nature: this leans on SDK internals (`MockMonitor`, `Settings` context properties,
`settings.ROOT`, `stack.run_in_stack`, `rpc._special_*_sig`, `mocks._resolve_callbacks`); the
harness's own tests (test_harness.py) exercise each of them, so an SDK upgrade that moves them
fails there first.  Numbers arrive as doubles on the wire; integral ones are recorded as ints.
`run.resources` is in the order registrations reached the monitor (thread-pool order): do not
rely on it.
"""

from __future__ import annotations

import asyncio
import contextvars
import copy
import gc
import json
import os
import runpy
import sys
import threading
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pulumi
from google.protobuf import struct_pb2
from google.protobuf.json_format import MessageToDict
from pulumi.runtime import config as _config
from pulumi.runtime import mocks as _mocks
from pulumi.runtime import rpc
from pulumi.runtime import settings as _settings
from pulumi.runtime import stack as _stack
from pulumi.runtime.proto import engine_pb2, provider_pb2, resource_pb2
from pulumi.runtime.sync_await import _ensure_event_loop, _sync_await

from . import fake_values
from .backends import Backend
from .fake_values import UNKNOWN, FakeContext, FakeEnv, IpAllocator, is_unknown

__all__ = [
    "UNKNOWN",
    "BaseMocks",
    "HarnessResourceArgs",
    "LogMessage",
    "ProgramRun",
    "RecordedInvoke",
    "RecordedResource",
    "ResourceRef",
    "config_value",
    "is_unknown",
    "run_program",
]

_SIG = rpc._special_sig_key
_SECRET_SIG = rpc._special_secret_sig
_RESOURCE_SIG = rpc._special_resource_sig
_ASSET_SIG = rpc._special_asset_sig
_ARCHIVE_SIG = rpc._special_archive_sig
_OUTPUT_SIG = rpc._special_output_value_sig

_SEVERITY = {
    engine_pb2.DEBUG: "debug",
    engine_pb2.INFO: "info",
    engine_pb2.WARNING: "warning",
    engine_pb2.ERROR: "error",
}


# ---------------------------------------------------------------------------------------------
# Values
# ---------------------------------------------------------------------------------------------


class ResourceRef(dict):
    """A resource reference found in inputs/outputs (the wire form, so it can be echoed back)."""

    @property
    def urn(self) -> str:
        return self["urn"]

    @property
    def id(self) -> Any:
        return self.get("id")

    def __repr__(self) -> str:
        return f"ResourceRef({self.urn!r})"


def _join(path: str, key: str | int) -> str:
    if isinstance(key, int):
        return f"{path}[{key}]"
    return f"{path}.{key}" if path else key


def _from_wire(value: Any, path: str, secrets: set[str]) -> Any:
    """Protobuf Struct/ListValue/primitive -> plain Python, recording secret paths.

    Unknowns become `UNKNOWN`, integral numbers become ints (the wire only has doubles),
    resource references become `ResourceRef`, assets/archives become SDK Asset/Archive objects.
    """
    if isinstance(value, struct_pb2.Value):
        kind = value.WhichOneof("kind")
        value = getattr(value, kind) if kind else None
        if kind == "null_value":
            value = None
    if isinstance(value, struct_pb2.Struct):
        if _SIG in value:
            sig = value[_SIG]
            if sig == _SECRET_SIG:
                secrets.add(path)
                return _from_wire(value["value"], path, secrets) if "value" in value else None
            if sig == _RESOURCE_SIG:
                ref = ResourceRef({k: _from_wire(v, _join(path, k), set()) for k, v in value.items()})
                return ref
            if sig in (_ASSET_SIG, _ARCHIVE_SIG):
                return rpc.deserialize_properties(value)
            if sig == _OUTPUT_SIG:
                if "secret" in value and value["secret"] is True:
                    secrets.add(path)
                return _from_wire(value["value"], path, secrets) if "value" in value else UNKNOWN
        return {k: _from_wire(v, _join(path, k), secrets) for k, v in value.items()}
    if isinstance(value, struct_pb2.ListValue):
        return [_from_wire(v, _join(path, i), secrets) for i, v in enumerate(value)]
    if isinstance(value, str) and value == rpc.UNKNOWN:
        return UNKNOWN
    if isinstance(value, float) and value.is_integer() and abs(value) < 2**53:
        return int(value)
    return value


def _struct_to_plain(struct: struct_pb2.Struct) -> tuple[dict, set[str]]:
    secrets: set[str] = set()
    return _from_wire(struct, "", secrets), secrets


def _top_key(path: str) -> str:
    return path.split(".", 1)[0].split("[", 1)[0]


def _get_path(obj: Any, path: str) -> Any:
    cur = obj
    for part in _split_path(path):
        cur = cur[part]
    return cur


def _split_path(path: str) -> list[str | int]:
    out: list[str | int] = []
    for chunk in path.split("."):
        while chunk:
            if chunk.startswith("["):
                end = chunk.index("]")
                out.append(int(chunk[1:end]))
                chunk = chunk[end + 1 :]
            else:
                i = chunk.find("[")
                out.append(chunk if i < 0 else chunk[:i])
                chunk = "" if i < 0 else chunk[i:]
    return out


def _walk_strings(obj: Any, path: str = "") -> Iterator[tuple[str, str]]:
    if isinstance(obj, str):
        yield path, obj
    elif isinstance(obj, dict):
        for k, v in obj.items():
            yield from _walk_strings(v, _join(path, k))
    elif isinstance(obj, (list, tuple)):
        for i, v in enumerate(obj):
            yield from _walk_strings(v, _join(path, i))


def _is_secret_path(path: str, secret_paths: Iterable[str]) -> bool:
    """True if `path` is (inside) one of `secret_paths`."""
    return any(s in ("", path) or path.startswith((s + ".", s + "[")) for s in secret_paths)


# ---------------------------------------------------------------------------------------------
# Records
# ---------------------------------------------------------------------------------------------


@dataclass
class RecordedResource:
    type: str
    name: str
    urn: str
    custom: bool
    inputs: dict  # camelCase keys, exactly as the engine would receive them; secrets unwrapped
    secret_inputs: set[str] = field(default_factory=set)  # paths like "connection", "ports[0].x"
    outputs: dict = field(default_factory=dict)  # what the program sees (mocks' state, as resolved)
    secret_outputs: set[str] = field(default_factory=set)  # top-level output keys that are secret
    id: str | None = None  # None when unknown (preview)
    kind: str = "register"  # "register" | "read"
    parent: str | None = None  # parent URN
    provider: str | None = None  # provider reference "urn::id" (None: default provider)
    providers: dict = field(default_factory=dict)  # components: package -> provider reference
    protect: bool | None = None  # None when not set (engine default: False)
    retain_on_delete: bool | None = None
    delete_before_replace: bool | None = None
    dependencies: list[str] = field(default_factory=list)  # every URN this resource waits for
    property_dependencies: dict[str, list[str]] = field(default_factory=dict)
    deleted_with: str | None = None
    replace_with: list[str] = field(default_factory=list)
    additional_secret_outputs: list[str] = field(default_factory=list)
    ignore_changes: list[str] = field(default_factory=list)
    replace_on_changes: list[str] = field(default_factory=list)
    hide_diffs: list[str] = field(default_factory=list)
    custom_timeouts: dict | None = None  # {"create": "10m", ...}
    aliases: list[Any] = field(default_factory=list)
    import_id: str | None = None
    version: str | None = None
    plugin_download_url: str | None = None
    remote: bool = False
    source: str | None = None  # "file:line" of the resource constructor call
    registered_outputs: dict | None = None  # components: register_outputs(...)
    registered_secret_outputs: set[str] = field(default_factory=set)
    error: BaseException | None = None  # if the mocks raised for this resource

    @property
    def provider_urn(self) -> str | None:
        return self.provider.rsplit("::", 1)[0] if self.provider else None

    @property
    def explicit_dependencies(self) -> list[str]:
        """Dependencies not implied by an input (i.e. from `depends_on`, after the SDK expanded
        components to their children).  A `depends_on` target that is also an input's source
        does not appear here; use `dependencies` for "waits for"."""
        implied = {u for urns in self.property_dependencies.values() for u in urns}
        return [u for u in self.dependencies if u not in implied]

    def depends_on_urn(self, urn: str) -> bool:
        return urn in self.dependencies

    def depends_on(self, other: RecordedResource) -> bool:
        return other.urn in self.dependencies

    def is_secret_input(self, path: str) -> bool:
        """True if the input at `path` (e.g. "stdin", "connection.privateKey") is secret."""
        return _is_secret_path(path, self.secret_inputs)

    def is_secret_output(self, key: str) -> bool:
        return _top_key(key) in self.secret_outputs

    def input(self, path: str, default: Any = None) -> Any:
        try:
            return _get_path(self.inputs, path)
        except (KeyError, IndexError, TypeError):
            return default

    def __repr__(self) -> str:
        return f"<{self.type} {self.name!r}>"


@dataclass
class RecordedInvoke:
    token: str
    args: dict
    provider: str | None
    result: Any = None
    error: BaseException | None = None


@dataclass
class LogMessage:
    severity: str  # "info" | "warning" | "error"
    message: str
    urn: str | None = None


@dataclass
class ProgramRun:
    project: str
    stack: str
    organization: str
    preview: bool
    config: dict
    resources: list[RecordedResource]
    outputs: dict  # stack exports (UNKNOWN where unknown)
    secret_outputs: set[str]  # export names containing a secret
    secret_output_paths: set[str]
    messages: list[LogMessage]
    invokes: list[RecordedInvoke]
    stack_urn: str | None = None

    # -- queries -------------------------------------------------------------------------------
    def of_type(self, type_: str) -> list[RecordedResource]:
        return [r for r in self.resources if r.type == type_]

    def by_name(self, name: str) -> list[RecordedResource]:
        return [r for r in self.resources if r.name == name]

    def find(
        self,
        type_: str | None = None,
        name: str | None = None,
        *,
        where: Callable[[RecordedResource], bool] | None = None,
    ) -> list[RecordedResource]:
        return [
            r
            for r in self.resources
            if (type_ is None or r.type == type_) and (name is None or r.name == name) and (where is None or where(r))
        ]

    def one(
        self,
        type_: str | None = None,
        name: str | None = None,
        *,
        where: Callable[[RecordedResource], bool] | None = None,
    ) -> RecordedResource:
        found = self.find(type_, name, where=where)
        if len(found) != 1:
            listing = "\n  ".join(f"{r.type} {r.name!r}" for r in self.resources)
            raise AssertionError(
                f"expected exactly one resource type={type_!r} name={name!r}, found {len(found)}: {found}\n"
                f"all resources:\n  {listing}"
            )
        return found[0]

    def by_urn(self, urn: str) -> RecordedResource:
        for r in self.resources:
            if r.urn == urn:
                return r
        raise KeyError(urn)

    def children(self, parent: RecordedResource | str) -> list[RecordedResource]:
        urn = parent.urn if isinstance(parent, RecordedResource) else parent
        return [r for r in self.resources if r.parent == urn]

    def descendants(self, parent: RecordedResource | str) -> list[RecordedResource]:
        out, todo = [], list(self.children(parent))
        while todo:
            r = todo.pop(0)
            out.append(r)
            todo.extend(self.children(r))
        return out

    def parent_of(self, res: RecordedResource) -> RecordedResource | None:
        if not res.parent or res.parent == self.stack_urn:
            return None
        return self.by_urn(res.parent)

    @property
    def custom_resources(self) -> list[RecordedResource]:
        return [r for r in self.resources if r.custom]

    @property
    def components(self) -> list[RecordedResource]:
        return [r for r in self.resources if not r.custom]

    @property
    def types(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for r in self.resources:
            out[r.type] = out.get(r.type, 0) + 1
        return dict(sorted(out.items()))

    @property
    def warnings(self) -> list[str]:
        return [m.message for m in self.messages if m.severity == "warning"]

    @property
    def errors(self) -> list[str]:
        return [m.message for m in self.messages if m.severity == "error"]

    def invokes_of(self, token: str) -> list[RecordedInvoke]:
        return [i for i in self.invokes if i.token == token]

    # -- secrets -------------------------------------------------------------------------------
    def plain_origins(self) -> set[str]:
        """Strings a provider computed and returned in clear text (outputs that are not echoed
        inputs and not secret), e.g. an instance's public IP: not secrets, even where an SDK
        marks a whole input secret (pulumi-command makes all of `connection` secret)."""
        out: set[str] = set()
        for r in self.resources:
            for k, v in r.outputs.items():
                if k in r.inputs or k in r.secret_outputs:
                    continue
                out.update(s for _, s in _walk_strings(v))
        return out

    def secret_values(self, min_len: int = 6) -> set[str]:
        """The secrets of this run: strings (of at least `min_len` chars) that were marked secret
        *themselves* — a secret input/export whose secret wrapper holds the string (a
        `require_secret` value, `Output.secret("…")`, a string built from a secret), or a secret
        string output (e.g. `privateKeyPem`, `RandomPassword.result`) — except `plain_origins()`.
        Strings that are secret only because a whole object was made secret (pulumi-command
        wraps all of `connection`, so its `host` is "secret") do not count; a real secret inside
        such an object is found at its origin."""
        vals: set[str] = set()

        def collect(obj: Any, secret_paths: Iterable[str]) -> None:
            for p in secret_paths:
                try:
                    v = _get_path(obj, p) if p else obj
                except (KeyError, IndexError, TypeError, ValueError):
                    continue
                if isinstance(v, str) and len(v) >= min_len:
                    vals.add(v)

        for r in self.resources:
            collect(r.inputs, r.secret_inputs)
            collect(r.outputs, r.secret_outputs)
            if r.registered_outputs:
                collect(r.registered_outputs, r.registered_secret_outputs)
        collect(self.outputs, self.secret_output_paths)
        return vals - self.plain_origins()

    def find_leaks(self, min_len: int = 6, *, include_inputs: bool = True) -> list[str]:
        """Plain (non-secret) strings that contain a secret value: exports, resource outputs and
        (by default) inputs.  An empty list means no secret leaks in clear text."""
        secrets = self.secret_values(min_len)
        leaks: list[str] = []
        if not secrets:
            return leaks

        def scan(where: str, obj: Any, secret_paths: Iterable[str]) -> None:
            sp = list(secret_paths)
            for p, s in _walk_strings(obj):
                if _is_secret_path(p, sp):
                    continue
                for sec in secrets:
                    if sec in s:
                        leaks.append(f"{where} {p or '<root>'} contains a secret in plain text")
                        break

        scan("stack output", self.outputs, self.secret_output_paths)
        for r in self.resources:
            scan(f"{r.type} {r.name!r} output", r.outputs, r.secret_outputs)
            if include_inputs:
                scan(f"{r.type} {r.name!r} input", r.inputs, r.secret_inputs)
            if r.registered_outputs:
                scan(f"{r.type} {r.name!r} registered output", r.registered_outputs, r.registered_secret_outputs)
        return leaks

    def summary(self) -> str:
        lines = [f"stack {self.project}/{self.stack} preview={self.preview}: {len(self.resources)} resources"]
        for r in self.resources:
            lines.append(
                f"  {r.type} {r.name!r} parent={r.parent and r.parent.rsplit('::', 1)[-1]} protect={r.protect}"
            )
        return "\n".join(lines)


# ---------------------------------------------------------------------------------------------
# Mocks
# ---------------------------------------------------------------------------------------------


class HarnessResourceArgs(_mocks.MockResourceArgs):
    """`MockResourceArgs` plus what the harness knows: plain (unwrapped) inputs, the secret input
    paths, preview flag, the URN and the recorded options (`record`)."""

    def __init__(
        self, *, record: RecordedResource, preview: bool, inputs: dict, resource_id: str | None, transforms=None
    ):
        super().__init__(
            typ=record.type,
            name=record.name,
            inputs=inputs,
            provider=record.provider,
            resource_id=resource_id,
            custom=record.custom,
            transforms=transforms,
        )
        self.record = record
        self.preview = preview
        self.urn = record.urn
        self.secret_inputs = set(record.secret_inputs)
        self.kind = record.kind


class BaseMocks(pulumi.runtime.Mocks):
    """Plausible provider behaviour for program tests.

    `new_resource` returns (id, inputs merged with fake outputs).  Subclasses override
    `outputs_for(args)` to return the outputs for a resource (merged over the inputs) or None
    to fall back to the fakes.  Calls arrive on SDK thread-pool threads (`run_in_executor`),
    possibly many at once: keep overrides thread-safe (use `self.lock`).
    """

    def __init__(
        self,
        *,
        env: FakeEnv | None = None,
        invokes: Mapping[str, Any] | None = None,
        stack_outputs: Mapping[str, Mapping[str, Any]] | None = None,
        backend: Backend | None = None,
    ) -> None:
        """env: cloud facts for the fakes (default: from the stack config at `bind`).
        invokes: extra invoke answers, token -> dict or fn(args, env) -> dict.
        stack_outputs: outputs of other (or this stack's previous) stacks for
            `pulumi.StackReference`, by full name "org/project/stack" or bare stack name;
            unlisted stacks have no outputs (a new stack).  See also `remember(run)`.
        backend: resolve StackReference names exactly as this state backend does (backends.py): a name it
            rejects fails the run, and only the stack it means is read (keys of `stack_outputs` are then the
            backend's canonical keys); None: the loose lookup above.
        """
        self.lock = threading.RLock()
        self.backend = backend
        self.stack_outputs: dict[str, dict[str, Any]] = {k: dict(v) for k, v in (stack_outputs or {}).items()}
        self.stack_secret_outputs: dict[str, set[str]] = {}
        self.env = env or FakeEnv()
        self._explicit_env = env is not None
        self.ips = IpAllocator()
        self.extra_invokes: dict[str, Any] = dict(invokes or {})
        self.preview = False
        self.stack = "stack"
        self.project = "project"
        self.config: dict[str, str] = {}

    # -- wiring --------------------------------------------------------------------------------
    def bind(self, *, preview: bool, stack: str, project: str, config: Mapping[str, str]) -> None:
        """Called by `run_program` before the program runs."""
        self.preview = preview
        self.stack = stack
        self.project = project
        self.config = dict(config)
        self.env.stack = stack
        self.env.project = project
        if not self._explicit_env:
            c = self.config
            self.env.aws_region = c.get("aws:region", self.env.aws_region)
            self.env.gcp_project = c.get("gcp:project", self.env.gcp_project)
            self.env.gcp_region = c.get("gcp:region", self.env.gcp_region)
            self.env.gcp_zone = c.get("gcp:zone", self.env.gcp_zone)
            self.env.azure_location = c.get("azure-native:location", self.env.azure_location)
            self.env.azure_subscription = c.get("azure-native:subscriptionId", self.env.azure_subscription)

    def remember(self, run: ProgramRun) -> None:
        """Make `run`'s stack outputs what a StackReference to its stack reads (a second `up`)."""
        name = f"{run.organization}/{run.project}/{run.stack}"
        if self.backend is not None:
            name = self.backend.own_key(run.organization, run.project, run.stack)
        with self.lock:
            self.stack_outputs[name] = dict(run.outputs)
            self.stack_secret_outputs[name] = set(run.secret_outputs)

    def stack_reference_outputs(self, stack_name: str) -> tuple[dict[str, Any], list[str]]:
        if self.backend is not None:
            key = self.backend.key(stack_name, self.project)  # StackReferenceRejected fails the run
            with self.lock:
                return dict(self.stack_outputs.get(key, {})), sorted(self.stack_secret_outputs.get(key, ()))
        with self.lock:
            for key in (stack_name, stack_name.rsplit("/", 1)[-1]):
                if key in self.stack_outputs:
                    return dict(self.stack_outputs[key]), sorted(self.stack_secret_outputs.get(key, ()))
            for key, outputs in self.stack_outputs.items():
                if "/" in key and key.rsplit("/", 1)[-1] == stack_name:
                    return dict(outputs), sorted(self.stack_secret_outputs.get(key, ()))
        return {}, []

    def context(self, args: HarnessResourceArgs) -> FakeContext:
        return FakeContext(
            type=args.typ,
            name=args.name,
            inputs=args.inputs,
            preview=self.preview,
            env=self.env,
            ips=self.ips,
            urn=getattr(args, "urn", ""),
        )

    # -- hooks -----------------------------------------------------------------------------------
    def outputs_for(self, args: HarnessResourceArgs) -> dict | None:
        """Override: the provider outputs for `args` (merged over its inputs), or None."""
        return None

    def default_outputs(self, args: HarnessResourceArgs) -> dict:
        return fake_values.fake_outputs(self.context(args))

    def id_for(self, args: HarnessResourceArgs) -> str:
        """The resource id; "" means unknown (what a real preview returns for a create)."""
        if args.resource_id:
            return args.resource_id  # read / import
        if self.preview:
            return ""
        if args.typ.startswith("pulumi:providers:"):
            return str(uuid.UUID(self.context(args).hex(32, "provider-id")))
        return fake_values.fake_id(self.context(args))

    # -- Mocks API -------------------------------------------------------------------------------
    def new_resource(self, args: _mocks.MockResourceArgs):
        if not args.custom:
            return "", dict(args.inputs)
        if args.typ.startswith("pulumi:providers:"):
            return self.id_for(args), dict(args.inputs)
        if args.typ == "pulumi:pulumi:StackReference":  # read by the engine, known in preview too
            name = args.inputs.get("name") or args.resource_id or args.name
            outputs, secret_names = self.stack_reference_outputs(name)
            return name, {"name": name, "outputs": outputs, "secretOutputNames": secret_names}
        outputs = self.outputs_for(args)
        if outputs is None:
            outputs = self.default_outputs(args)
        return self.id_for(args), {**args.inputs, **outputs}

    def call(self, args: _mocks.MockCallArgs):
        fn = self.extra_invokes.get(args.token)
        if fn is not None:
            return fn(args.args, self.env) if callable(fn) else dict(fn)
        return fake_values.fake_invoke(args.token, args.args, self.env)


# ---------------------------------------------------------------------------------------------
# Monitor / engine
# ---------------------------------------------------------------------------------------------


class _Recorder:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.resources: list[RecordedResource] = []
        self.by_urn: dict[str, RecordedResource] = {}
        self.invokes: list[RecordedInvoke] = []
        self.messages: list[LogMessage] = []
        self.stack_urn: str | None = None
        self.stack_outputs: dict = {}
        self.stack_secret_paths: set[str] = set()
        self.pending_outputs: dict[str, tuple[dict, set[str]]] = {}

    def add(self, rec: RecordedResource) -> None:
        with self.lock:
            self.resources.append(rec)
            self.by_urn[rec.urn] = rec
            pending = self.pending_outputs.pop(rec.urn, None)
        if pending:
            rec.registered_outputs, rec.registered_secret_outputs = pending


class _RecordingMonitor(_mocks.MockMonitor):
    def __init__(self, mocks: pulumi.runtime.Mocks, recorder: _Recorder, preview: bool) -> None:
        super().__init__(mocks)
        self.recorder = recorder
        self.preview = preview

    def _record_from_request(self, request, kind: str) -> RecordedResource:
        urn = self.make_urn(request.parent, request.type, request.name)
        props = request.object if kind == "register" else request.properties
        inputs, secret_paths = _struct_to_plain(props)
        rec = RecordedResource(
            type=request.type,
            name=request.name,
            urn=urn,
            custom=bool(request.custom) if kind == "register" else True,
            inputs=inputs,
            secret_inputs=secret_paths,
            kind=kind,
            parent=request.parent or None,
            provider=request.provider or None,
            dependencies=list(request.dependencies),
            additional_secret_outputs=list(request.additionalSecretOutputs),
            version=request.version or None,
            plugin_download_url=request.pluginDownloadURL or None,
        )
        if kind == "register":
            rec.providers = dict(request.providers)
            rec.protect = request.protect if request.HasField("protect") else None
            rec.retain_on_delete = request.retainOnDelete if request.HasField("retainOnDelete") else None
            rec.delete_before_replace = request.deleteBeforeReplace if request.deleteBeforeReplaceDefined else None
            rec.property_dependencies = {k: list(v.urns) for k, v in request.propertyDependencies.items()}
            rec.deleted_with = request.deletedWith or None
            rec.replace_with = list(request.replace_with)
            rec.ignore_changes = list(request.ignoreChanges)
            rec.replace_on_changes = list(request.replaceOnChanges)
            rec.hide_diffs = list(request.hideDiffs)
            if request.HasField("customTimeouts"):
                ct = request.customTimeouts
                rec.custom_timeouts = {k: getattr(ct, k) for k in ("create", "update", "delete") if getattr(ct, k)}
            rec.aliases = [MessageToDict(a) for a in request.aliases] + list(request.aliasURNs)
            rec.import_id = request.importId or None
            rec.remote = bool(request.remote)
        if request.HasField("sourcePosition") and request.sourcePosition.uri:
            uri = request.sourcePosition.uri
            if uri.startswith("project://"):
                uri = uri[len("project://") :]
            elif uri.startswith("file://"):
                uri = uri[len("file://") :]
            rec.source = f"{uri}:{request.sourcePosition.line}"
        return rec

    def _respond(
        self, rec: RecordedResource, resource_id: str | None, transforms=None
    ) -> tuple[str, struct_pb2.Struct]:
        _ensure_event_loop()
        args = HarnessResourceArgs(
            record=rec,
            preview=self.preview,
            inputs=copy.deepcopy(rec.inputs),
            resource_id=resource_id,
            transforms=transforms,
        )
        self.recorder.add(rec)
        try:
            id_, state = self.mocks.new_resource(args)
        except BaseException as exn:
            rec.error = exn
            raise
        state = dict(state or {})
        secret_keys = set(rec.additional_secret_outputs) | {_top_key(p) for p in rec.secret_inputs}
        wire = {}
        for k, v in state.items():
            if k in secret_keys and not rpc.is_rpc_secret(v) and v is not None:
                v = rpc.wrap_rpc_secret(v)
            wire[k] = v
        obj_proto = _sync_await(rpc.serialize_properties(wire, {}))
        outputs, out_secret_paths = _struct_to_plain(obj_proto)
        rec.outputs = outputs
        rec.secret_outputs = {_top_key(p) for p in out_secret_paths}
        rec.id = id_ or None
        self.resources[rec.urn] = _mocks.MockMonitor.ResourceRegistration(rec.urn, id_, state)
        return id_ or "", obj_proto

    def RegisterResource(self, request):
        if request.type == "pulumi:pulumi:Stack":
            urn = self.make_urn(request.parent, request.type, request.name)
            self.recorder.stack_urn = urn
            return resource_pb2.RegisterResourceResponse(urn=urn)
        rec = self._record_from_request(request, "register")
        id_, obj = self._respond(rec, request.importId or None, _mocks._resolve_callbacks(request.transforms))
        return resource_pb2.RegisterResourceResponse(urn=rec.urn, id=id_, object=obj)

    def ReadResource(self, request):
        rec = self._record_from_request(request, "read")
        _, obj = self._respond(rec, request.id or None)
        rec.id = request.id or None
        return resource_pb2.ReadResourceResponse(urn=rec.urn, properties=obj)

    def RegisterResourceOutputs(self, request):
        outputs, secret_paths = _struct_to_plain(request.outputs)
        r = self.recorder
        if request.urn == r.stack_urn:
            r.stack_outputs, r.stack_secret_paths = outputs, secret_paths
        else:
            with r.lock:
                rec = r.by_urn.get(request.urn)
                if rec is None:
                    r.pending_outputs[request.urn] = (outputs, secret_paths)
            if rec is not None:
                rec.registered_outputs, rec.registered_secret_outputs = outputs, secret_paths
        return super().RegisterResourceOutputs(request)

    def Invoke(self, request):
        args, _ = _struct_to_plain(request.args)
        inv = RecordedInvoke(token=request.tok, args=args, provider=request.provider or None)
        with self.recorder.lock:
            self.recorder.invokes.append(inv)
        if request.tok == "pulumi:pulumi:getResource":
            return super().Invoke(request)
        _ensure_event_loop()
        try:
            tup = self.mocks.call(_mocks.MockCallArgs(token=request.tok, args=args, provider=request.provider))
        except BaseException as exn:
            inv.error = exn
            raise
        failures = None
        if isinstance(tup, dict):
            ret = tup
        else:
            ret = tup[0]
            if tup[1]:
                failures = [provider_pb2.CheckFailure(property=p, reason=r) for p, r in tup[1]]
        inv.result = ret
        ret_proto = _sync_await(rpc.serialize_properties(ret, {}))
        return resource_pb2.ResourceInvokeResponse(failures=failures, **{"return": ret_proto})


class _RecordingEngine:
    def __init__(self, recorder: _Recorder) -> None:
        self.recorder = recorder

    def Log(self, request):
        if request.severity == engine_pb2.DEBUG:
            return
        msg = LogMessage(_SEVERITY.get(request.severity, str(request.severity)), request.message, request.urn or None)
        with self.recorder.lock:
            self.recorder.messages.append(msg)

    def __repr__(self) -> str:
        return "<harness engine>"


# ---------------------------------------------------------------------------------------------
# Running
# ---------------------------------------------------------------------------------------------


def config_value(value: Any) -> str:
    """Engine form of a config value: strings as-is, everything else JSON."""
    return value if isinstance(value, str) else json.dumps(value)


def load_stack_config(project_dir: str | Path, stack: str, project: str | None = None) -> dict[str, Any]:
    """The config the engine would pass for `stack`: Pulumi.yaml `config:` defaults overlaid with
    Pulumi.<stack>.yaml `config:` (keys fully qualified; values as YAML gives them — run_program
    turns non-strings into JSON).  `secure:` values cannot be decrypted here and are left out."""
    import yaml

    project_dir = Path(project_dir)
    meta = yaml.safe_load((project_dir / "Pulumi.yaml").read_text()) or {}
    project = project or meta.get("name", "project")

    def qualify(k: str) -> str:
        return k if ":" in k else f"{project}:{k}"

    out: dict[str, Any] = {}
    for k, spec in (meta.get("config") or {}).items():
        if isinstance(spec, dict) and ("default" in spec or "type" in spec or "value" in spec):
            if "value" in spec:
                out[qualify(k)] = spec["value"]
            elif "default" in spec:
                out[qualify(k)] = spec["default"]
        else:
            out[qualify(k)] = spec
    stack_file = project_dir / f"Pulumi.{stack}.yaml"
    if stack_file.exists():
        for k, v in ((yaml.safe_load(stack_file.read_text()) or {}).get("config") or {}).items():
            if isinstance(v, dict) and set(v) == {"secure"}:
                continue
            out[qualify(k)] = v
    return out


def _project_top_names(project_dir: Path) -> set[str]:
    names = {p.stem for p in project_dir.glob("*.py") if p.stem != "__main__"}
    names |= {
        d.name for d in project_dir.iterdir() if d.is_dir() and not d.name.startswith((".", "_")) and d.name != "tests"
    }
    return names


def _module_locations(mod: Any) -> list[Path]:
    locs = []
    f = getattr(mod, "__file__", None)
    if f:
        locs.append(f)
    with suppress(Exception):
        locs.extend(getattr(mod, "__path__", []) or [])
    out = []
    for loc in locs:
        with suppress(OSError, TypeError, ValueError):
            out.append(Path(loc).resolve())
    return out


def _project_modules(project_dir: Path) -> dict[str, Any]:
    """Modules named like the project's top-level modules/packages that are not part of the
    Python installation or virtualenv: this project's (or, in the harness's own tests, another
    throwaway project's) modules."""
    tops = _project_top_names(project_dir)
    install = {Path(p).resolve() for p in (sys.prefix, sys.base_prefix, sys.exec_prefix)}
    out = {}
    # sys.modules.copy(), not list(items()): building the list allocates, a garbage collection may run in the
    # middle and a finalizer it runs (an event loop's __del__) may import — "dictionary changed size"
    for name, mod in sys.modules.copy().items():
        if mod is None or name.split(".", 1)[0] not in tops:
            continue
        locs = _module_locations(mod)
        if locs and not any(loc.is_relative_to(p) for loc in locs for p in install):
            out[name] = mod
    return out


def run_program(
    project_dir: str | Path,
    stack: str,
    config: Mapping[str, Any] | None = None,
    *,
    preview: bool,
    mocks: pulumi.runtime.Mocks | None = None,
    project: str = "hive",
    secret_config: Iterable[str] = (),
    organization: str = "organization",
    parallel: int | None = None,
    fresh_modules: bool = True,
) -> ProgramRun:
    """Run `project_dir/__main__.py` as `pulumi preview` (preview=True) or `pulumi up` would.

    config: {"hive:cidr": "10.0.0.0/16", "nodes": {...}} — keys without a namespace get
            "<project>:"; non-string values are passed as JSON (as the engine does).
    secret_config: config keys (either form) that are secret (`pulumi config set --secret`).
    mocks:  a `BaseMocks` (default) or any `pulumi.runtime.Mocks`.
    parallel: size of the thread pool the SDK runs RPCs in (None: asyncio's default).
    fresh_modules: import the project's own modules (top-level names of project_dir, except
            tests/) afresh for this run, as a new process would: module-level state cannot leak
            between runs.  sys.modules is restored afterwards, and an exception raised from a
            fresh module is re-classed to the test's copy of its class (if the test imported
            that module before the run).

    Returns a `ProgramRun`; an exception raised by the program (or by the mocks) is re-raised
    as is, with the partial run attached as `exc.harness_run`.
    """
    project_dir = Path(project_dir).resolve()
    if not (project_dir / "__main__.py").exists():
        raise FileNotFoundError(project_dir / "__main__.py")
    mocks = mocks if mocks is not None else BaseMocks()

    def qualify(k: str) -> str:
        return k if ":" in k else f"{project}:{k}"

    cfg = {qualify(k): config_value(v) for k, v in (config or {}).items()}
    secret_keys = [qualify(k) for k in secret_config]
    if isinstance(mocks, BaseMocks):
        mocks.bind(preview=preview, stack=stack, project=project, config=cfg)

    recorder = _Recorder()
    monitor = _RecordingMonitor(mocks, recorder, preview)
    engine = _RecordingEngine(recorder)

    def program() -> None:
        runpy.run_path(str(project_dir), run_name="__main__")

    def in_context() -> None:
        _settings.ROOT.set(None)
        # A fresh Settings installs fresh context-local state: RPC manager, output set, lock,
        # monitor, engine, project/stack, dry_run, monitor features, callbacks.
        _settings.Settings(
            project=project,
            stack=stack,
            monitor=monitor,
            engine=engine,
            parallel=parallel,
            dry_run=preview,
            organization=organization,
            root_directory=str(project_dir),
        )
        _settings.SETTINGS.monitor_features = set(monitor.GetDeploymentInfo(None).supportedFeatures)
        _settings.SETTINGS.package_refs = {}
        _settings.SETTINGS.base_providers_by_ref = {}
        _settings.SETTINGS.callbacks = None
        _config.set_all_config(cfg, secret_keys)

        loop = asyncio.new_event_loop()
        if parallel:
            loop.set_default_executor(ThreadPoolExecutor(max_workers=parallel))
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(_stack.run_in_stack(program))
        finally:
            pending = asyncio.all_tasks(loop)
            for task in pending:
                task.cancel()
                with suppress(asyncio.CancelledError, Exception):
                    loop.run_until_complete(task)
            with suppress(Exception):
                loop.run_until_complete(loop.shutdown_default_executor())
            loop.close()
            asyncio.set_event_loop(None)

    saved_env = {k: os.environ.pop(k) for k in list(os.environ) if k.startswith("PULUMI_CONFIG")}
    saved_cwd = Path.cwd()
    saved_gc = gc.isenabled()  # __main__.py turns the collector off for its own process
    saved_path = list(sys.path)
    saved_mods = _project_modules(project_dir) if fresh_modules else {}
    for name in saved_mods:
        del sys.modules[name]
    error: BaseException | None = None
    try:
        os.chdir(project_dir)
        contextvars.copy_context().run(in_context)
    except BaseException as exn:
        error = exn
    finally:
        os.chdir(saved_cwd)
        if saved_gc:
            gc.enable()
        sys.path[:] = saved_path
        if fresh_modules:
            # Leave sys.modules as it was: drop this run's copies, put back the test's own.
            for name in _project_modules(project_dir):
                sys.modules.pop(name, None)
            sys.modules.update(saved_mods)
        os.environ.update(saved_env)

    run = ProgramRun(
        project=project,
        stack=stack,
        organization=organization,
        preview=preview,
        config=cfg,
        resources=list(recorder.resources),
        outputs=recorder.stack_outputs,
        secret_outputs={_top_key(p) for p in recorder.stack_secret_paths},
        secret_output_paths=set(recorder.stack_secret_paths),
        messages=list(recorder.messages),
        invokes=list(recorder.invokes),
        stack_urn=recorder.stack_urn,
    )
    if error is not None:
        with suppress(Exception):
            error.harness_run = run  # type: ignore[attr-defined]
        _rebind_exception_class(error, saved_mods)
        raise error
    return run


def _rebind_exception_class(error: BaseException, saved_mods: Mapping[str, Any]) -> None:
    """The program raised e.g. `components.inventory.errors.ConfigError` from its fresh copy of
    the module; make the exception an instance of the test process's copy of that class, so
    `pytest.raises(ConfigError)` in a test that imported it works.  Same source, same layout."""
    cls = type(error)
    saved = saved_mods.get(cls.__module__)
    if saved is None:
        return
    target: Any = saved
    for part in cls.__qualname__.split("."):
        target = getattr(target, part, None)
    if isinstance(target, type) and issubclass(target, BaseException) and target is not cls:
        with suppress(TypeError):
            error.__class__ = target
