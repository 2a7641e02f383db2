"""Check recorded resource inputs against the provider SDKs' own input types (DESIGN §9.2).

A typo in a nested dict literal (`{"fromPorts": 22}`) passes silently through mocks — the SDK
serialises whatever keys it is given — but the real provider rejects it.  So every recorded input
is checked against the generated Python SDK's types:

* type token -> resource class: the package is found by its `pulumi-plugin.json` (`"name"`), the
  class through the registry the package fills on import (`_utilities.register(resource_modules=…)`
  -> `pulumi.runtime.rpc.get_resource_module(pkg, mod)` -> `mod_info["fqn"]` / `["classes"]`);
  providers (`pulumi:providers:<pkg>`) through `get_resource_package(pkg)`.
* resource class -> Args class: the `args` annotation of the class's `__init__` overload
  (`typing.get_overloads`), which is `<Name>Args` or, in azure-native where a nested type took
  that name, `<Name>InitArgs`; fallback: those names in the resource's module.
* Args class -> allowed properties (`pulumi._types.input_type_py_to_pulumi_names`), their types
  (`input_type_types`), and the required ones (keyword parameters without a default in the Args
  `__init__`).  Nested values are checked recursively: input-type classes (dicts), sequences,
  mappings, unions (a value must fit one member), enums, and primitive kinds (str/int/float/bool).

Skipped: component resources (type tokens of no provider package, e.g. `hive:infra:Aws`),
unknown values (preview), resource references, assets/archives, and `Any`.
"""

from __future__ import annotations

import collections.abc as abc
import contextlib
import enum
import functools
import importlib
import importlib.util
import inspect
import json
import pkgutil
import sys
import types
import typing
from pathlib import Path
from typing import Any, Union

import pulumi
from pulumi import _types
from pulumi.runtime import rpc

from .fake_values import is_unknown

__all__ = [
    "TypeTokenError",
    "args_class",
    "assert_valid_inputs",
    "check_inputs",
    "check_run",
    "plugin_packages",
    "resource_class",
]

# Keys the SDK itself adds to a provider's inputs (not part of ProviderArgs).
_PROVIDER_EXTRA_KEYS = {"version", "pluginDownloadURL"}


class TypeTokenError(LookupError):
    pass


@functools.cache
def plugin_packages() -> dict[str, str]:
    """Pulumi package name (e.g. "azure-native") -> Python module (e.g. "pulumi_azure_native")."""
    out: dict[str, str] = {}
    for info in pkgutil.iter_modules():
        if not info.name.startswith("pulumi_") or not info.ispkg:
            continue
        spec = importlib.util.find_spec(info.name)
        if spec is None or not spec.submodule_search_locations:
            continue
        for loc in spec.submodule_search_locations:
            f = Path(loc) / "pulumi-plugin.json"
            if f.is_file():
                try:
                    meta = json.loads(f.read_text())
                except ValueError:
                    continue
                if meta.get("resource", True) and meta.get("name"):
                    out.setdefault(meta["name"], info.name)
    return out


def _split_token(token: str) -> tuple[str, str, str]:
    parts = token.split(":")
    if len(parts) != 3:
        raise TypeTokenError(f"malformed type token {token!r}")
    return parts[0], parts[1], parts[2]


@functools.cache
def resource_class(token: str) -> type | None:
    """The SDK class for a type token; None if the token is not of an installed provider package
    (a component).  Raises TypeTokenError for an unknown type of a known package."""
    pkg, mod, name = _split_token(token)
    if pkg == "pulumi" and mod == "providers":
        pymod = plugin_packages().get(name)
        if pymod is None:
            return None
        importlib.import_module(pymod)
        package = rpc.get_resource_package(name, "")
        info = getattr(package, "pkg_info", None)
        if info is None:
            raise TypeTokenError(f"{token}: package {pymod} registers no provider")
        return getattr(importlib.import_module(info["fqn"]), info["class"])
    pymod = plugin_packages().get(pkg)
    if pymod is None:
        return None
    importlib.import_module(pymod)
    module = rpc.get_resource_module(pkg, mod, "")
    info = getattr(module, "mod_info", None)
    if info is None or token not in info.get("classes", {}):
        raise TypeTokenError(f"{token}: no such resource type in {pymod} (module {mod!r})")
    return getattr(importlib.import_module(info["fqn"]), info["classes"][token])


