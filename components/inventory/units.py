"""Sizes (``100M``, ``20G``) and docker durations (``10s``, ``1m30s``)."""

from __future__ import annotations

import re

from components.inventory.schema import Node

_SIZE = re.compile(r"(?i)(\d+(?:\.\d+)?)\s*([kmgt]?)(?:i?b)?")
_FACTORS = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}
_DURATION = re.compile(r"(\d+(\.\d+)?(ns|us|µs|ms|s|m|h))+")

SIZE_ALLOWED = "a size like 512M, 20G or 1T (binary units; a bare number is bytes)"
DURATION_ALLOWED = "a duration like 500ms, 10s, 1m30s or 2h"


def parse_size(text: str) -> int | None:
    """Bytes for ``text``; None when it is not a size."""
    match = _SIZE.fullmatch(text.strip())
    if not match:
        return None
    value = int(float(match.group(1)) * _FACTORS[match.group(2).lower()])
    return value if value > 0 else None


def size_of(node: Node) -> int:
    """A size value (string with unit, or an integer number of bytes)."""
    if isinstance(node.value, bool):
        raise node.bad(SIZE_ALLOWED)
    value = parse_size(str(node.value)) if isinstance(node.value, (str, int)) else None
    if value is None:
        raise node.bad(SIZE_ALLOWED)
    return value


def duration_of(node: Node) -> str:
    """A docker duration string; an integer is taken as seconds."""
    if isinstance(node.value, int) and not isinstance(node.value, bool) and node.value >= 0:
        return f"{node.value}s"
    text = node.string()
    if not _DURATION.fullmatch(text):
        raise node.bad(DURATION_ALLOWED)
    return text
