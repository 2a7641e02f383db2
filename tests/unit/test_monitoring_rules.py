"""The alert rules (monitoring/rules/*.yml): promtool accepts them, promtool's unit tests make each alert fire
and stay silent, and every alert names a runbook section that exists."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

MONITORING = Path(__file__).resolve().parents[2] / "monitoring"
RULE_FILES = sorted((MONITORING / "rules").glob("*.yml"))
TEST_FILES = sorted((MONITORING / "tests").glob("*.test.yml"))
PROMTOOL = shutil.which("promtool")
needs_promtool = pytest.mark.skipif(
    PROMTOOL is None, reason="promtool missing: apt-get install prometheus (.ci/run installs it)"
)


def _alerts() -> list[dict]:
    return [
        rule
        for path in RULE_FILES
        for group in yaml.safe_load(path.read_text())["groups"]
        for rule in group["rules"]
        if "alert" in rule
    ]


def _alert_tests() -> list[dict]:
    return [
        case
        for path in TEST_FILES
        for test in yaml.safe_load(path.read_text())["tests"]
        for case in test.get("alert_rule_test", [])
    ]


def _runbook_sections() -> dict[str, str]:
    """anchor → the heading that follows it."""
    text = (MONITORING / "runbook.md").read_text()
    found = re.findall(r'<a id="([a-z0-9-]+)"></a>\n## (.+?)(?: \*\(added\)\*)?\n', text)
    return dict(found)


@needs_promtool
@pytest.mark.parametrize("path", RULE_FILES, ids=lambda p: p.name)
def test_promtool_accepts_the_rule_file(path: Path) -> None:
    result = subprocess.run([PROMTOOL, "check", "rules", str(path)], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


@needs_promtool
@pytest.mark.parametrize("path", TEST_FILES, ids=lambda p: p.name)
def test_promtool_unit_tests_pass(path: Path) -> None:
    result = subprocess.run(
        [PROMTOOL, "test", "rules", str(path)], capture_output=True, text=True, check=False, cwd=path.parent
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_rule_file_has_a_promtool_test_file() -> None:
    tested = {rule for path in TEST_FILES for rule in yaml.safe_load(path.read_text())["rule_files"]}
    assert {f"../rules/{path.name}" for path in RULE_FILES} == tested


def test_every_alert_has_a_case_where_it_fires_and_one_where_it_is_silent() -> None:
    cases = _alert_tests()
    for alert in _alerts():
        name = alert["alert"]
        assert any(c["alertname"] == name and c.get("exp_alerts") for c in cases), f"{name} never fires in a test"
        assert any(c["alertname"] == name and not c.get("exp_alerts") for c in cases), f"{name} never silent"


def test_every_alert_names_an_existing_runbook_section_with_its_title() -> None:
    sections = _runbook_sections()
    for alert in _alerts():
        anchor = alert["annotations"]["runbook"].removeprefix("monitoring/runbook.md#")
        assert anchor in sections, f"{alert['alert']}: no runbook section {anchor}"
        assert alert["annotations"]["runbook_title"] == sections[anchor], alert["alert"]


def test_the_runbook_triggers_of_the_issue_are_all_covered() -> None:
    names = {alert["alert"] for alert in _alerts()}
    assert names == {
        "ServerDiskSpaceLow",
        "DrbdNotUpToDate",
        "DrbdConnectionIncomplete",
        "HostServiceFailed",
        "ServiceRestarted",
        "ServiceReplicasMissing",
        "DockerVolumeSpaceLow",
        "HostCpuHigh",
        "HostMemoryHigh",
        "HostDown",
        "ServiceErrorLogged",
    }


def test_the_readme_alerts_table_lists_every_alert_with_its_runbook_title() -> None:
    readme = (MONITORING.parent / "README.md").read_text(encoding="utf-8")
    rows = {
        cells[0].strip("`"): (cells[2], cells[3])
        for line in readme.splitlines()
        if line.startswith("| `") and len(cells := [c.strip() for c in line.strip("|").split("|")]) == 4
        and re.fullmatch(r"`[A-Z][A-Za-z]+`", cells[0])
    }  # fmt: skip
    assert set(rows) == {a["alert"] for a in _alerts()}
    for alert in _alerts():
        assert rows[alert["alert"]] == (alert.get("for", "0m"), alert["annotations"]["runbook_title"]), alert["alert"]
