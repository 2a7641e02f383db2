"""Issue 16, pure logic: which images each hive must hold (components/swarm/image_pulls.py, swarm's placement
test over the node labels the program sets) and every service's update/rollback policy
(components/swarm/update_policy.py, valid as kreuzwerker's schema validates it). No mocks."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest

from components.inventory.site import Site
from components.swarm import commands, image_pulls

from .test_swarm_service_spec import inputs

SHARED: dict[str, Any] = {
    "hive:separate_repository": False,
    "hive:ip_address_list": ["192.168.0.10", "192.168.0.11", "192.168.0.12"],
}
DIGEST = "s-hive3.pdns:5000/image_web@sha256:" + "a" * 64


def pulls(site: Site, **built: str) -> dict[str, list[str]]:
    """The pull sets when the services run ``built[name]`` (a pushed digest) or their image as written."""
    stage, repository = site.stage.stage, site.repository.fqdn
    runs = {s.name: built.get(s.name) or s.image_reference(stage, repository) for s in site.catalog.services}
    return image_pulls.pull_sets(site, runs)


def one(make_site: Callable[..., Site], constraints: list[str], **stage: Any) -> dict[str, list[str]]:
    site = make_site({"svc": {"image": "redis:7.4", "placement": {"constraints": constraints}}}, **stage)
    return pulls(site)


def holders(sets: dict[str, list[str]], ref: str = "redis:7.4") -> list[str]:
    return sorted(fqdn.split(".")[0] for fqdn, refs in sets.items() if ref in refs)


def test_unconstrained_service_goes_to_every_hive_not_the_repository(make_site: Callable[..., Site]) -> None:
    sets = one(make_site, [])
    assert sorted(sets) == ["s-hive0.pdns", "s-hive1.pdns", "s-hive2.pdns"], "the repository runs no task"
    assert holders(sets) == ["s-hive0", "s-hive1", "s-hive2"]


def test_a_repository_that_is_a_hive_pulls_too(make_site: Callable[..., Site]) -> None:
    sets = one(make_site, [], **SHARED)
    assert holders(sets) == ["s-hive0", "s-hive1", "s-hive2"]
    sets = one(make_site, ["node.labels.repository == true"], **SHARED)
    assert holders(sets) == ["s-hive2"], "the node-labels step labels the repository group"


@pytest.mark.parametrize(
    ("constraint", "expected"),
    [
        ("node.hostname == s-hive1", ["s-hive1"]),
        ("node.hostname != s-hive1", ["s-hive0", "s-hive2"]),
        ("node.hostname==S-HIVE2", ["s-hive2"]),  # swarmkit Constraint.Match: strings.EqualFold
        ("node.labels.first_hive == true", ["s-hive0"]),
        ("node.labels.first_hive != true", ["s-hive1", "s-hive2"]),
        ("node.labels.hives == true", ["s-hive0", "s-hive1", "s-hive2"]),
        # a missing label compares as "" (`== x` on a label no hive has is refused: inventory/feasibility.py)
        ("node.labels.missing != x", ["s-hive0", "s-hive1", "s-hive2"]),
        ("node.role == manager", ["s-hive0", "s-hive1", "s-hive2"]),
        ("node.role == worker", []),
        ("node.platform.os == linux", ["s-hive0", "s-hive1", "s-hive2"]),
        ("node.platform.os == windows", []),
        ("node.id == abc", ["s-hive0", "s-hive1", "s-hive2"]),  # unknown to the program: may match
        ("engine.labels.x == y", ["s-hive0", "s-hive1", "s-hive2"]),
        ("node.platform.arch == arm64", ["s-hive0", "s-hive1", "s-hive2"]),
    ],
)
def test_constraint_selects_hives(make_site: Callable[..., Site], constraint: str, expected: list[str]) -> None:
    assert holders(one(make_site, [constraint])) == expected


def test_all_constraints_must_hold(make_site: Callable[..., Site]) -> None:
    sets = one(make_site, ["node.labels.hives == true", "node.hostname != s-hive0", "node.hostname != s-hive2"])
    assert holders(sets) == ["s-hive1"]


def test_built_image_is_pulled_by_its_digest(make_site: Callable[..., Site]) -> None:
    site = make_site({"web": {"image": {"from": "alpine:3.20"}}, "db": {"image": "mariadb:11.4"}})
    sets = pulls(site, web=DIGEST)
    assert set(map(tuple, sets.values())) == {tuple(sorted([DIGEST, "mariadb:11.4"]))}


def test_an_image_this_run_does_not_know_is_left_out(make_site: Callable[..., Site]) -> None:
    """``up --target`` leaves the image resources out: their digest is None and nothing is pulled for them."""
    site = make_site({"web": {"image": {"from": "alpine:3.20"}}, "db": {"image": "mariadb:11.4"}})
    sets = image_pulls.pull_sets(site, {"web": None, "db": "mariadb:11.4"})
    assert set(map(tuple, sets.values())) == {("mariadb:11.4",)}


def test_pull_on_stage_pulls_the_pull_from_image(make_site: Callable[..., Site]) -> None:
    site = make_site({"web": {"image": {"from": "alpine:3.20", "pull_on": ["staging"], "pull_from": "x/web:1"}}})
    assert set(map(tuple, pulls(site).values())) == {("x/web:1",)}


def test_shared_image_is_listed_once(make_site: Callable[..., Site]) -> None:
    site = make_site({"a": {"image": "redis:7.4"}, "b": {"image": "redis:7.4"}})
    assert set(map(tuple, pulls(site).values())) == {("redis:7.4",)}


def test_hive_with_no_eligible_service_has_an_empty_set(make_site: Callable[..., Site]) -> None:
    sets = one(make_site, ["node.hostname == s-hive0"])
    assert sets["s-hive1.pdns"] == [] and sets["s-hive0.pdns"] == ["redis:7.4"]


def test_the_prune_command_names_the_set_of_its_pull() -> None:
    for user in ("admin", "root"):
        for refs in ([], ["b:1", "a:1"], ["x/pull:1"]):
            pull = commands.images_command(user, "pull", refs)
            assert commands.images_prune_of(pull) == commands.images_command(user, "prune", refs)
    with pytest.raises(ValueError, match="not a pull command"):
        commands.images_prune_of(commands.images_command("root", "prune", ["a:1"]))


def test_images_command_lists_the_set_sorted_and_distinct() -> None:
    assert commands.images_command("admin", "pull", ["b:1", "a:1", "b:1"]) == (
        "sudo env HIVE_IMAGES='a:1 b:1' HIVE_IMAGES_MODE=pull bash /home/admin/.hive/hostsetup/images.sh"
    )
    assert commands.images_command("root", "prune", []).startswith("env HIVE_IMAGES='' HIVE_IMAGES_MODE=prune ")
    with pytest.raises(ValueError, match="mode 'all'"):
        commands.images_command("root", "all", [])


# -- update policy ----------------------------------------------------------------------------------------------

# kreuzwerker v4.5.0 internal/provider/resource_docker_service.go l. 800-903: the validators of both blocks
DURATION = re.compile(r"(\d+(\.\d+)?(ns|us|µs|ms|s|m|h))+")
UPDATE_FAILURE = re.compile(r"^(pause|continue|rollback)$")
ROLLBACK_FAILURE = re.compile(r"(pause|continue)")
ORDER = re.compile(r"^(stop-first|start-first)$")


@pytest.mark.parametrize("block", ["update_config", "rollback_config"])
def test_policy_passes_the_provider_validators(make_site: Callable[..., Site], block: str) -> None:
    site = make_site({"svc": {"image": "redis:7.4", "replicas": 2}})
    config = inputs(site, "svc").kwargs[block]
    assert set(config) == {"parallelism", "delay", "failure_action", "monitor", "max_failure_ratio", "order"}
    assert isinstance(config["parallelism"], int) and config["parallelism"] >= 0
    assert DURATION.fullmatch(config["delay"]) and DURATION.fullmatch(config["monitor"])
    assert 0.0 <= float(config["max_failure_ratio"]) <= 1.0 and isinstance(config["max_failure_ratio"], str)
    assert ORDER.match(config["order"])
    assert (UPDATE_FAILURE if block == "update_config" else ROLLBACK_FAILURE).search(config["failure_action"])


def test_failed_update_rolls_back(make_site: Callable[..., Site]) -> None:
    kwargs = inputs(make_site({"svc": {"image": "redis:7.4"}}), "svc").kwargs
    assert kwargs["update_config"]["failure_action"] == "rollback"
    assert kwargs["rollback_config"]["failure_action"] == "pause"


def test_global_services_get_the_policy_too(make_site: Callable[..., Site]) -> None:
    kwargs = inputs(make_site({"svc": {"image": "redis:7.4", "mode": "global"}}), "svc").kwargs
    assert kwargs["update_config"]["failure_action"] == "rollback" and "converge_config" not in kwargs


@pytest.mark.parametrize(
    ("definition", "order"),
    [
        ({"image": "redis:7.4"}, "start-first"),
        ({"image": "redis:7.4", "ports": ["8080:80"]}, "start-first"),  # ingress: the routing mesh binds it
        ({"image": "redis:7.4", "ports": [{"target": 80, "published": 80, "mode": "host"}]}, "stop-first"),
        ({"image": "redis:7.4", "volumes": [{"source": "d", "target": "/d", "drbd": {"size": "1G"}}]}, "stop-first"),
        ({"image": "redis:7.4", "volumes": [{"source": "v", "target": "/v", "driver": "local"}]}, "start-first"),
    ],
)
def test_order_overlaps_only_when_two_tasks_can_share_a_hive(
    make_site: Callable[..., Site], definition: dict[str, Any], order: str
) -> None:
    kwargs = inputs(make_site({"svc": definition}), "svc").kwargs
    assert kwargs["update_config"]["order"] == order == kwargs["rollback_config"]["order"]


def test_service_files_cannot_set_an_update_policy(make_site: Callable[..., Site]) -> None:
    # hive-builder's format has no such key (reference §2.2): refused like any unknown key
    from components.inventory.errors import ConfigError

    with pytest.raises(ConfigError, match="update_config"):
        make_site({"svc": {"image": "redis:7.4", "update_config": {"order": "start-first"}}})
