"""Reading the project's YAML files into plain data, every failure as one :class:`ConfigError` line.

Two dialects, because two different readers consume the files:

* ``Pulumi.yaml`` / ``Pulumi.<stack>.yaml`` are read by the Pulumi engine, not by this program: the engine
  hands the program its own reading of them. :func:`load_pulumi_yaml` reads them the way the engine does, so
  the offline command and ``pulumi up`` see the same values (pulumi/pulumi @1b5949891b3c):

  - ``sdk/go/common/workspace/loaders.go`` ``LoadProjectStack``: ``readFileStripUTF8BOM`` (a UTF-8 BOM is
    dropped), then ``marshaller.Unmarshal(b, &projectStackRaw)`` into ``any``; unqualified config keys get the
    project's namespace (``stackConfigNamespacedWithProject``).
  - ``sdk/go/common/encoding/marshal.go`` ``yamlMarshaler.Unmarshal`` = ``gopkg.in/yaml.v3`` ``yaml.Unmarshal``.
  - go-yaml/yaml branch v3 @f6f7691b1fde ``resolve.go`` ``resolve``: plain scalars are
    ``true|True|TRUE|false|False|FALSE`` (bool), ``""|~|null|Null|NULL`` (null),
    ``strconv.ParseInt(plain, 0, 64)`` after removing ``_`` (so ``0x1f``, ``0o17``, ``017`` and ``1_000`` are
    integers), floats, timestamps — ``yes``/``no``/``on``/``off`` stay
    strings (YAML 1.2, not PyYAML's 1.1).
  - go-yaml/yaml v3 ``decode.go`` ``(*decoder).mapping``: a key repeated in one mapping is an error
    ``line N: mapping key "k" already defined at line M`` — the engine refuses the file
    (``encoding/marshal.go``: ``invalid YAML file: …``); :func:`refuse_duplicate_keys` refuses it here.
  - ``sdk/go/common/resource/config/object.go`` ``unmarshalObject`` + ``MarshalString``: a scalar config value
    becomes a string (bools/numbers as their JSON text: ``yes`` → ``"yes"``, ``0x10`` → ``"16"``), a
    ``{secure: …}`` mapping a secret, anything else (lists, mappings, null) JSON text with ``object=true``.
    :func:`engine_string` reproduces that string: it is exactly what the program receives from the engine.

* ``services/*.yml`` are read by this program only (on both paths): hive-builder's files, YAML 1.1 as PyYAML
  reads them, but a repeated key is refused and a non-string key is named with a hint to quote it.
"""

from __future__ import annotations

import datetime
import json
import math
import re
from pathlib import Path
from typing import Any

import yaml

from components.inventory.errors import ConfigError

BOM = b"\xef\xbb\xbf"


def read_text(path: Path, display: str) -> str:
    """A file's text, UTF-8 (a leading BOM dropped, as Pulumi does); one line for every way that fails."""
    if path.is_dir():
        raise ConfigError(display, (), "is a directory", "a YAML file")
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(display, (), "file not found") from None
    except OSError as exc:
        raise ConfigError(display, (), f"cannot be read ({exc.strerror or exc})") from None
    data = data.removeprefix(BOM)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise ConfigError(
            display, (), f"line {line}: is not UTF-8 text (byte 0x{data[exc.start]:02x} at offset {exc.start})",
            "save it as UTF-8",
        ) from None  # fmt: skip


def _syntax_error(display: str, exc: yaml.YAMLError) -> ConfigError:
    """The parser's whole complaint, with the line and column it points at (1-based)."""
    if isinstance(exc, yaml.MarkedYAMLError) and exc.problem_mark is not None:
        mark = exc.problem_mark
        problem = exc.problem or "syntax error"
        if exc.context:
            where = exc.context_mark
            at = f" at line {where.line + 1}, column {where.column + 1}" if where is not None else ""
            problem += f" ({exc.context}{at})"
        return ConfigError(display, (), f"line {mark.line + 1}, column {mark.column + 1}: invalid YAML: {problem}")
    return ConfigError(display, (), f"invalid YAML: {' '.join(str(exc).split())}")


# -- services files: YAML 1.1 (PyYAML), duplicate keys refused -----------------------------------------


