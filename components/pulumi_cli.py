"""The Pulumi CLI ``./hive`` runs: the pinned version, installed for the user when it is missing.

``python -m components.pulumi_cli`` prints the path of a ``pulumi`` binary of :data:`PULUMI_CLI_VERSION` on
stdout, installing it first when there is none — with Pulumi's own mechanism for programs, the Automation
API's ``PulumiCommand.install(root, version)``, which runs get.pulumi.com's ``install.sh --install-root ROOT
--version V`` and then checks the binary's ``pulumi version`` (``pulumi/automation/_cmd.py``). Where it looks,
in order:

1. ``$HIVE_PULUMI_ROOT/bin/pulumi`` when that is set (e.g. a directory of the project: ``.pulumi-cli``);
2. ``~/.pulumi/versions/<version>/bin/pulumi`` — ``PulumiCommand.install``'s own default root;
3. a ``pulumi`` on ``PATH`` that *is* that version (``pulumi version`` → ``v<version>``).

None of them → install into 1's root when ``HIVE_PULUMI_ROOT`` is set, else 2's. A download that fails
(no network) ends with one line on stderr naming the manual alternative, exit 1.

Provider plugins: the engine runs the plugin version each resource names, and the provider SDKs name their
own package version (``pulumi_docker/_utilities.py``: ``get_resource_opts_defaults`` → ``version=
get_version()``). So pinning the SDK packages pins the plugins: ``constraints.txt`` holds the exact versions
the tests ran with, and ``./hive`` installs ``requirements.txt`` under it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

PULUMI_CLI_VERSION = "3.272.0"
"""The CLI the tests and the rehearsal were run against (= the ``pulumi`` SDK pinned in constraints.txt)."""


@dataclass(frozen=True)
class CliChoice:
    """``use`` the binary at ``path``, or ``install`` the pinned version into ``root`` (``path`` = its binary)."""

    action: str  # "use" | "install"
    path: Path
    root: Path


def binary(root: Path) -> Path:
    return root / "bin" / ("pulumi.exe" if os.name == "nt" else "pulumi")


def default_root(home: Path, version: str = PULUMI_CLI_VERSION) -> Path:
    return home / ".pulumi" / "versions" / version


def reported_version(path: Path | str) -> str | None:
    """``pulumi version`` of a binary without the leading ``v``; None when it does not run."""
    try:
        out = subprocess.run([str(path), "version"], capture_output=True, text=True, timeout=60, check=True).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    return out.strip().removeprefix("v") or None


def choose(
    *,
    version: str = PULUMI_CLI_VERSION,
    home: Path,
    env: Mapping[str, str],
    which: Callable[[str], str | None] = shutil.which,
    version_of: Callable[[Path | str], str | None] = reported_version,
) -> CliChoice:
    """Which CLI to run, or where to install it (see the module docstring for the order)."""
    explicit = env.get("HIVE_PULUMI_ROOT")
    candidates = ([Path(explicit).expanduser()] if explicit else []) + [default_root(home, version)]
    for root in candidates:
        if binary(root).exists() and version_of(binary(root)) == version:
            return CliChoice("use", binary(root), root)
    on_path = which("pulumi")
    if on_path and version_of(on_path) == version:
        return CliChoice("use", Path(on_path), Path(on_path).parent.parent)
    return CliChoice("install", binary(candidates[0]), candidates[0])


def manual_alternative(version: str = PULUMI_CLI_VERSION) -> str:
    return (
        f"install it by hand: curl -fsSL https://get.pulumi.com | sh -s -- --version {version} "
        f"(or download pulumi-v{version} from https://github.com/pulumi/pulumi/releases), then run this again"
    )


def install(root: Path, version: str = PULUMI_CLI_VERSION) -> Path:
    """``PulumiCommand.install`` of ``version`` into ``root``; the binary's path."""
    from pulumi.automation import PulumiCommand
    from semver import VersionInfo

    command = PulumiCommand.install(root=str(root), version=VersionInfo.parse(version))
    return Path(command.command)


def ensure(
    *,
    version: str = PULUMI_CLI_VERSION,
    home: Path | None = None,
    env: Mapping[str, str] | None = None,
    installer: Callable[[Path, str], Path] = install,
    log: Callable[[str], None] = lambda line: print(line, file=sys.stderr),
) -> Path | None:
    """The binary to run (installing it when needed); None after logging the one-line failure."""
    choice = choose(version=version, home=home or Path.home(), env=os.environ if env is None else env)
    if choice.action == "use":
        return choice.path
    log(f"hive: installing the Pulumi CLI {version} into {choice.root} (Pulumi's Automation API installer)")
    try:
        return installer(choice.root, version)
    except Exception as exc:  # any failure of the download or the installer: the same one line
        reason = " ".join(str(exc).split())[:200] or type(exc).__name__
        log(f"hive: cannot install the Pulumi CLI {version} ({reason}); {manual_alternative(version)}")
        return None


def main() -> int:
    path = ensure()
    if path is None:
        return 1
    print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
