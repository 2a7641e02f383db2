"""hostsetup/hive-service-log-writer (the collector's omprog program, issue 16): each relayed line is written
once per file — also after the writer restarts (the ids come back from the file's tail and from the previous,
rotated file) —, lines without an id are written as they come, and a name that is no service becomes unknown."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

WRITER = Path(__file__).resolve().parents[2] / "hostsetup" / "hive-service-log-writer"
A, B, C = "0123456789ABCDEF", "FEDCBA9876543210", "00000000000000AA"

pytestmark = pytest.mark.skipif(shutil.which("mawk") is None, reason="mawk missing (Debian: priority required)")


def write(directory: Path, *lines: str) -> list[str]:
    """Feed ``lines`` to one writer process; its stdout lines (omprog's confirmations)."""
    result = subprocess.run(
        ["sh", str(WRITER), str(directory)],
        input="".join(line + "\n" for line in lines),
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    return result.stdout.splitlines()


def test_confirms_when_ready_and_after_every_line(tmp_path: Path) -> None:
    assert write(tmp_path, f"web {A} t h web[1]: a", f"web {A} t h web[1]: a") == ["OK", "OK", "OK"]


def test_a_line_sent_again_is_written_once(tmp_path: Path) -> None:
    write(tmp_path, f"web {A} t h web[1]: a", f"web {B} t h web[1]: b", f"web {A} t h web[1]: a")
    assert (tmp_path / "web.log").read_text() == f"t h web[1]: a #{A}\nt h web[1]: b #{B}\n"


def test_a_dropped_copy_is_reported_on_stderr(tmp_path: Path) -> None:
    lines = f"web {A} t h web[1]: a\nweb {A} t h web[1]: a\n"
    result = subprocess.run(["sh", str(WRITER), str(tmp_path)], input=lines, capture_output=True, text=True, check=True)
    assert result.stderr == f"dropped a copy of web line #{A} (written before)\n"


def test_the_ids_survive_a_restart_of_the_writer(tmp_path: Path) -> None:
    write(tmp_path, f"web {A} t h web[1]: a")
    write(tmp_path, f"web {A} t h web[1]: a", f"web {B} t h web[1]: b")
    assert (tmp_path / "web.log").read_text() == f"t h web[1]: a #{A}\nt h web[1]: b #{B}\n"


def test_the_previous_rotated_file_counts_too(tmp_path: Path) -> None:
    write(tmp_path, f"web {A} t h web[1]: a")
    (tmp_path / "web.log").rename(tmp_path / "web.log.1")  # logrotate (delaycompress keeps .1 plain)
    write(tmp_path, f"web {A} t h web[1]: a", f"web {C} t h web[1]: c")
    assert (tmp_path / "web.log").read_text() == f"t h web[1]: c #{C}\n"


def test_lines_without_an_id_are_written_as_they_come(tmp_path: Path) -> None:
    write(tmp_path, "web - t h web[1]: same", "web - t h web[1]: same", "web bogus t h web[1]: x")
    assert (tmp_path / "web.log").read_text() == "t h web[1]: same\nt h web[1]: same\nt h web[1]: x\n"


def test_the_same_id_in_another_file_is_another_line(tmp_path: Path) -> None:
    write(tmp_path, f"web {A} t h web[1]: a", f"api {A} t h api[1]: a")
    assert (tmp_path / "api.log").read_text() == f"t h api[1]: a #{A}\n"


@pytest.mark.parametrize("name", ["", "..", "a/b", ".hidden"])
def test_a_name_that_is_no_service_goes_to_unknown(tmp_path: Path, name: str) -> None:
    write(tmp_path, f"{name} - t h x: line")
    assert (tmp_path / "unknown.log").read_text() == "t h x: line\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["unknown.log"]


def test_files_are_not_world_readable(tmp_path: Path) -> None:
    write(tmp_path, f"web {A} t h web[1]: a")
    assert (tmp_path / "web.log").stat().st_mode & 0o777 == 0o640
