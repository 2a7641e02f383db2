"""The relay's and the collector's rsyslog configurations (hostsetup/log-relay.sh, log-collector.sh) run for real:
two rsyslogd processes on loopback ports, the collector's writer (hive-service-log-writer) into a temporary
directory. A line through the relay arrives with its relay's id and the tag's colon; a line sent to the
collector directly (the repository's own tasks) arrives as before (issue 16: each line once, readable)."""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

HOSTSETUP = Path(__file__).resolve().parents[2] / "hostsetup"

pytestmark = pytest.mark.skipif(
    shutil.which("rsyslogd") is None or shutil.which("mawk") is None or os.geteuid() != 0,
    reason="needs rsyslogd and mawk (apt-get install rsyslog; .ci/run does) and root",
)


def heredoc(script: str, start: str) -> str:
    """The rsyslog configuration a step writes: its heredoc, from the line ``start`` to ``EOF``."""
    text = (HOSTSETUP / script).read_text()
    return text.split(start + "\n", 1)[1].split("\nEOF\n", 1)[0]


def free_port(kind: int) -> int:
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def send(port: int, line: str) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.sendto(line.encode(), ("127.0.0.1", port))


def read_until(path: Path, count: int, timeout: float = 20) -> list[str]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists() and len(lines := path.read_text().splitlines()) >= count:
            return lines
        time.sleep(0.2)
    raise AssertionError(f"{path}: {path.read_text() if path.exists() else 'missing'}")


@pytest.fixture
def pipeline(tmp_path: Path) -> Iterator[tuple[int, int, Path]]:
    """(relay udp port, collector udp port, the services' log directory) with both daemons running."""
    out = tmp_path / "services"
    out.mkdir()
    tcp, relay_udp, collector_udp = (
        free_port(socket.SOCK_STREAM),
        free_port(socket.SOCK_DGRAM),
        free_port(socket.SOCK_DGRAM),
    )
    writer = tmp_path / "writer"
    writer.write_text(f"#!/bin/sh\nexec sh {HOSTSETUP / 'hive-service-log-writer'} {out}\n")
    writer.chmod(0o755)
    collector = heredoc("log-collector.sh", "rsyslog_conf=$(cat <<'EOF'")
    collector = re.sub(r"\s*include\(file=.*\n", "\n", collector)  # monitoring-errors.sh's rules: not here
    collector = collector.replace("/usr/local/sbin/hive-service-log-writer", str(writer))
    collector = collector.replace("/var/log/hive-service-log-writer.log", str(tmp_path / "writer.log"))
    collector = collector.replace('port="2514"', f'port="{tcp}"').replace('port="10514"', f'port="{collector_udp}"')
    relay = heredoc("log-relay.sh", "relay_conf=$(cat <<EOF").replace("$HIVE_LOG_COLLECTOR", "127.0.0.1")
    relay = relay.replace('port="2514"', f'port="{tcp}"').replace('port="10514"', f'port="{relay_udp}"')
    relay = relay.replace("/var/spool/rsyslog", str(tmp_path))
    daemons = []
    for name, conf in (("collector", collector), ("relay", relay)):
        (tmp_path / f"{name}.conf").write_text(f'global(workDirectory="{tmp_path}")\n{conf}\n')
        check = subprocess.run(
            ["rsyslogd", "-N1", "-f", str(tmp_path / f"{name}.conf")], capture_output=True, text=True
        )
        assert check.returncode == 0, check.stdout + check.stderr
        daemons.append(
            subprocess.Popen(
                ["rsyslogd", "-n", "-f", str(tmp_path / f"{name}.conf"), "-i", str(tmp_path / f"{name}.pid")]
            )
        )
    time.sleep(1)
    try:
        yield relay_udp, collector_udp, out
    finally:
        for daemon in daemons:
            daemon.terminate()
            daemon.wait(timeout=30)


def test_a_relayed_line_carries_its_id_and_the_tags_colon(pipeline: tuple[int, int, Path]) -> None:
    relay, _, out = pipeline
    send(relay, "<14>Dec  7 21:00:00 h web[42]: first")
    send(relay, "<14>Dec  7 21:00:01 h web[42]: second")
    lines = read_until(out / "web.log", 2)
    assert [re.sub(r"^\S+ ", "", line) for line in lines] == [
        f"h web[42]: first #{lines[0][-16:]}",
        f"h web[42]: second #{lines[1][-16:]}",
    ]
    assert all(re.search(r" #[0-9A-F]{16}$", line) for line in lines) and lines[0][-16:] != lines[1][-16:]


def test_a_line_sent_to_the_collector_directly_is_written_as_before(pipeline: tuple[int, int, Path]) -> None:
    _, collector, out = pipeline
    send(collector, "<14>Dec  7 21:00:00 h web[42]: direct")
    assert [re.sub(r"^\S+ ", "", line) for line in read_until(out / "web.log", 1)] == ["h web[42]: direct"]