def _unwrap_optional(tp: Any) -> Any:
    if typing.get_origin(tp) in (Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if len(args) == 1:
            return args[0]
    return tp


@functools.cache
def args_class(token: str) -> type | None:
    cls = resource_class(token)
    if cls is None:
        return None
    module = sys.modules[cls.__module__]
    for ov in typing.get_overloads(cls.__init__):
        ann = ov.__annotations__.get("args")
        if ann is None:
            continue
        if isinstance(ann, str):
            ann = eval(ann, vars(module))
        ann = _unwrap_optional(ann)
        if inspect.isclass(ann) and _types.is_input_type(ann):
            return ann
    for candidate in (f"{cls.__name__}InitArgs", f"{cls.__name__}Args"):
        c = getattr(module, candidate, None)
        if inspect.isclass(c) and _types.is_input_type(c) and c.__module__ == cls.__module__:
            return c
    raise TypeTokenError(f"{token}: cannot find the Args class of {cls.__module__}.{cls.__name__}")


@functools.cache
def _schema(cls: type) -> tuple[dict[str, Any], frozenset[str]]:
    """(pulumi name -> type, required pulumi names) of an input type."""
    names = _types.input_type_py_to_pulumi_names(cls)
    typs = _types.input_type_types(cls)
    allowed = {pn: typs.get(pn, Any) for pn in names.values()}
    required = set()
    params = list(inspect.signature(cls.__init__).parameters.values())[1:]
    for p in params:
        if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            continue
        if p.default is inspect.Parameter.empty:
            required.add(names.get(p.name, p.name))
    return allowed, frozenset(required)


def _is_plumbing(tp: Any) -> bool:
    if tp is pulumi.Output or typing.get_origin(tp) is pulumi.Output:
        return True
    if isinstance(tp, typing.ForwardRef):
        return tp.__forward_arg__.startswith("Output[")
    if typing.get_origin(tp) in (abc.Awaitable, abc.Coroutine, typing.Awaitable):
        return True
    return typing.is_typeddict(tp)


def _members(tp: Any) -> list[Any]:
    origin = typing.get_origin(tp)
    if origin in (Union, types.UnionType):
        out: list[Any] = []
        for a in typing.get_args(tp):
            if a is type(None) or _is_plumbing(a):
                continue
            out.extend(_members(a))
        return out
    if origin is pulumi.Output:
        return _members(typing.get_args(tp)[0])
    return [tp]


def _describe(tp: Any) -> str:
    if inspect.isclass(tp):
        return tp.__name__
    return repr(tp).replace("typing.", "")


def _kind(v: Any) -> str:
    return {dict: "object", list: "list", str: "string", bool: "bool", int: "int", float: "number"}.get(
        type(v), type(v).__name__
    )


def _short(v: Any) -> str:
    s = repr(v)
    return s if len(s) <= 60 else s[:57] + "..."


def _unwrap_secret(v: Any) -> Any:
    while rpc.is_rpc_secret(v):
        v = rpc.unwrap_rpc_secret(v)
    return v


def _skip_value(v: Any) -> bool:
    if v is None or is_unknown(v):
        return True
    if isinstance(v, dict) and rpc._special_sig_key in v:  # resource reference, asset, archive
        return True
    return isinstance(v, (pulumi.Asset, pulumi.Archive, pulumi.Resource))


class _Checker:
    def __init__(self, token: str, json_strings: bool = False) -> None:
        self.token = token
        self.json_strings = json_strings
        self.problems: list[str] = []

    def add(self, path: str, msg: str) -> None:
        self.problems.append(f"{self.token} {path}: {msg}")

    def check_object(self, cls: type, value: dict, path: str, extra_ok: frozenset[str] = frozenset()) -> None:
        allowed, required = _schema(cls)
        for key, v in value.items():
            if key in allowed:
                self.check_value(allowed[key], v, f"{path}.{key}")
            elif key not in extra_ok:
                self.add(path, f"unknown property {key!r} (allowed: {', '.join(sorted(allowed))})")
        for key in sorted(required):
            if value.get(key) is None:
                self.add(path, f"missing required property {key!r} ({cls.__name__})")

    def check_value(self, tp: Any, value: Any, path: str) -> None:
        value = _unwrap_secret(value)
        if _skip_value(value):
            return
        members = _members(tp)
        if not members or any(m is Any or isinstance(m, (typing.TypeVar, typing.ForwardRef)) for m in members):
            return
        if len(members) == 1:
            self.check_member(members[0], value, path)
            return
        attempts = []
        for m in members:
            sub = _Checker(self.token, self.json_strings)
            sub.check_member(m, value, path)
            if not sub.problems:
                return
            attempts.append((m, sub.problems))

        # Prefer the member whose shape matches (object for dicts), then the fewest problems.
        def rank(item):
            m, probs = item
            shape = inspect.isclass(m) and _types.is_input_type(m) and isinstance(value, dict)
            return (not shape, len(probs))

        best_m, best = min(attempts, key=rank)
        if len(attempts) > 1:
            self.add(
                path, f"value fits none of {', '.join(_describe(m) for m, _ in attempts)}; closest {_describe(best_m)}:"
            )
        self.problems.extend("    " + p for p in best)

    def check_member(self, m: Any, value: Any, path: str) -> None:
        if self.json_strings and isinstance(value, str) and m is not str:
            with contextlib.suppress(ValueError):
                value = json.loads(value)
        origin = typing.get_origin(m)
        args = typing.get_args(m)
        if origin in (list, abc.Sequence, typing.Sequence, tuple, abc.MutableSequence):
            if not isinstance(value, list):
                self.add(path, f"expected a list, got {_kind(value)} {_short(value)}")
                return
            elem = args[0] if args else Any
            for i, v in enumerate(value):
                self.check_value(elem, v, f"{path}[{i}]")
            return
        if origin in (dict, abc.Mapping, typing.Mapping, abc.MutableMapping):
            if not isinstance(value, dict):
                self.add(path, f"expected a map, got {_kind(value)} {_short(value)}")
                return
            vt = args[1] if len(args) == 2 else Any
            for k, v in value.items():
                self.check_value(vt, v, f"{path}.{k}")
            return
        if origin is typing.Literal:
            if value not in args:
                self.add(path, f"expected one of {list(args)}, got {_short(value)}")
            return
        if not inspect.isclass(m):
            return
        if _types.is_input_type(m):
            if not isinstance(value, dict):
                self.add(path, f"expected an object ({m.__name__}), got {_kind(value)} {_short(value)}")
                return
            self.check_object(m, value, path)
            return
        if issubclass(m, enum.Enum):
            allowed = [e.value for e in m]
            if value not in allowed:
                self.add(path, f"expected one of {allowed} ({m.__name__}), got {_short(value)}")
            return
        if m is bool:
            ok = isinstance(value, bool)
        elif m is int:
            ok = isinstance(value, int) and not isinstance(value, bool)
        elif m is float:
            ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        elif m is str:
            ok = isinstance(value, str)
        elif m in (dict, abc.Mapping):
            ok = isinstance(value, dict)
        elif m in (list, abc.Sequence):
            ok = isinstance(value, list)
        else:
            return  # other classes (assets, resources, ...) are not checked
        if not ok:
            self.add(path, f"expected {m.__name__}, got {_kind(value)} {_short(value)}")


def check_inputs(resource_type_token: str, inputs: dict) -> list[str]:
    """Problems of `inputs` (camelCase, as the engine receives them) against the SDK's Args type
    of `resource_type_token`.  [] for components and resources of no installed provider package."""
    try:
        cls = args_class(resource_type_token)
    except TypeTokenError as exn:
        return [str(exn)]
    if cls is None:
        return []
    provider = resource_type_token.startswith("pulumi:providers:")
    checker = _Checker(resource_type_token, json_strings=provider)
    checker.check_object(cls, inputs, "$", frozenset(_PROVIDER_EXTRA_KEYS) if provider else frozenset())
    return checker.problems


def check_run(run: Any) -> list[str]:
    """Problems of every registered custom resource of a `ProgramRun`."""
    problems: list[str] = []
    for r in run.resources:
        if not r.custom or r.kind != "register":
            continue
        for p in check_inputs(r.type, r.inputs):
            where = f" [{r.name!r}" + (f" at {r.source}" if r.source else "") + "]"
            problems.append(p + (where if not p.startswith("    ") else ""))
    return problems


def assert_valid_inputs(run: Any) -> None:
    problems = check_run(run)
    if problems:
        count = len([p for p in problems if not p.startswith("    ")])
        raise AssertionError(f"{count} input problem(s) against the provider SDK types:\n" + "\n".join(problems))
