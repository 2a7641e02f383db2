"""Typed, path-aware reading of untrusted YAML/config values.

A :class:`Node` is a value plus where it came from (file and key path). Every accessor either returns a
clean Python value or raises one :class:`ConfigError` naming the file, the key path, the bad value and what
is allowed.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from components.inventory.errors import ConfigError, KeyPath

_MISSING = object()


def _show(value: Any) -> str:
    if isinstance(value, str):
        return repr(value) if value == "" or value.strip() != value else value
    return repr(value)


@dataclass(frozen=True)
class Node:
    """An untrusted value with its origin."""

    value: Any
    file: str
    path: KeyPath

    # -- errors -----------------------------------------------------------------------------------------
    def error(self, problem: str, allowed: str | None = None) -> ConfigError:
        return ConfigError(self.file, self.path, problem, allowed)

    def bad(self, allowed: str) -> ConfigError:
        """``<value> is not allowed`` style error for the value itself."""
        return self.error(f"{_show(self.value)} is invalid", allowed)

    # -- navigation -------------------------------------------------------------------------------------
    def at(self, key: str | int, value: Any) -> Node:
        return Node(value, self.file, (*self.path, key))

    def mapping(self, allowed: Iterable[str] | None = None, required: Iterable[str] = ()) -> dict[str, Node]:
        """The value as a mapping of child nodes; unknown and missing keys are errors."""
        if self.value is None:
            value: Mapping[Any, Any] = {}
        elif isinstance(self.value, Mapping):
            value = self.value
        else:
            raise self.error(f"expected a mapping, got {type(self.value).__name__} {_show(self.value)}")
        allowed_set = None if allowed is None else set(allowed)
        children: dict[str, Node] = {}
        for key, child in value.items():
            if not isinstance(key, str):
                raise self.error(*_key_problem(key))
            if allowed_set is not None and key not in allowed_set:
                raise self.at(key, child).error("unknown key", "allowed: " + ", ".join(sorted(allowed_set)))
            children[key] = self.at(key, child)
        for key in required:
            if key not in children or children[key].value is None:
                raise self.at(key, None).error("is required")
        return children

    def items(self) -> list[Node]:
        """The value as a list of child nodes (a scalar is not promoted)."""
        if self.value is None:
            return []
        if not isinstance(self.value, list):
            raise self.error(f"expected a list, got {type(self.value).__name__} {_show(self.value)}")
        return [self.at(i, v) for i, v in enumerate(self.value)]

    # -- scalars ----------------------------------------------------------------------------------------
    def string(self, pattern: str | None = None, allowed: str | None = None, max_len: int | None = None) -> str:
        if isinstance(self.value, bool):
            raise self.error(
                f"expected a string, got boolean {self.value}",
                "YAML 1.1 reads yes/no/on/off/true/false as booleans: quote the value, e.g. 'on'",
            )
        if not isinstance(self.value, (str, int, float)):
            raise self.error(f"expected a string, got {type(self.value).__name__} {_show(self.value)}")
        text = str(self.value)
        if pattern is not None and not re.fullmatch(pattern, text):
            raise self.bad(allowed or f"must match {pattern}")
        if max_len is not None and len(text) > max_len:
            raise self.error(f"{_show(text)} is {len(text)} characters long", f"at most {max_len}")
        return text

    def choice(self, options: Iterable[str]) -> str:
        opts = list(options)
        text = self.string()
        if text not in opts:
            raise self.bad("allowed: " + ", ".join(opts))
        return text

    def integer(self, minimum: int | None = None, maximum: int | None = None) -> int:
        value = self.value
        if isinstance(value, str) and re.fullmatch(r"-?\d+", value.strip()):
            value = int(value)
        if isinstance(value, float) and value.is_integer():
            value = int(value)  # the engine's wire carries numbers as doubles (e.g. a StackReference output)
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.error(f"expected an integer, got {_show(self.value)}")
        if (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
            low = "" if minimum is None else str(minimum)
            high = "" if maximum is None else str(maximum)
            raise self.bad(f"an integer in {low}..{high}")
        return value

    def number(self, minimum: float = 0.0) -> float:
        value = self.value
        if isinstance(value, str):
            try:
                value = float(value)
            except ValueError:
                raise self.error(f"expected a number, got {_show(self.value)}") from None
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= minimum:
            raise self.bad(f"a number greater than {minimum:g}")
        return float(value)

    def boolean(self) -> bool:
        value = self.value
        if isinstance(value, str) and value.lower() in ("true", "false"):
            return value.lower() == "true"
        if not isinstance(value, bool):
            if isinstance(value, str) and value.lower() in ("yes", "no", "on", "off", "y", "n"):
                raise self.bad(
                    "true or false: YAML 1.2, which Pulumi reads stack files with, takes yes/no/on/off as strings"
                )
            raise self.bad("true or false")
        return value

    def string_list(self, pattern: str | None = None, allowed: str | None = None) -> list[str]:
        """A list of strings; a single string is accepted as a one-element list."""
        if isinstance(self.value, str):
            return [self.string(pattern, allowed)]
        return [item.string(pattern, allowed) for item in self.items()]

    def string_map(self) -> dict[str, str]:
        """A mapping of string → scalar (scalars are stringified, as docker does)."""
        result: dict[str, str] = {}
        for key, child in self.mapping().items():
            if isinstance(child.value, bool):
                result[key] = "true" if child.value else "false"
            elif child.value is None:
                result[key] = ""
            else:
                result[key] = child.string()
        return result

    # -- network values ---------------------------------------------------------------------------------
    def network(self) -> ipaddress.IPv4Network:
        text = self.string()
        try:
            net = ipaddress.ip_network(text, strict=True)
        except ValueError as exc:
            raise self.error(f"{_show(text)} is not a network address ({exc})", "e.g. 10.1.0.0/24") from None
        if not isinstance(net, ipaddress.IPv4Network):
            raise self.bad("an IPv4 network in CIDR notation")
        return net

    def address(self) -> ipaddress.IPv4Address:
        text = self.string()
        try:
            addr = ipaddress.ip_address(text)
        except ValueError:
            raise self.bad("an IPv4 address, e.g. 10.1.0.4") from None
        if not isinstance(addr, ipaddress.IPv4Address):
            raise self.bad("an IPv4 address")
        return addr


def _key_problem(key: Any) -> tuple[str, str]:
    """The error for a mapping key YAML did not read as a string, with the hint to quote it."""
    text = getattr(key, "text", repr(key))
    value = getattr(key, "value", key)
    if isinstance(value, bool):
        return (
            f"key {text} is read as the boolean {value}, not a name",
            f"YAML 1.1 reads yes/no/on/off as booleans: quote it, '{text}'",
        )
    if isinstance(value, (int, float)):
        return f"key {text} is read as a number, not a name", f"quote it: '{text}'"
    return f"key {text} is not a string", "a name"


def default(nodes: Mapping[str, Node], key: str, fallback: Any = None) -> Any:
    """The raw value of ``key`` when present and not null, else ``fallback``."""
    node = nodes.get(key)
    return fallback if node is None or node.value is None else node.value


def present(nodes: Mapping[str, Node], key: str) -> bool:
    node = nodes.get(key)
    return node is not None and node.value is not None
