"""The one error type bad input produces: file, key path, what is wrong, what is allowed."""

from __future__ import annotations

from collections.abc import Sequence

# A key path is a sequence of mapping keys (str) and list indexes (int).
KeyPath = Sequence[str | int]


def format_path(path: KeyPath) -> str:
    """``("hive:subnets", 2, "cidr")`` → ``hive:subnets[2].cidr``."""
    text = ""
    for part in path:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else part
    return text


class ConfigError(ValueError):
    """Invalid configuration; ``str()`` is the one line an operator sees.

    ``FILE: key.path: what is wrong (what is allowed)``
    """

    def __init__(self, file: str, path: KeyPath, problem: str, allowed: str | None = None) -> None:
        self.file = file
        self.path = tuple(path)
        self.problem = problem
        self.allowed = allowed
        line = f"{file}: {format_path(path)}: {problem}" if path else f"{file}: {problem}"
        if allowed:
            line += f" ({allowed})"
        super().__init__(line)
