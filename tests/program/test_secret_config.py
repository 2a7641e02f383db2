"""Secret config stays secret: a value set with ``pulumi config set --secret`` reaches no plain input, output or
command line of the program — it travels as a Pulumi secret and reaches a host on stdin only."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from components.inventory.stage import SECRET_ALLOWED
from tests.harness import ProgramRun, run_program
from tests.program.infra_support import HiveMocks

ROOT = Path(__file__).resolve().parents[2]
KEY = "-----BEGIN OPENSSH PRIVATE KEY-----\nc2VjcmV0LWtleS1ib2R5\n-----END OPENSSH PRIVATE KEY-----\n"
TOKEN = "tok-3f9a7c2e51"
URL = f"https://hive:{TOKEN}@mirror.example/drbd/drbd-{{version}}.tar.gz"
SECRETS = {"hive:ssh_private_key": KEY, "hive:drbd_download_url": URL}
CONFIG: dict[str, Any] = {
    "hive:name": "pdns",
    "hive:domain": "example.com",
    "hive:provider": "prepared",
    "hive:cidr": "192.168.0.0/24",
    "hive:separate_repository": False,
    "hive:ip_address_list": ["192.168.0.10", "192.168.0.11", "192.168.0.12"],
}
DB = {"image": "mariadb:11", "volumes": [{"source": "data", "target": "/var/lib/mysql", "drbd": {"size": "1G"}}]}


@pytest.fixture(scope="module")
def secret_run(tmp_path_factory: pytest.TempPathFactory) -> ProgramRun:
    """``pulumi up`` of a prepared site with a DRBD volume; the SSH key and the DRBD URL are secrets."""
    project = tmp_path_factory.mktemp("project")
    for name in ("__main__.py", "Pulumi.yaml"):
        shutil.copy(ROOT / name, project / name)
    for name in ("components", "hostsetup"):
        (project / name).symlink_to(ROOT / name)
    (project / "services").mkdir()
    (project / "services" / "site.yml").write_text(yaml.safe_dump({"plugin": "hive_services", "services": {"db": DB}}))
    return run_program(
        project, "staging", CONFIG | SECRETS, preview=False, mocks=HiveMocks(), secret_config=list(SECRETS)
    )


def plain_strings(run: ProgramRun) -> Iterator[tuple[str, str]]:
    """(where, text) of every string the engine would store or show in clear: non-secret resource inputs and
    outputs, component outputs and stack outputs."""

    def walk(where: str, value: Any, path: str, secret: set[str]) -> Iterator[tuple[str, str]]:
        if any(path == s or path.startswith((s + ".", s + "[")) for s in secret):
            return
        if isinstance(value, str):
            yield f"{where} {path}", value
        elif isinstance(value, dict):
            for key, item in value.items():
                yield from walk(where, item, f"{path}.{key}" if path else str(key), secret)
        elif isinstance(value, list):
            for index, item in enumerate(value):
                yield from walk(where, item, f"{path}[{index}]", secret)

    for r in run.resources:
        yield from walk(f"{r.type} {r.name} input", r.inputs, "", r.secret_inputs)
        yield from walk(f"{r.type} {r.name} output", r.outputs, "", r.secret_outputs)
        yield from walk(f"{r.type} {r.name} registered", r.registered_outputs or {}, "", r.registered_secret_outputs)
    yield from walk("stack output", run.outputs, "", run.secret_output_paths)


@pytest.mark.parametrize("key", SECRET_ALLOWED)
def test_a_secret_config_value_is_in_no_plain_input_output_or_command_line(secret_run: ProgramRun, key: str) -> None:
    needle = TOKEN if key == "drbd_download_url" else "c2VjcmV0LWtleS1ib2R5"
    assert [where for where, text in plain_strings(secret_run) if needle in text] == []


def test_the_secret_drbd_url_reaches_each_drbd_hive_on_stdin(secret_run: ProgramRun) -> None:
    installs = [r for r in secret_run.resources if r.name.endswith("drbd-install")]
    assert len(installs) == 3  # every hive of the stage (three, the repository one included)
    for command in installs:
        assert command.input("stdin") == URL and command.is_secret_input("stdin")
        assert "HIVE_DRBD_URL=-" in command.input("create")


def test_no_secret_leaks_anywhere(secret_run: ProgramRun) -> None:
    assert secret_run.find_leaks() == []
