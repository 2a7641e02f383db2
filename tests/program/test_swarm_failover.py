"""Issue 16 under mocks: every hive that may run a service holds its image before the service exists (pull
steps, ordered before the services; prune after all of them), and every service carries the update policy."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

from components.swarm import update_policy
from tests.harness import is_unknown
from tests.program.test_swarm import COMMAND, SERVICE, SERVICES, named, run, service, write_project

LOCAL = "command:local:Command"

PINNED = copy.deepcopy(SERVICES)
PINNED["services"]["pinned"] = {"image": "redis:7.4", "placement": {"constraints": ["node.hostname == s-hive1"]}}


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_project(tmp_path_factory.mktemp("failover-project"), PINNED)


@pytest.fixture(scope="module", params=[False, True], ids=["up", "preview"])
def both(project: Path, request: pytest.FixtureRequest):
    return run(project, request.param)


@pytest.fixture(scope="module")
def up(project: Path):
    return run(project, False)


def hive_images(create: str) -> list[str]:
    """The references in an images.sh command line: `sudo env HIVE_IMAGES='a b' HIVE_IMAGES_MODE=pull bash …`."""
    assert create.startswith("sudo env HIVE_IMAGES="), create
    value = create.split("HIVE_IMAGES=", 1)[1].split(" HIVE_IMAGES_MODE=", 1)[0]
    return value.strip("'").split()


def test_each_hive_pulls_what_its_placement_allows(up) -> None:
    # exactly what each service's spec runs: a build's pushed digest, a tag's digest resolved at this up
    runs = {s.name.removeprefix("service-"): s.input("taskSpec.containerSpec.image") for s in named(up, SERVICE, "")}
    assert all("@sha256:" in image for image in runs.values()), runs
    common = sorted(image for name, image in runs.items() if name != "pinned")
    pulls = {c.name: hive_images(c.inputs["create"]) for c in named(up, COMMAND, "images-pull-")}
    assert pulls == {
        "images-pull-s-hive0": common,
        "images-pull-s-hive1": sorted([*common, runs["pinned"]]),
        "images-pull-s-hive2": common,
    }
    for pull in named(up, COMMAND, "images-pull-"):
        assert " HIVE_IMAGES_MODE=pull bash " in pull.inputs["create"]
        assert pull.inputs["create"].endswith("/.hive/hostsetup/images.sh"), "the shipped script"


def test_the_repository_server_pulls_nothing(both) -> None:
    hosts = {c.input("connection.host") for c in named(both, COMMAND, "images-")}
    assert hosts == {"192.168.0.10", "192.168.0.11", "192.168.0.12"}, "s-hive3 (the repository) runs no task"


def pulled_by(run, svc) -> list[str]:
    """The pulls ``svc`` waits for: through the one ``images-pulled…`` resource it depends on (runs nothing)."""
    (gate,) = [r for r in run.of_type(LOCAL) if r.name.startswith("images-pulled") and svc.depends_on(r)]
    assert gate.inputs.get("create") is None, "it runs nothing"
    return sorted(run.by_urn(urn).name for urn in gate.dependencies)


def test_services_wait_for_the_pulls_of_their_hives(both) -> None:
    pulls = sorted(c.name for c in named(both, COMMAND, "images-pull-"))
    assert pulled_by(both, service(both, "pinned")) == ["images-pull-s-hive1"], "only the hive it may run on"
    assert pulled_by(both, service(both, "web")) == pulls
    assert both.one(LOCAL, "images-pulled-s-hive1") and both.one(LOCAL, "images-pulled"), "one per set of hives"


def test_prune_runs_after_the_convergence_of_every_service(both) -> None:
    converged = both.one(COMMAND, "converge-services")
    for svc in both.of_type(SERVICE):
        assert converged.depends_on(svc), svc.name
    for prune in named(both, COMMAND, "images-prune-"):
        assert "HIVE_IMAGES_MODE=prune" in str(prune.inputs["create"]) or both.preview
        assert prune.depends_on(converged), prune.name


def test_pull_reruns_only_when_the_hive_set_changes(project: Path, tmp_path: Path) -> None:
    first = run(project, False)
    again = run(project, False)
    triggers = {c.name: c.inputs["triggers"] for c in named(first, COMMAND, "images-")}
    assert triggers == {c.name: c.inputs["triggers"] for c in named(again, COMMAND, "images-")}, "a no-op up"
    changed = copy.deepcopy(PINNED)
    changed["services"]["pinned"]["image"] = "redis:7.5"
    moved = run(write_project(tmp_path / "p", changed), False)
    after = {c.name: c.inputs["triggers"] for c in named(moved, COMMAND, "images-")}
    differs = sorted(name for name in triggers if triggers[name] != after[name])
    assert differs == ["images-prune-s-hive1", "images-pull-s-hive1"]


def test_preview_pulls_are_unknown_until_the_digests_are(project: Path) -> None:
    # a preview cannot know a rebuilt digest: the pull's command stays unknown (never a stale digest)
    preview = run(project, True)
    for pull in named(preview, COMMAND, "images-pull-"):
        assert is_unknown(pull.inputs["create"]), pull.name


def expected_policy(order: str, failure: str, delay: str) -> dict[str, Any]:
    return {
        "parallelism": 1,
        "delay": delay,
        "failureAction": failure,
        "monitor": update_policy.MONITOR,
        "maxFailureRatio": "0.0",
        "order": order,
    }


@pytest.mark.parametrize(
    ("name", "order"),
    [("db", "stop-first"), ("web", "stop-first"), ("dns", "start-first"), ("pinned", "start-first")],
)
def test_every_service_rolls_back_a_failed_update(up, name: str, order: str) -> None:
    # db: a DRBD volume; web: a host-mode port; the others may overlap (the old task serves until the new runs)
    svc = service(up, name)
    assert svc.inputs["updateConfig"] == expected_policy(order, "rollback", update_policy.UPDATE_DELAY)
    assert svc.inputs["rollbackConfig"] == expected_policy(order, "pause", update_policy.ROLLBACK_DELAY)
