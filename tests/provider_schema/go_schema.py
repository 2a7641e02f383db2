"""Read a terraform-plugin-sdk/v2 resource schema out of its Go source — the constraint table's origin.

``parse_resource(source, func)`` finds ``func <func>() *schema.Resource`` in ``source`` and returns its
``Schema: map[string]*schema.Schema{…}`` as plain data: per attribute its ``type``, the flags ``required``,
``optional``, ``computed``, ``force_new``, ``max_items``, ``has_default``, the path lists ``conflicts_with``,
``exactly_one_of``, ``at_least_one_of``, ``required_with``, a ``validate`` descriptor for the validators the
provider uses (``validateStringMatchesPattern``, ``validation.StringInSlice``, ``validateIntegerGeqThan``,
``validateDurationGeq0``, ``validateStringIsFloatRatio``; any other is kept as its source text), and, for a
block, its ``fields``. ``Elem: labelSchema`` / ``labelSchemaUpdatable`` (helpers.go ``newLabelSchema``) are
resolved to their two fields.

It is a reader for the literal style of kreuzwerker/terraform-provider-docker (``"key": { Field: value, … }``),
not a Go parser: anything it does not understand raises :class:`SchemaSyntaxError`, so a provider upgrade that
changes the style fails the refresh instead of yielding a silently thinner table.
"""

from __future__ import annotations

import re
from typing import Any

BOOL_FLAGS = {"Required": "required", "Optional": "optional", "Computed": "computed", "ForceNew": "force_new"}
PATH_LISTS = {
    "ConflictsWith": "conflicts_with",
    "ExactlyOneOf": "exactly_one_of",
    "AtLeastOneOf": "at_least_one_of",
    "RequiredWith": "required_with",
}
IGNORED = {
    "Description", "Sensitive", "DiffSuppressFunc", "DiffSuppressOnRefresh", "StateFunc", "Set", "Deprecated",
    "DefaultFunc", "ConfigMode", "InputDefault", "MinItems",
}  # fmt: skip
LABEL_SCHEMAS = {"labelSchema": True, "labelSchemaUpdatable": False}  # Elem reference → its ForceNew


class _Context:
    """What an ``Elem`` may refer to: the label fields (helpers.go) and the file's ``var x = &schema.Resource{…}``."""

    def __init__(self, label_fields: dict[str, Any], variables: dict[str, str]) -> None:
        self.label_fields = label_fields
        self.variables = variables


class SchemaSyntaxError(ValueError):
    """The Go source has a construct this reader does not know."""


def _skip_string(text: str, i: int) -> int:
    quote = text[i]
    i += 1
    while i < len(text):
        if quote == '"' and text[i] == "\\":
            i += 2
            continue
        if text[i] == quote:
            return i + 1
        i += 1
    raise SchemaSyntaxError("unterminated string")


def _skip_space(text: str, i: int) -> int:
    while i < len(text):
        if text[i].isspace():
            i += 1
        elif text.startswith("//", i):
            i = text.index("\n", i) + 1 if "\n" in text[i:] else len(text)
        elif text.startswith("/*", i):
            i = text.index("*/", i) + 2
        else:
            return i
    return i


def _end_of_value(text: str, i: int) -> int:
    """Index of the ``,`` or closing bracket ending the value that starts at ``i`` (brackets balanced)."""
    depth = 0
    while i < len(text):
        c = text[i]
        if c in '"`':
            i = _skip_string(text, i)
            continue
        if text.startswith("//", i) or text.startswith("/*", i):
            i = _skip_space(text, i)
            continue
        if c in "{([":
            depth += 1
        elif c in "})]":
            if depth == 0:
                return i
            depth -= 1
        elif c == "," and depth == 0:
            return i
        i += 1
    raise SchemaSyntaxError("unterminated value")


def _go_string(token: str) -> str:
    token = token.strip()
    if token.startswith("`"):
        return token[1:-1]
    if token.startswith('"'):
        return bytes(token[1:-1], "utf-8").decode("unicode_escape")
    raise SchemaSyntaxError(f"not a string literal: {token!r}")


def _string_list(value: str) -> list[str]:
    match = re.fullmatch(r"\[\]string\{(.*)\}", value.strip(), re.DOTALL)
    if not match:
        raise SchemaSyntaxError(f"not a []string literal: {value!r}")
    body = match.group(1)
    return [_go_string(t) for t in re.findall(r'"(?:[^"\\]|\\.)*"|`[^`]*`', body)]


def _validator(value: str) -> dict[str, Any]:
    value = value.strip()
    if m := re.fullmatch(r"validateStringMatchesPattern\((.*)\)", value, re.DOTALL):
        return {"kind": "pattern", "pattern": _go_string(m.group(1))}
    if m := re.fullmatch(r"validation\.StringInSlice\((\[\]string\{.*\}),\s*(true|false)\)", value, re.DOTALL):
        return {"kind": "one_of", "values": _string_list(m.group(1)), "ignore_case": m.group(2) == "true"}
    if m := re.fullmatch(r"validateIntegerGeqThan\((-?\d+)\)", value):
        return {"kind": "int_min", "min": int(m.group(1))}
    if value == "validateDurationGeq0()":
        return {"kind": "duration_min0"}
    if value == "validateStringIsFloatRatio()":
        return {"kind": "float_ratio"}
    return {"kind": "other", "source": re.sub(r"\s+", " ", value)}


