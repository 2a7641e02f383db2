"""The README's commands and the CI workflows, as an operator meets them."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
HIVE = ROOT / "hive"


def bare_path(tmp_path: Path) -> str:
    """A PATH with the basic tools but no pulumi (and no docker)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    tools = ("bash", "env", "dirname", "readlink", "grep", "sed", "cat", "head", "base64", "mkdir", "touch", "python3")
    for tool in tools:
        found = shutil.which(tool)
        if found:
            (bin_dir / tool).symlink_to(found)
    return str(bin_dir)


def run_hive(
    *args: str, path: str, extra_env: dict[str, str] | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PULUMI_", "HIVE_"))}
    env["PATH"] = path
    env.update(extra_env or {})
    return subprocess.run([str(HIVE), *args], capture_output=True, text=True, env=env, timeout=timeout, check=False)


def pinned_cli(root: Path, log: Path) -> Path:
    """A pulumi binary at ``root/bin/pulumi`` that reports the pinned version and logs its arguments."""
    from components.pulumi_cli import PULUMI_CLI_VERSION

    (root / "bin").mkdir(parents=True)
    script = root / "bin" / "pulumi"
    script.write_text(f'#!/bin/sh\necho "$*" >> {log}\n[ "$1" = version ] && echo v{PULUMI_CLI_VERSION}\nexit 0\n')
    script.chmod(0o755)
    return script


def test_run_commands_use_the_pinned_cli_though_path_has_none(tmp_path):
    log = tmp_path / "pulumi.log"
    pinned_cli(tmp_path / "cli", log)
    path = bare_path(tmp_path)
    env = {"HOME": str(tmp_path), "HIVE_PULUMI_ROOT": str(tmp_path / "cli"), "PULUMI_CONFIG_PASSPHRASE": "x"}
    for verb in ("preview", "destroy"):
        result = run_hive(verb, "-s", "staging", path=path, extra_env=env, timeout=600)
        assert result.returncode == 0, result.stderr
    calls = log.read_text().splitlines()
    assert "stack select --create staging" in calls
    assert "preview --stack staging" in calls and "destroy --stack staging" in calls


def test_private_stage_without_docker_says_what_to_install(tmp_path):
    result = run_hive("up", path=bare_path(tmp_path))
    assert result.returncode != 0
    assert "runs on this machine's Docker engine, and none answers" in result.stderr
    assert "apt-get install docker.io" in result.stderr


def test_unknown_command_is_one_clear_line(tmp_path):
    result = run_hive("deploy", path=bare_path(tmp_path))
    assert result.returncode == 1
    assert result.stderr.strip() == "hive: unknown command 'deploy' (try ./hive help)"


def test_import_without_a_directory_is_one_clear_line(tmp_path):
    result = run_hive("import-hive-builder", "--force", path=bare_path(tmp_path))
    assert result.returncode == 1
    assert result.stderr.strip() == (
        "hive: import-hive-builder needs the hive-builder project: ./hive import-hive-builder DIR [--force]"
    )


def test_help_lists_the_commands(tmp_path):
    result = run_hive("help", path=bare_path(tmp_path))
    assert result.returncode == 0
    for command in ("up", "preview|destroy", "test", "ssh", "inventory|list-hosts", "import-hive-builder DIR"):
        assert f"./hive {command}" in result.stdout


def test_preview_workflow_runs_pulumi_preview_for_both_cloud_stages():
    workflow = yaml.safe_load((ROOT / ".github/workflows/preview.yml").read_text())
    assert "pull_request" in workflow[True]  # YAML 1.1 reads the key `on` as True
    job = workflow["jobs"]["preview"]
    assert job["strategy"]["matrix"]["stack"] == ["staging", "production"]
    (action,) = [s for s in job["steps"] if str(s.get("uses", "")).startswith("pulumi/actions@")]
    assert action["with"]["command"] == "preview"
    assert action["with"]["comment-on-pr"] is True
    assert workflow["permissions"]["pull-requests"] == "write"


def test_test_workflow_runs_the_readme_test_command():
    workflow = yaml.safe_load((ROOT / ".github/workflows/test.yml").read_text())
    commands = " ".join(s.get("run", "") for s in workflow["jobs"]["test"]["steps"])
    assert ".ci/run" in commands
    assert "./hive test" in (ROOT / ".ci/run").read_text()
    assert "./hive test" in (ROOT / "README.md").read_text()


def test_preview_workflow_runs_the_pinned_cli_and_plugin_versions():
    from components.pulumi_cli import PULUMI_CLI_VERSION

    workflow = yaml.safe_load((ROOT / ".github/workflows/preview.yml").read_text())
    steps = workflow["jobs"]["preview"]["steps"]
    (action,) = [s for s in steps if str(s.get("uses", "")).startswith("pulumi/actions@")]
    assert action["with"]["pulumi-version"] == PULUMI_CLI_VERSION
    assert "refresh" not in action["with"], "a refresh reads the resources through the real docker endpoints"
    installs = [s["run"] for s in steps if "pip install" in s.get("run", "")]
    assert installs and all("-c constraints.txt" in run for run in installs)
