"""A doctor finding: one line per problem, with the runbook section that repairs it."""

from __future__ import annotations

import enum
import re
from dataclasses import asdict, dataclass
from functools import cache
from pathlib import Path

RUNBOOK = Path(__file__).resolve().parents[2] / "monitoring" / "runbook.md"
RUNBOOK_REF = "monitoring/runbook.md#"


class Severity(enum.Enum):
    ACTION = "action"  # something is broken: the doctor exits non-zero
    WARNING = "warning"  # worth a look, nothing to repair now


@dataclass(frozen=True)
class Finding:
    host: str
    check: str  # disk, units, drbd, nodes, services, tasks, mtu, conntrack, registry, clock, alerts, collect
    severity: Severity
    message: str
    runbook: str  # anchor in monitoring/runbook.md

    @property
    def runbook_title(self) -> str:
        return runbook_sections().get(self.runbook, "")

    def line(self) -> str:
        return (
            f"{self.severity.value.upper():7} {self.host} {self.check}: {self.message}"
            f" → {RUNBOOK_REF}{self.runbook} ({self.runbook_title})"
        )

    def as_json(self) -> dict[str, str]:
        data = asdict(self)
        data["severity"] = self.severity.value
        data["runbook"] = RUNBOOK_REF + self.runbook
        data["runbook_title"] = self.runbook_title
        return data


@cache
def runbook_sections() -> dict[str, str]:
    """anchor → English title of every section of monitoring/runbook.md."""
    text = RUNBOOK.read_text(encoding="utf-8")
    return dict(re.findall(r'<a id="([a-z0-9-]+)"></a>\n## (.+?)(?: \*\(added\)\*)?\n', text))


def needs_action(findings: list[Finding]) -> bool:
    return any(f.severity is Severity.ACTION for f in findings)