def _fields(text: str, start: int) -> tuple[dict[str, str], int]:
    """``{ Key: value, … }`` at ``start`` (the ``{``) → ({Key: value source}, index after ``}``)."""
    if text[start] != "{":
        raise SchemaSyntaxError(f"expected '{{' at {start}")
    i = start + 1
    out: dict[str, str] = {}
    while True:
        i = _skip_space(text, i)
        if text[i] == "}":
            return out, i + 1
        m = re.compile(r"([A-Za-z_]\w*)\s*:").match(text, i)
        if not m:
            raise SchemaSyntaxError(f"expected 'Field:' near {text[i : i + 40]!r}")
        j = _skip_space(text, m.end())
        end = _end_of_value(text, j)
        out[m.group(1)] = text[j:end].strip()
        i = end + 1 if text[end] == "," else end


def _schema_map(text: str, start: int, ctx: _Context) -> tuple[dict[str, Any], int]:
    """``map[string]*schema.Schema{ "name": {…}, … }`` with ``start`` at its ``{``."""
    if text[start] != "{":
        raise SchemaSyntaxError(f"expected '{{' at {start}")
    i = start + 1
    out: dict[str, Any] = {}
    while True:
        i = _skip_space(text, i)
        if text[i] == "}":
            return out, i + 1
        if text[i] != '"':
            raise SchemaSyntaxError(f"expected an attribute name near {text[i : i + 40]!r}")
        end = _skip_string(text, i)
        name = _go_string(text[i:end])
        i = _skip_space(text, end)
        if text[i] != ":":
            raise SchemaSyntaxError(f"{name}: expected ':'")
        i = _skip_space(text, i + 1)
        raw, after = _fields(text, i)
        out[name] = _attribute(name, raw, ctx)
        i = _skip_space(text, after)
        if text[i] == ",":
            i += 1


def _elem(name: str, value: str, ctx: _Context) -> dict[str, Any]:
    value = value.strip()
    if value in LABEL_SCHEMAS:
        force_new = LABEL_SCHEMAS[value]
        return {"fields": {k: {**v, "force_new": force_new} for k, v in ctx.label_fields.items()}}
    if m := re.match(r"&schema\.Resource\s*", value):
        raw, _ = _fields(value, m.end())
        if "Schema" not in raw:
            raise SchemaSyntaxError(f"{name}: Elem resource without Schema")
        m2 = re.match(r"map\[string\]\*schema\.Schema\s*", raw["Schema"])
        if not m2:
            raise SchemaSyntaxError(f"{name}: Elem Schema is no map literal")
        fields, _ = _schema_map(raw["Schema"], m2.end(), ctx)
        return {"fields": fields}
    if m := re.match(r"&schema\.Schema\s*", value):
        raw, _ = _fields(value, m.end())
        return {"elem_type": raw.get("Type", "").removeprefix("schema.")}
    if value in ctx.variables:
        return _elem(name, ctx.variables[value], ctx)
    raise SchemaSyntaxError(f"{name}: Elem {value[:40]!r} is not understood")


def _attribute(name: str, raw: dict[str, str], ctx: _Context) -> dict[str, Any]:
    attr: dict[str, Any] = {"type": raw.get("Type", "").removeprefix("schema.")}
    for key, value in raw.items():
        if key == "Type" or key in IGNORED:
            continue
        if key in BOOL_FLAGS:
            if value not in ("true", "false", "forceNew"):
                raise SchemaSyntaxError(f"{name}.{key}: {value!r}")
            attr[BOOL_FLAGS[key]] = value == "true" or value == "forceNew"
        elif key in PATH_LISTS:
            attr[PATH_LISTS[key]] = _string_list(value)
        elif key in ("ValidateFunc", "ValidateDiagFunc"):
            attr["validate"] = _validator(value)
        elif key == "MaxItems":
            attr["max_items"] = int(value)
        elif key == "Default":
            attr["has_default"] = True
        elif key == "Elem":
            attr.update(_elem(name, value, ctx))
        else:
            raise SchemaSyntaxError(f"{name}: field {key} is not understood")
    return attr


def _label_fields(helpers_source: str) -> dict[str, Any]:
    m = re.search(r"func newLabelSchema\(forceNew bool\) \*schema\.Resource \{", helpers_source)
    if not m:
        raise SchemaSyntaxError("helpers.go: newLabelSchema not found")
    m2 = re.compile(r"Schema:\s*map\[string\]\*schema\.Schema\s*").search(helpers_source, m.end())
    if not m2:
        raise SchemaSyntaxError("helpers.go: newLabelSchema has no Schema map")
    fields, _ = _schema_map(helpers_source, m2.end(), _Context({}, {}))
    return fields


def parse_resource(source: str, func: str, helpers_source: str = "") -> dict[str, Any]:
    """The schema of ``func`` (e.g. ``resourceDockerService``) in ``source``."""
    m = re.search(rf"func {re.escape(func)}\(\) \*schema\.Resource \{{", source)
    if not m:
        raise SchemaSyntaxError(f"func {func} not found")
    m2 = re.compile(r"\n\t\tSchema:\s*map\[string\]\*schema\.Schema\s*").search(source, m.end())
    if not m2:
        raise SchemaSyntaxError(f"{func}: no Schema map")
    labels = _label_fields(helpers_source) if helpers_source else {}
    variables = {}
    for v in re.finditer(r"^var (\w+) = &schema\.Resource\s*\{", source, re.MULTILINE):
        _, end = _fields(source, v.end() - 1)
        variables[v.group(1)] = source[v.start() + len(f"var {v.group(1)} = ") : end]
    fields, _ = _schema_map(source, m2.end(), _Context(labels, variables))
    return fields
