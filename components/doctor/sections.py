"""Split the output of ``collect.sh`` into its checks: ``### <check> rc=<status>`` then the output."""

from __future__ import annotations

import re
from dataclasses import dataclass

HEADER = re.compile(r"^### (?P<name>[a-z0-9-]+) rc=(?P<rc>\d+)$")


@dataclass(frozen=True)
class Section:
    name: str
    rc: int
    text: str

    @property
    def ok(self) -> bool:
        return self.rc == 0

    def first_line(self) -> str:
        return next((line.strip() for line in self.text.splitlines() if line.strip()), "(no output)")


def split_sections(output: str) -> dict[str, Section]:
    sections: dict[str, Section] = {}
    name: str | None = None
    rc = 0
    lines: list[str] = []
    for line in output.splitlines():
        match = HEADER.match(line)
        if match:
            if name is not None:
                sections[name] = Section(name, rc, "\n".join(lines))
            name, rc, lines = match["name"], int(match["rc"]), []
        elif name is not None:
            lines.append(line)
    if name is not None:
        sections[name] = Section(name, rc, "\n".join(lines))
    return sections