class NonStringKey:
    """A mapping key YAML did not read as a string (``8080:``, ``on:``); kept so the error can say so."""

    def __init__(self, value: Any, text: str) -> None:
        self.value = value
        self.text = text

    def __repr__(self) -> str:
        return self.text

    def __hash__(self) -> int:
        return hash((type(self.value), self.text))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, NonStringKey) and (type(self.value), self.text) == (type(other.value), other.text)


class _ServicesLoader(yaml.SafeLoader):
    """PyYAML's safe loader; a key YAML does not read as a string is kept as :class:`NonStringKey`."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        self.flatten_mapping(node)
        result: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            key = self.construct_object(key_node, deep=deep)
            if not isinstance(key, str) and isinstance(key_node, yaml.ScalarNode):
                key = NonStringKey(key, key_node.value)
            try:
                hash(key)
            except TypeError:
                raise yaml.constructor.ConstructorError(
                    None, None, "a mapping key must be a scalar", key_node.start_mark
                ) from None
            result[key] = self.construct_object(value_node, deep=deep)
        return result


_ServicesLoader.add_constructor("tag:yaml.org,2002:map", _ServicesLoader.construct_mapping)


def refuse_duplicate_keys(node: yaml.Node | None, display: str, path: tuple[str | int, ...] = ()) -> None:
    """A key written twice in one mapping is an error naming the key path and both lines.

    yaml.v3 compares keys by their text (decode.go ``ni.Kind == nj.Kind && ni.Value == nj.Value``); so do we.
    A stack file's config key is shown as itself (``hive:cidr``), as in every other error about it."""
    if isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            refuse_duplicate_keys(item, display, (*path, index))
    elif isinstance(node, yaml.MappingNode):
        lines: dict[str, int] = {}
        for key_node, value_node in node.value:
            key = str(key_node.value) if isinstance(key_node, yaml.ScalarNode) else "?"
            line = key_node.start_mark.line + 1
            if key in lines:
                raise ConfigError(
                    display, _shown((*path, key)), f"is defined twice (line {lines[key]} and line {line})",
                    "each key once per mapping; delete one",
                )  # fmt: skip
            lines[key] = line
            refuse_duplicate_keys(value_node, display, (*path, key))


def _shown(path: tuple[str | int, ...]) -> tuple[str | int, ...]:
    if len(path) > 1 and path[0] == "config" and isinstance(path[1], str) and ":" in path[1]:
        return path[1:]
    return path


def load_services_yaml(path: Path, display: str) -> Any:
    text = read_text(path, display)
    loader = _ServicesLoader(text)
    try:
        node = loader.get_single_node()
        refuse_duplicate_keys(node, display)
        return None if node is None else loader.construct_document(node)
    except yaml.YAMLError as exc:
        raise _syntax_error(display, exc) from None
    finally:
        loader.dispose()


# -- Pulumi files: what gopkg.in/yaml.v3 makes of them ------------------------------------------------

_V3_BOOL = {"true": True, "True": True, "TRUE": True, "false": False, "False": False, "FALSE": False}
_V3_NULL = {"", "~", "null", "Null", "NULL"}
_V3_SPECIAL_FLOAT = {
    ".nan": math.nan, ".NaN": math.nan, ".NAN": math.nan,
    ".inf": math.inf, ".Inf": math.inf, ".INF": math.inf, "+.inf": math.inf, "+.Inf": math.inf, "+.INF": math.inf,
    "-.inf": -math.inf, "-.Inf": -math.inf, "-.INF": -math.inf,
}  # fmt: skip
# yaml.v3 resolve.go: yamlStyleFloat and allowedTimestampFormats (date-only and RFC 3339-like forms).
_V3_FLOAT = re.compile(r"^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$")
_V3_TIMESTAMP = re.compile(r"^\d{4}-\d{1,2}-\d{1,2}([Tt ]|$)")
_GO_INT = re.compile(r"^[-+]?(0[xX][0-9a-fA-F]+|0[oO][0-7]+|0[bB][01]+|0[0-7]*|[1-9][0-9]*)$")


def _go_parse_int(text: str) -> int | None:
    """Go's ``strconv.ParseInt(text, 0, 64)`` (base from the prefix; a bare leading 0 is octal)."""
    if not _GO_INT.match(text):
        return None
    sign = -1 if text[0] == "-" else 1
    digits = text.lstrip("+-")
    prefix = digits[:2].lower()
    if prefix in ("0x", "0o", "0b"):
        value = int(digits[2:], {"0x": 16, "0o": 8, "0b": 2}[prefix])
    elif len(digits) > 1 and digits[0] == "0":
        value = int(digits[1:], 8)
    else:
        value = int(digits)
    value *= sign
    return value if -(1 << 63) <= value < (1 << 64) else None


