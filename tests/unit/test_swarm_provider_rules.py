"""Issue 9: the swarm layer's inputs obey what the real providers do (components/swarm/*, stage key), no mocks."""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from components.inventory.allocation import Allocations
from components.inventory.errors import ConfigError
from components.inventory.site import Site, resolve_site
from components.inventory.stage import StageConfig, default_image_platform
from components.swarm import commands, images, networks
from components.swarm.service_spec import ServiceRefs, SiteNumbers, service_inputs

from .conftest import catalog_of

SCRIPT = Path(__file__).resolve().parents[2] / "components/swarm/service-converge.sh"
BUILD = {"web": {"image": {"from": "alpine:3.20"}}}


def with_networks(make_stage: Callable[..., StageConfig], nets: dict) -> Site:
    return resolve_site(make_stage(), catalog_of({}, networks=nets), Allocations.empty())


def inputs_of(site: Site, name: str) -> dict:
    service = next(s for s in site.catalog.services if s.name == name)
    refs = ServiceRefs(image="IMAGE", network_ids={"hive_default_network": "net"}, numbers=SiteNumbers(site))
    return service_inputs(site, service, refs).kwargs


# -- defect 1: global services -----------------------------------------------------------------------------------


def test_no_service_gets_the_providers_converge_config(make_site: Callable[..., Site]) -> None:
    """Global services cannot have it (mode.0.global ConflictsWith converge_config); replicated ones do not, so
    one mechanism proves every service converged: the converge step (docs/provider-notes.md "Update policy")."""
    site = make_site({"g": {"image": "x", "mode": "global"}, "r": {"image": "x", "replicas": 2}})
    assert "converge_config" not in inputs_of(site, "g")
    assert "converge_config" not in inputs_of(site, "r")


def test_converge_command_runs_the_script_from_stdin() -> None:
    assert commands.converge_command("admin") == "sudo env HIVE_DELAY=7 HIVE_TIMEOUT=180 bash -s"
    assert commands.converge_command("root", timeout=30, delay=2) == "env HIVE_DELAY=2 HIVE_TIMEOUT=30 bash -s"


def test_converge_line_refuses_a_word_with_space() -> None:
    assert commands.converge_line("dns", "reg:5000/image_dns@sha256:ab", "k1") == "dns reg:5000/image_dns@sha256:ab k1"
    with pytest.raises(ValueError, match="not one word"):
        commands.converge_line("dns", "x y", "k1")


def test_script_with_lines_refuses_a_script_without_its_main_call() -> None:
    with pytest.raises(ValueError, match="main call"):
        commands.script_with_lines("echo hi\n", ["a"])


