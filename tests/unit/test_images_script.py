"""hostsetup/images.sh against a fake ``docker`` (an image store in a file): pull what is missing, say what
changed, converge on a second run; prune only what it pulled, never the current or the previous set, never
an image a container still uses. The state directory is moved under the test's tmp_path."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

HOSTSETUP = Path(__file__).resolve().parents[2] / "hostsetup"
FAKE_DOCKER = r"""#!/bin/bash
# fake docker: the image store is $STORE (one reference a line); $IN_USE lists images a container uses
store=$STORE
touch "$store"
case "$1 $2" in
"image inspect")
    ref=${*: -1}
    grep -qxF -- "$ref" "$store" || { echo "Error: No such image: $ref" >&2; exit 1; }
    echo "sha256:fake"
    ;;
"pull --quiet")
    ref=$3
    [[ $ref == *unreachable* ]] && { echo "Error response from daemon: no route to host" >&2; exit 1; }
    echo "$ref" >>"$store"
    echo "$ref"
    ;;
"image rm")
    ref=${*: -1}
    if grep -qxF -- "$ref" "${IN_USE:-/dev/null}"; then
        echo "Error response from daemon: conflict: unable to remove repository reference \"$ref\"" \
            "(must force) - container abc is using its referenced image" >&2
        exit 1
    fi
    grep -vxF -- "$ref" "$store" >"$store.new" || true
    mv "$store.new" "$store"
    echo "Untagged: $ref"
    ;;
*) echo "fake docker: unexpected: $*" >&2; exit 2 ;;
esac
"""
A = "reg:5000/image_a@sha256:" + "a" * 64
B = "reg:5000/image_b@sha256:" + "b" * 64
C = "reg:5000/image_c@sha256:" + "c" * 64


@pytest.fixture
def images(tmp_path: Path):
    """``images(mode, refs, **env)`` → the finished run of a staged images.sh with the fake docker."""
    if os.geteuid() != 0:
        pytest.skip("images.sh requires root (require_root)")
    staged = tmp_path / "hostsetup"
    shutil.copytree(HOSTSETUP, staged)
    script = staged / "images.sh"
    script.write_text(script.read_text().replace("STATE=/var/lib/hive/images", f"STATE={tmp_path / 'state'}"))
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "docker").write_text(FAKE_DOCKER)
    (bin_dir / "docker").chmod(0o755)
    lib = staged / "lib.sh"
    lib.write_text(lib.read_text().replace("export LC_ALL=C PATH=", f"export LC_ALL=C PATH={bin_dir}:"))

    def run(mode: str, refs: list[str], **env: str) -> subprocess.CompletedProcess[str]:
        environment = {
            "PATH": f"{bin_dir}:/usr/sbin:/usr/bin:/sbin:/bin",
            "STORE": str(tmp_path / "store"),
            "HIVE_IMAGES_MODE": mode,
            "HIVE_IMAGES": " ".join(refs),
            **env,
        }
        return subprocess.run(
            ["bash", str(script)], env=environment, capture_output=True, text=True, timeout=60, check=False
        )

    run.store = tmp_path / "store"  # type: ignore[attr-defined]
    run.state = tmp_path / "state"  # type: ignore[attr-defined]
    return run


def store(images) -> list[str]:
    return sorted(images.store.read_text().split()) if images.store.exists() else []


def test_pull_fetches_what_is_missing_and_says_so(images) -> None:
    images.store.write_text(f"{A}\n")
    result = images("pull", [A, B])
    assert result.returncode == 0, result.stderr
    assert f"changed: pulled {B}" in result.stderr and f"pulled {A}" not in result.stderr
    assert store(images) == [A, B]


def test_second_pull_changes_nothing(images) -> None:
    assert images("pull", [A, B]).returncode == 0
    again = images("pull", [A, B])
    assert again.returncode == 0, again.stderr
    assert again.stderr.splitlines()[-1] == "unchanged: images"


def test_pull_fails_with_a_one_line_reason_when_the_registry_is_unreachable(images) -> None:
    result = images("pull", ["reg:5000/unreachable:1"])
    assert result.returncode == 1
    assert "docker pull reg:5000/unreachable:1 failed (is the registry reachable?)" in result.stderr


def test_prune_keeps_the_current_and_the_previous_set(images) -> None:
    for refs in ([A], [B], [C]):  # three generations: A is two sets old
        assert images("pull", refs).returncode == 0
        assert images("prune", refs).returncode == 0
    assert store(images) == [B, C]


def test_prune_never_removes_an_image_in_use_and_retries_later(images, tmp_path: Path) -> None:
    in_use = tmp_path / "in-use"
    in_use.write_text(f"{A}\n")
    for refs in ([A], [B], [C]):
        images("pull", refs)
        result = images("prune", refs, IN_USE=str(in_use))
        assert result.returncode == 0, result.stderr
    assert A in store(images) and f"kept {A}" in result.stderr
    in_use.write_text("")
    later = images("prune", [C])
    assert f"changed: removed {A}" in later.stderr and store(images) == [B, C]


def test_prune_leaves_images_it_did_not_pull(images) -> None:
    images.store.write_text(f"{A}\n")  # already there (pulled by swarm or by hand)
    for refs in ([A], [B], [C]):
        images("pull", refs)
        images("prune", refs)
    assert A in store(images)


def test_second_prune_changes_nothing(images) -> None:
    for refs in ([A], [B], [C]):
        images("pull", refs)
        images("prune", refs)
    again = images("prune", [C])
    assert again.returncode == 0 and again.stderr.splitlines()[-1] == "unchanged: images"


@pytest.mark.parametrize("bad", ["UPPER/Case x", "a;rm -rf /", "-flag"])
def test_refuses_what_is_no_image_reference(images, bad: str) -> None:
    result = images("pull", [bad])
    assert result.returncode == 1 and "is not an image reference" in result.stderr


def test_refuses_an_unknown_mode(images) -> None:
    result = images("all", [A])
    assert result.returncode == 1 and "HIVE_IMAGES_MODE 'all' is not pull or prune" in result.stderr