def resolve_v3(text: str) -> Any:
    """The value yaml.v3 gives a *plain* (unquoted, untagged) scalar decoded into ``any``."""
    if text in _V3_BOOL:
        return _V3_BOOL[text]
    if text in _V3_NULL:
        return None
    if text in _V3_SPECIAL_FLOAT:
        return _V3_SPECIAL_FLOAT[text]
    if not text or (text[0] not in "+-.0123456789"):
        return text
    if text[0] == ".":
        try:
            return float(text)
        except ValueError:
            return text
    if _V3_TIMESTAMP.match(text):
        try:
            stamp = datetime.datetime.fromisoformat(text)
        except ValueError:
            stamp = None
        if stamp is not None:
            return stamp
    plain = text.replace("_", "")
    integer = _go_parse_int(plain)
    if integer is not None:
        return integer
    if _V3_FLOAT.match(plain):
        return float(plain)
    return text


_PLAIN_TAG = "!hive-plain"


class _PulumiLoader(yaml.SafeLoader):
    """Only PyYAML's scanner, parser and composer are used; plain scalars keep a marker tag and are resolved
    by :func:`resolve_v3` (yaml.v3's rules), quoted or explicitly tagged ones stay strings."""

    def resolve(self, kind: type, value: Any, implicit: tuple[bool, bool]) -> str:
        if kind is yaml.ScalarNode and implicit[0]:
            return _PLAIN_TAG
        return super().resolve(kind, value, implicit)


def _plain(node: yaml.Node, display: str) -> Any:
    if isinstance(node, yaml.ScalarNode):
        return resolve_v3(node.value) if node.tag == _PLAIN_TAG else node.value
    if isinstance(node, yaml.SequenceNode):
        return [_plain(item, display) for item in node.value]
    result: dict[str, Any] = {}
    for key_node, value_node in node.value:
        if not isinstance(key_node, yaml.ScalarNode):
            raise ConfigError(display, (), f"line {key_node.start_mark.line + 1}: a mapping key must be a scalar")
        result[key_node.value] = _plain(value_node, display)
    return result


def load_pulumi_yaml(path: Path, display: str) -> Any:
    """``Pulumi.yaml`` / ``Pulumi.<stack>.yaml`` as the engine reads them (see the module docstring)."""
    text = read_text(path, display)
    try:
        node = yaml.compose(text, Loader=_PulumiLoader)
    except yaml.YAMLError as exc:
        raise _syntax_error(display, exc) from None
    refuse_duplicate_keys(node, display)
    return None if node is None else _plain(node, display)


def _go_json(value: Any) -> Any:
    if isinstance(value, datetime.datetime):
        # object.go unmarshalObject: time.Time → v.String() ("2006-01-02 15:04:05 +0000 UTC").
        stamp = value if value.tzinfo else value.replace(tzinfo=datetime.UTC)
        return stamp.strftime("%Y-%m-%d %H:%M:%S %z ") + (stamp.tzname() or "UTC")
    if isinstance(value, dict):
        return {k: _go_json(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_go_json(v) for v in value]
    return value


def _go_float(value: float) -> str:
    """Go ``encoding/json`` of a float64 (integral values without a fraction, 1e21 and up in exponent form)."""
    if math.isnan(value) or math.isinf(value):
        return json.dumps(value)  # Go refuses these; the engine would fail: keep a visible text
    if value.is_integer() and abs(value) < 1e21:
        return str(int(value))
    return repr(value)


def is_secure(value: Any) -> bool:
    """``{secure: <ciphertext>}`` (object.go ``isSecureValue``)."""
    return isinstance(value, dict) and len(value) == 1 and isinstance(value.get("secure"), str)


def engine_string(value: Any) -> str:
    """The string the engine hands the program for a stack config value (object.go ``MarshalString``)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return _go_float(value)
    if isinstance(value, str):
        return value
    if isinstance(value, datetime.datetime):
        return _go_json(value)
    return json.dumps(_go_json(value), separators=(",", ":"), ensure_ascii=False)
