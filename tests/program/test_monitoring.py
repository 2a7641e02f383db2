"""The monitoring under the program: Alertmanager's configuration is a secret on stdin, the output `monitoring`."""

from __future__ import annotations

from pathlib import Path

from tests.harness import BaseMocks
from tests.program.test_main import project_with, run

COMMAND = "command:remote:Command"
HOOK = "https://hooks.example.com/T000/B000/XXXX"
RECEIVERS = [{"name": "chat", "slack": {"url": HOOK, "channel": "#ops"}}]


def test_alertmanager_config_travels_as_a_secret_on_stdin(tmp_path: Path) -> None:
    result = run(project_with(tmp_path, {}), BaseMocks(), **{"hive:alert_receivers": RECEIVERS})
    server = result.one(COMMAND, "s-hive2-monitoring-server")
    assert server.is_secret_input("stdin")
    assert f"api_url: {HOOK}" in server.input("stdin")
    assert HOOK not in server.input("create")
    assert server.input("logging") == "none"


def test_monitoring_output_says_where_the_uis_are(tmp_path: Path) -> None:
    result = run(project_with(tmp_path, {}), BaseMocks(), **{"hive:alert_receivers": RECEIVERS})
    monitoring = result.outputs["monitoring"]
    assert monitoring["server"] == "s-hive2.pdns"
    assert monitoring["ssh_forward"] == (
        "./hive ssh -s staging s-hive2.pdns -N -L 9090:127.0.0.1:9090 -L 9093:127.0.0.1:9093"
    )
    assert monitoring["scrape_targets"]["s-hive0.pdns"] == ["192.168.0.10:9100", "192.168.0.10:9323"]
    assert monitoring["receivers"] == ["chat"]
    assert HOOK not in str(result.outputs)