def test_converge_script_is_shellcheck_clean() -> None:
    if shutil.which("shellcheck") is None:
        pytest.skip("shellcheck is not installed (apt-get install shellcheck)")
    result = subprocess.run(["shellcheck", str(SCRIPT)], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout


def test_converge_script_refuses_a_line_that_is_not_service_image_key() -> None:
    result = subprocess.run(
        ["bash", str(SCRIPT)], input="dns\n", capture_output=True, text=True, env={"PATH": "/usr/bin:/bin"}
    )
    assert result.returncode == 2
    assert "[service-converge] ERROR: line 'dns   ': not '<service> <image|-> [<key>]'" in result.stderr


# -- defect 3: placement preferences -----------------------------------------------------------------------------


@pytest.mark.parametrize("written", [{"spread": "node.labels.az"}, "spread=node.labels.az", "node.labels.az"])
def test_spread_preference_is_sent_as_the_bare_descriptor(make_site: Callable[..., Site], written: object) -> None:
    site = make_site({"w": {"image": "x", "placement": {"preferences": [written]}}})
    assert inputs_of(site, "w")["task_spec"]["placement"]["prefs"] == ["node.labels.az"]


# -- defect 4: image platform ---------------------------------------------------------------------------------------


def test_image_platform_defaults_to_the_hosts(make_stage: Callable[..., StageConfig]) -> None:
    assert make_stage().image_platform == "linux/amd64"
    assert default_image_platform("aws", "arm64") == "linux/amd64", "the operator's CPU never decides a cloud's"
    assert default_image_platform("local", "aarch64") == "linux/arm64", "local hosts run on the operator's engine"
    assert default_image_platform("local", "x86_64") == "linux/amd64"


def test_image_platform_setting_reaches_every_build(make_site: Callable[..., Site]) -> None:
    site = make_site(BUILD, **{"hive:image_platform": "linux/arm64"})
    (plan,) = images.image_plans(site)
    assert plan.build_args("m")["platform"] == "linux/arm64"


def test_image_platform_must_be_known(make_stage: Callable[..., StageConfig]) -> None:
    with pytest.raises(ConfigError, match=r"hive:image_platform.*allowed: linux/amd64, linux/arm64"):
        make_stage(**{"hive:image_platform": "arm64"})


# -- defect 5: a new repository machine gets every image again -------------------------------------------------------


def test_build_arguments_carry_the_repository_identity(make_site: Callable[..., Site]) -> None:
    (plan,) = images.image_plans(make_site(BUILD))
    assert plan.build_args("machine-a")["args"] != plan.build_args("machine-b")["args"]
    assert plan.build_args("machine-a")["args"] == {images.REPOSITORY_ARG: "machine-a"}
    assert images.REPOSITORY_ARG not in (plan.generated_dockerfile or ""), "undeclared: it changes no layer"


# -- defect 6: the operator's docker environment ------------------------------------------------------------------


@pytest.mark.parametrize("variable", images.REDIRECTING_ENV)
def test_a_redirecting_variable_is_refused_when_images_are_built(make_site: Callable[..., Site], variable: str) -> None:
    plans = images.image_plans(make_site(BUILD))
    problem = images.redirecting_env({variable: "x", "HOME": "/root"}, plans)
    assert problem is not None and problem.startswith(f"environment: {variable}: set")
    assert images.redirecting_env({"HOME": "/root", variable: ""}, plans) is None
    assert images.redirecting_env({variable: "x"}, []) is None, "no image build: nothing to redirect"


def test_preflight_lists_every_problem(make_site: Callable[..., Site], tmp_path: Path) -> None:
    site = make_site({"ctx": {"image": {"context": "gone"}}})
    problems = images.preflight(tmp_path, site, {"DOCKER_HOST": "tcp://x:2376"})
    assert problems[0] == "service ctx: build context services/gone/ does not exist"
    assert problems[1].startswith("environment: DOCKER_HOST: set")


# -- defect 10: overlay options read back with the VNI ------------------------------------------------------------


def test_every_network_names_its_vxlan_id(make_stage: Callable[..., StageConfig]) -> None:
    site = with_networks(make_stage, {"a": {}, "b": {"ipam": {"config": [{"subnet": "10.9.0.0/24"}]}}})
    options = {p.name: p.kwargs["options"][networks.VXLAN_OPTION] for p in networks.network_plans(site)}
    assert set(options) == {"hive_default_network", "a", "b"}
    vnis = [int(v) for v in options.values()]
    assert len(set(vnis)) == 3 and all(networks.VNI_BASE <= v < networks.VNI_END for v in vnis)


def test_vxlan_ids_are_stable_when_networks_come_and_go() -> None:
    alone = networks.vxlan_ids([("hive_default_network", 1)])
    more = networks.vxlan_ids([("hive_default_network", 1), ("front", 1), ("back", 2)])
    assert alone["hive_default_network"] == more["hive_default_network"]
    assert len(more["back"]) == 2 and more["back"][1] == more["back"][0] + 1


def test_vxlan_ids_never_collide(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(networks, "_vni_start", lambda name: networks.VNI_BASE)  # every name hashes alike
    ids = networks.vxlan_ids([("a", 1), ("b", 2), ("c", 1)])
    assert ids == {"a": [networks.VNI_BASE], "b": [networks.VNI_BASE + 2, networks.VNI_BASE + 3],
                   "c": [networks.VNI_BASE + 1]}  # fmt: skip


def test_a_definitions_own_vxlan_id_wins(make_stage: Callable[..., StageConfig]) -> None:
    site = with_networks(make_stage, {"a": {"driver_opts": {networks.VXLAN_OPTION: "5000"}}})
    plan = networks.defined_network(site, site.catalog.networks[0])
    assert plan.kwargs["options"][networks.VXLAN_OPTION] == "5000"


FAKE_DOCKER = r"""#!/usr/bin/env bash
# a stand-in for the docker CLI: answers from files in $FAKE/<service>/ (update: its state, "" for none; image:
# the spec's; tasks: "id state up-to-date(1|0) err" lines)
services=()
while [ $# -gt 0 ]; do
  case $1 in
    --format | --filter) [[ $2 == _up-to-date=true ]] && fresh=1; shift 2 ;;
    --*) shift ;;
    *) services+=("$1"); shift ;;
  esac
done
case "${services[0]} ${services[1]:-}" in
  "service inspect")
    for svc in "${services[@]:2}"; do
      d=$FAKE/$svc
      [ -d "$d" ] || { echo "Error: no such service: $svc" >&2; continue; }
      update=$(cat "$d/update")
      message=${update:+$update: task failed}
      printf 'id-%s\x1f%s\x1f%s\x1f%s\x1f%s\n' "$svc" "$svc" "$update" "$message" "$(cat "$d/image")"
    done ;;
  "service ps")
    for svc in "${services[@]:2}"; do
      tasks=$FAKE/$svc/tasks
      if [ -n "${fresh:-}" ]; then awk '$3 == 1 {print $1}' "$tasks"; else cut -d' ' -f1 "$tasks"; fi
    done ;;
  inspect*)
    for id in "${services[@]:1}"; do
      file=$(grep -l "^$id " "$FAKE"/*/tasks)
      svc=$(basename "$(dirname "$file")")
      read -r _ state _ err < <(grep "^$id " "$file")
      printf '%s\x1f%s\x1f%s\x1f%s\n' "$id" "id-$svc" "$state" "$err"
    done ;;
esac
"""


WANTED = "repo:5000/image_dns@sha256:new"  # the image the program's spec runs


def fake_service(tmp_path: Path, name: str, update: str, tasks: list[str], image: str = WANTED) -> None:
    fake = tmp_path / "fake" / name
    fake.mkdir(parents=True, exist_ok=True)
    (fake / "update").write_text(update + "\n")
    (fake / "image").write_text(image + "\n")
    (fake / "tasks").write_text("".join(line + "\n" for line in tasks))


def converge(
    tmp_path: Path, lines: list[str], timeout: int = 3, stdin_script: bool = False
) -> subprocess.CompletedProcess:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    (bin_dir / "docker").write_text(FAKE_DOCKER)
    (bin_dir / "docker").chmod(0o755)
    env = {"PATH": f"{bin_dir}:/usr/bin:/bin", "FAKE": str(tmp_path / "fake"), "HIVE_TIMEOUT": str(timeout),
           "HIVE_DELAY": "1", "HIVE_STATE": str(tmp_path / "record")}  # fmt: skip
    if stdin_script:  # as the program runs it: the script and then the lines on stdin
        text = commands.script_with_lines(SCRIPT.read_text(), lines)
        return subprocess.run(["bash", "-s"], input=text, capture_output=True, text=True, env=env, timeout=30)
    text = "".join(f"{line}\n" for line in lines)
    return subprocess.run(["bash", str(SCRIPT)], input=text, capture_output=True, text=True, env=env, timeout=30)


def run_converge(
    tmp_path: Path, update: str, tasks: list[str], timeout: int = 3, image: str = WANTED
) -> subprocess.CompletedProcess:
    fake_service(tmp_path, "dns", update, tasks, image)
    return converge(tmp_path, [f"dns {WANTED} k1"], timeout)


def test_converge_script_passes_when_every_task_runs_the_current_spec(tmp_path: Path) -> None:
    result = run_converge(tmp_path, "completed", ["t1 running 1", "t2 running 1"])
    assert result.returncode == 0, result.stderr
    assert "dns: 2/2 task(s) run the current spec" in result.stderr
    assert result.stderr.rstrip().endswith(f"changed: {tmp_path / 'record'} (1 converged)")


def test_converge_script_reads_its_lines_after_itself_on_stdin(tmp_path: Path) -> None:
    fake_service(tmp_path, "dns", "completed", ["t1 running 1"])
    fake_service(tmp_path, "web", "", ["t2 running 1"])
    result = converge(tmp_path, [f"dns {WANTED} k1", f"web {WANTED} k2"], stdin_script=True)
    assert result.returncode == 0, result.stderr
    assert "2 service(s) listed, 2 to check" in result.stderr
    assert (tmp_path / "record").read_text() == "dns k1\nweb k2\n"


def test_converge_script_checks_only_services_whose_key_it_did_not_record(tmp_path: Path) -> None:
    (tmp_path / "record").write_text("dns k1\nweb k0\n")
    fake_service(tmp_path, "dns", "paused", ["t1 running 1"])  # would fail: not checked, its key is recorded
    fake_service(tmp_path, "web", "", ["t2 running 1"])
    result = converge(tmp_path, [f"dns {WANTED} k1", f"web {WANTED} k2"])
    assert result.returncode == 0, result.stderr
    assert "2 service(s) listed, 1 to check" in result.stderr
    assert (tmp_path / "record").read_text() == "dns k1\nweb k2\n"


def test_converge_script_records_the_converged_and_not_the_failed(tmp_path: Path) -> None:
    fake_service(tmp_path, "dns", "rollback_completed", ["t1 running 1"])
    fake_service(tmp_path, "web", "", ["t2 running 1"])
    result = converge(tmp_path, [f"dns {WANTED} k1", f"web {WANTED} k2"])
    assert result.returncode == 1
    assert "1 of 2 service(s) not converged: dns" in result.stderr
    assert (tmp_path / "record").read_text() == "web k2\n"  # the next run checks dns again


def test_converge_script_never_records_a_line_without_a_key(tmp_path: Path) -> None:
    fake_service(tmp_path, "dns", "", ["t1 running 1"])
    result = converge(tmp_path, ["dns -"])
    assert result.returncode == 0, result.stderr
    assert result.stderr.rstrip().endswith("unchanged: service-converge")
    assert not (tmp_path / "record").exists()


def test_converge_script_fails_on_a_missing_service(tmp_path: Path) -> None:
    fake_service(tmp_path, "dns", "", ["t1 running 1"])
    result = converge(tmp_path, ["gone - k1"])
    assert result.returncode == 1
    assert "gone: no such service (docker service inspect: Error: no such service: gone)" in result.stderr


def test_converge_script_fails_in_time_when_a_task_runs_an_older_spec(tmp_path: Path) -> None:
    result = run_converge(tmp_path, "", ["t1 running 1", "t2 running 0"], timeout=2)
    assert result.returncode == 1
    assert "dns: not converged after 2s: 1/2 running; 1 task(s) of an older spec" in result.stderr


def test_converge_script_fails_when_a_task_does_not_start(tmp_path: Path) -> None:
    result = run_converge(tmp_path, "", ["t1 running 1", "t2 rejected 1 No such image"], timeout=2)
    assert result.returncode == 1
    assert "rejected: No such image" in result.stderr


def test_converge_script_waits_while_an_update_runs(tmp_path: Path) -> None:
    result = run_converge(tmp_path, "updating", ["t1 running 1"], timeout=2)
    assert result.returncode == 1
    assert "update updating" in result.stderr


def test_converge_script_fails_at_once_on_a_paused_update(tmp_path: Path) -> None:
    result = run_converge(tmp_path, "paused", ["t1 running 1"], timeout=60)
    assert result.returncode == 1
    assert "dns: update paused (paused: task failed): fix the service (its image) and run up again" in result.stderr


@pytest.mark.parametrize("state", ["rollback_started", "rollback_completed", "rollback_paused"])
def test_converge_script_fails_at_once_naming_a_rollback(tmp_path: Path, state: str) -> None:
    old = "repo:5000/image_dns@sha256:old"
    result = run_converge(tmp_path, state, ["t1 running 1"], timeout=60, image=old)
    assert result.returncode == 1
    assert f"dns: update rolled back ({state}: {state}: task failed): swarm runs the previous spec ({old})" in (
        result.stderr
    )


def test_converge_script_fails_when_the_spec_does_not_run_the_desired_image(tmp_path: Path) -> None:
    old = "repo:5000/image_dns@sha256:old"
    result = run_converge(tmp_path, "", ["t1 running 1"], timeout=60, image=old)
    assert result.returncode == 1
    assert f"dns: runs {old}, not the desired {WANTED} (update none)" in result.stderr


DIGEST_SCRIPT = Path(__file__).resolve().parents[2] / "components/swarm/image-digest.sh"
FAKE_PULL = """#!/usr/bin/env bash
# a stand-in for `docker pull <image>`: fails for images named *missing*, else prints a digest of the name
[[ $2 == *missing* ]] && { echo "Error response from daemon: manifest unknown" >&2; exit 1; }
printf 'Digest: sha256:%s\\nStatus: up to date\\n' "$(printf %s "$2" | sha256sum | cut -d' ' -f1)"
"""


def run_digests(tmp_path: Path, tags: list[str]) -> subprocess.CompletedProcess:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    (bin_dir / "docker").write_text(FAKE_PULL)
    (bin_dir / "docker").chmod(0o755)
    text = commands.script_with_lines(DIGEST_SCRIPT.read_text(), tags)  # as the program feeds it
    env = {"PATH": f"{bin_dir}:/usr/bin:/bin", "HIVE_RUN": "now", "HIVE_PARALLEL": "2"}
    return subprocess.run(["bash", "-s"], input=text, capture_output=True, text=True, env=env, timeout=30)


def test_digest_script_prints_each_tags_digest_in_order(tmp_path: Path) -> None:
    tags = ["alpine:3.20", "debian:13", "mariadb:11.4"]
    result = run_digests(tmp_path, tags)
    assert result.returncode == 0, result.stderr
    digests = [line.split() for line in result.stdout.splitlines()]
    assert [d[0] for d in digests] == tags
    assert all(re.fullmatch(r"sha256:[0-9a-f]{64}", d[1]) for d in digests)


def test_digest_script_fails_naming_the_tag_it_could_not_pull(tmp_path: Path) -> None:
    result = run_digests(tmp_path, ["alpine:3.20", "missing:1"])
    assert result.returncode == 1
    assert "docker pull missing:1 failed: Error response from daemon: manifest unknown" in result.stderr
    assert "1 of 2 tag(s) not resolved" in result.stderr


def test_digest_script_is_shellcheck_clean() -> None:
    if shutil.which("shellcheck") is None:
        pytest.skip("shellcheck is not installed (apt-get install shellcheck)")
    result = subprocess.run(["shellcheck", str(DIGEST_SCRIPT)], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout
