"""``./hive``'s Pulumi CLI: which binary runs, what gets installed where, the pins, the no-network line."""

from __future__ import annotations

import os
import re
import socket
from importlib import metadata
from pathlib import Path

import pytest
from pulumi.automation._minimum_version import _MINIMUM_VERSION
from semver import VersionInfo

from components.pulumi_cli import (
    PULUMI_CLI_VERSION,
    binary,
    choose,
    default_root,
    ensure,
    install,
    manual_alternative,
    reported_version,
)

ROOT = Path(__file__).resolve().parents[2]


def cli(root: Path, version: str) -> Path:
    """A real executable at ``root/bin/pulumi`` whose ``pulumi version`` prints ``v<version>``."""
    path = binary(root)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f'#!/bin/sh\n[ "$1" = version ] && echo v{version}\nexit 0\n')
    path.chmod(0o755)
    return path


def nowhere(_: str) -> None:
    return None


def test_reported_version_runs_the_binary(tmp_path) -> None:
    assert reported_version(cli(tmp_path, "3.1.2")) == "3.1.2"
    assert reported_version(tmp_path / "missing") is None


def test_the_projects_root_is_used_when_it_holds_the_pinned_version(tmp_path) -> None:
    root = tmp_path / "project" / ".pulumi-cli"
    path = cli(root, PULUMI_CLI_VERSION)
    cli(default_root(tmp_path), PULUMI_CLI_VERSION)
    choice = choose(home=tmp_path, env={"HIVE_PULUMI_ROOT": str(root)}, which=nowhere)
    assert (choice.action, choice.path) == ("use", path)


def test_the_users_pulumi_versions_dir_is_used_before_path(tmp_path) -> None:
    path = cli(default_root(tmp_path), PULUMI_CLI_VERSION)
    on_path = cli(tmp_path / "usr", PULUMI_CLI_VERSION)
    choice = choose(home=tmp_path, env={}, which=lambda _: str(on_path))
    assert (choice.action, choice.path) == ("use", path)


def test_a_pulumi_on_path_of_the_pinned_version_is_used(tmp_path) -> None:
    on_path = cli(tmp_path / "usr", PULUMI_CLI_VERSION)
    assert choose(home=tmp_path, env={}, which=lambda _: str(on_path)).path == on_path


def test_another_version_on_path_means_installing_the_pinned_one_beside_it(tmp_path) -> None:
    on_path = cli(tmp_path / "usr", "3.100.0")
    choice = choose(home=tmp_path, env={}, which=lambda _: str(on_path))
    assert (choice.action, choice.root) == ("install", tmp_path / ".pulumi" / "versions" / PULUMI_CLI_VERSION)


def test_a_stale_binary_in_the_projects_root_is_replaced_there(tmp_path) -> None:
    root = tmp_path / ".pulumi-cli"
    cli(root, "3.100.0")
    choice = choose(home=tmp_path, env={"HIVE_PULUMI_ROOT": str(root)}, which=nowhere)
    assert (choice.action, choice.root, choice.path) == ("install", root, binary(root))


def test_installing_hands_the_pinned_version_and_root_to_the_installer(tmp_path) -> None:
    asked: list[tuple[Path, str]] = []

    def installer(root: Path, version: str) -> Path:
        asked.append((root, version))
        return cli(root, version)

    lines: list[str] = []
    path = ensure(home=tmp_path, env={}, installer=installer, log=lines.append)
    assert asked == [(default_root(tmp_path), PULUMI_CLI_VERSION)]
    assert path == binary(default_root(tmp_path))
    assert lines == [f"hive: installing the Pulumi CLI {PULUMI_CLI_VERSION} into {default_root(tmp_path)} "
                     "(Pulumi's Automation API installer)"]  # fmt: skip


def test_without_network_the_real_installer_fails_with_one_line_naming_the_manual_way(tmp_path, monkeypatch) -> None:
    with socket.socket() as sock:  # a proxy that refuses: urllib's download of install.sh cannot happen
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    for var in ("https_proxy", "HTTPS_PROXY", "http_proxy", "HTTP_PROXY"):
        monkeypatch.setenv(var, f"http://127.0.0.1:{port}")
    monkeypatch.delenv("no_proxy", raising=False)
    monkeypatch.delenv("NO_PROXY", raising=False)
    lines: list[str] = []
    assert ensure(home=tmp_path, env={"HIVE_PULUMI_ROOT": str(tmp_path / "cli")}, log=lines.append) is None
    assert len(lines) == 2 and "\n" not in lines[1]
    assert lines[1].startswith(f"hive: cannot install the Pulumi CLI {PULUMI_CLI_VERSION} (")
    assert lines[1].endswith(manual_alternative())
    assert f"sh -s -- --version {PULUMI_CLI_VERSION}" in lines[1]
    assert not binary(tmp_path / "cli").exists()


def test_the_pinned_cli_is_the_sdk_the_program_runs_with() -> None:
    assert metadata.version("pulumi") == PULUMI_CLI_VERSION
    assert VersionInfo.parse(PULUMI_CLI_VERSION) >= _MINIMUM_VERSION


def constraints() -> dict[str, str]:
    pins = {}
    for line in (ROOT / "constraints.txt").read_text().splitlines():
        if line and not line.startswith("#"):
            name, version = line.split("==")
            pins[name] = version
    return pins


def test_constraints_pin_every_pulumi_package_of_the_requirements() -> None:
    required = {
        re.split(r"[<>=!~ ]", line, maxsplit=1)[0].lower()
        for line in (ROOT / "requirements.txt").read_text().splitlines()
        if line.startswith("pulumi")
    }
    assert set(constraints()) == required
    assert constraints()["pulumi"] == PULUMI_CLI_VERSION


def test_constraints_are_the_versions_the_tests_run_with() -> None:
    assert {name: metadata.version(name) for name in constraints()} == constraints()


@pytest.mark.skipif(
    os.environ.get("HIVE_TEST_CLI_DOWNLOAD") != "1",
    reason="downloads the Pulumi CLI from get.pulumi.com (~100 MB): set HIVE_TEST_CLI_DOWNLOAD=1 on a machine with "
    "network; this one reaches only PyPI, Debian's mirror and npm",
)
def test_real_install_of_the_pinned_cli(tmp_path) -> None:
    path = install(tmp_path / "cli")
    assert reported_version(path) == PULUMI_CLI_VERSION
