"""Sizes (``100M``, ``20G``) and docker durations (``10s``, ``1m30s``)."""

from __future__ import annotations

import re
from decimal import Decimal

from components.inventory.schema import Node

_SIZE = re.compile(r"(?i)(\d+(?:\.\d+)?)\s*([kmgt]?)(?:i?b)?")
_FACTORS = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}
_DURATION = re.compile(r"(\d+(\.\d+)?(ns|us|µs|ms|s|m|h))+")
_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)")
_NANOSECONDS = {"ns": 1, "us": 1_000, "µs": 1_000, "ms": 1_000_000, "s": 10**9, "m": 60 * 10**9, "h": 3600 * 10**9}
# Docker keeps durations as Go time.Duration: int64 nanoseconds (time.ParseDuration refuses more: "invalid
# duration"), about 292 years.
MAX_DURATION_NS = (1 << 63) - 1

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
        text = f"{node.value}s"
    else:
        text = node.string()
        if not _DURATION.fullmatch(text):
            raise node.bad(DURATION_ALLOWED)
    if duration_ns(text) > MAX_DURATION_NS:
        raise node.error(f"{text} is longer than docker can hold", "at most 2562047h (Go's time.Duration)")
    return text


def duration_ns(text: str) -> int:
    """Nanoseconds of a duration string that matched ``_DURATION``."""
    return int(sum(Decimal(n) * _NANOSECONDS[unit] for n, unit in _DURATION_PART.findall(text)))
