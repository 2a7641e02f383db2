"""Issue 9 defect 2: a preview contacts no docker daemon and shows the plan ``up`` would execute.

The real ``__main__.py`` and the sample site (services/ of this checkout) on a ``prepared`` stage, run under the
rehearsal engine's mocks (tests/rehearsal/engine.py, swarm_engine.py), which emulate what decides it: the engine
configures every explicit provider whose inputs are all known — in a preview too — and pulumi-docker's
``Configure`` pings its daemon unless the endpoint is an ``ssh://`` connection helper (``docker_configure``).
The daemons' reachability is the ``ping`` the emulation is given: ``UNREACHABLE`` answers no ping (a runner
outside ``admin_cidrs``), ``REACHABLE`` answers every one; both record whom they were asked to reach.

"After a first ``up``" needs the state an ``up`` leaves: ``SeedingMocks`` registers the same program through the
same engine (same digests, same provider steps, same stack outputs for the self StackReference) but gives each
resource the harness's fake outputs instead of executing it — the hosts of the prepared stage do not exist here.
What is under test is only the preview that follows.
"""

from __future__ import annotations

import functools
import shutil
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pytest

from components.swarm.docker_endpoint import PREVIEW_HOST
from tests.harness import run_program
from tests.program.test_main import PREPARED, ROOT
from tests.rehearsal.engine import (
    CREATE,
    DIFF_UNAVAILABLE,
    DOCKER_PROVIDER,
    SAME,
    UPDATE,
    Decision,
    DockerConfigured,
    ProviderConfigureFailed,
    docker_configure,
)
from tests.rehearsal.swarm_engine import SwarmRehearsalMocks

STACK = "staging"
ADDRESSES = [f"192.168.0.{i}" for i in range(10, 14)]  # three hives and a separate repository server
CONFIG = PREPARED | {"hive:separate_repository": True, "hive:ip_address_list": ADDRESSES}
SECRET_CONFIG = ["hive:ssh_private_key"]
SWARM_PROVIDERS = {"swarm", "repository"}


class Daemons:
    """The ``ping`` given to ``docker_configure``: answers ``reachable`` and records every host asked."""

    def __init__(self, reachable: bool) -> None:
        self.reachable = reachable
        self.asked: list[str] = []

    def __call__(self, host: str, tls: Mapping[str, str] | None) -> bool:
        self.asked.append(host)
        return self.reachable


class SeedingMocks(SwarmRehearsalMocks):
    """The state a successful ``up`` leaves, without executing: each resource gets the harness's fake outputs."""

    def _execute(self, args, record, operation, host, step, digests, action, **state_extra):  # type: ignore[override]
        def fake() -> tuple[str, dict, str]:
            return self.id_for(args), {**args.inputs, **self.default_outputs(args)}, ""

        return super()._execute(args, record, operation, host, step, digests, fake, **state_extra)


def with_daemons(mocks: SwarmRehearsalMocks, daemons: Daemons) -> SwarmRehearsalMocks:
    configure: Callable[[Mapping[str, Any]], DockerConfigured] = functools.partial(docker_configure, ping=daemons)
    mocks.provider_configure[DOCKER_PROVIDER] = configure
    return mocks


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("offline-project")
    for name in ("__main__.py", "Pulumi.yaml"):
        shutil.copy(ROOT / name, root / name)
    for name in ("components", "hostsetup"):
        (root / name).symlink_to(ROOT / name)
    shutil.copytree(ROOT / "services", root / "services")
    return root


def run(project: Path, mocks: SwarmRehearsalMocks, *, preview: bool) -> Any:
    ran = run_program(project, STACK, CONFIG, preview=preview, mocks=mocks, secret_config=SECRET_CONFIG, parallel=64)
    mocks.remember(ran)
    return ran


@pytest.fixture(scope="module")
def after_up(project: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A state file after a first ``up`` (the daemons answered it)."""
    state = tmp_path_factory.mktemp("offline-state") / "state.json"
    run(project, with_daemons(SeedingMocks(state, base_dir=project, log=None), Daemons(True)), preview=False)
    return state


def preview(project: Path, state: Path, daemons: Daemons) -> SwarmRehearsalMocks:
    mocks = with_daemons(SwarmRehearsalMocks(state, base_dir=project, log=None), daemons)
    run(project, mocks, preview=True)
    return mocks


def plan(decisions: list[Decision]) -> dict[str, tuple[str, tuple[str, ...]]]:
    return {d.urn: (d.operation, d.changed) for d in decisions}


def docker_configured(mocks: SwarmRehearsalMocks) -> dict[str, DockerConfigured]:
    return {urn.rsplit("::", 1)[-1]: done for _, urn, done in mocks.configured if "providers:docker" in urn}


def test_first_preview_with_the_daemons_unreachable_plans_creates_and_pings_nobody(project, tmp_path) -> None:
    daemons = Daemons(reachable=False)
    mocks = preview(project, tmp_path / "state.json", daemons)
    record = mocks.current
    assert daemons.asked == []
    assert {d.operation for d in record.decisions} == {CREATE}
    assert {d.name for d in record.provider_decisions if d.type == DOCKER_PROVIDER} == SWARM_PROVIDERS
    assert record.executions == []


def test_preview_after_up_configures_the_docker_providers_without_contacting_a_daemon(project, after_up) -> None:
    daemons = Daemons(reachable=False)
    mocks = preview(project, after_up, daemons)
    assert daemons.asked == []
    assert set(docker_configured(mocks)) == SWARM_PROVIDERS, "every input known: the engine configures both"
    assert {c.daemon_host for c in docker_configured(mocks).values()} == {"http://docker.example.com"}


def test_preview_after_up_plans_no_change_of_any_resource(project, after_up) -> None:
    record = preview(project, after_up, Daemons(reachable=False)).current
    assert [(d.name, d.operation, d.changed) for d in record.decisions if d.operation != SAME] == []
    assert record.executions == []


def test_preview_shows_only_the_docker_providers_endpoint_as_changed(project, after_up) -> None:
    record = preview(project, after_up, Daemons(reachable=False)).current
    changed = {d.name: (d.operation, d.changed) for d in record.provider_decisions if d.operation != SAME}
    expected = (UPDATE, ("caMaterial", "certMaterial", "host", "keyMaterial"))
    assert changed == dict.fromkeys(SWARM_PROVIDERS, expected)


def test_preview_plan_is_the_same_whether_the_daemons_answer_or_not(project, after_up) -> None:
    unreachable = preview(project, after_up, Daemons(reachable=False)).current
    reachable_daemons = Daemons(reachable=True)
    reachable = preview(project, after_up, reachable_daemons).current
    assert plan(unreachable.decisions) == plan(reachable.decisions)
    assert plan(unreachable.provider_decisions) == plan(reachable.provider_decisions)
    assert reachable_daemons.asked == []


def test_up_after_the_preview_finds_the_providers_unchanged(project, after_up, tmp_path) -> None:
    state = tmp_path / "state.json"
    shutil.copy(after_up, state)
    preview(project, state, Daemons(reachable=False))
    daemons = Daemons(reachable=True)
    mocks = with_daemons(SeedingMocks(state, base_dir=project, log=None), daemons)
    run(project, mocks, preview=False)
    steps = {d.name: d.operation for d in mocks.current.provider_decisions if d.type == DOCKER_PROVIDER}
    assert steps == dict.fromkeys(SWARM_PROVIDERS, SAME)
    assert [d for d in mocks.current.decisions if d.operation != SAME] == []
    assert sorted(daemons.asked) == sorted(["tcp://192.168.0.10:2376", "tcp://192.168.0.13:2376"]), "up pings"


def test_preview_endpoint_is_the_ssh_helper_without_tls_material(project, tmp_path) -> None:
    mocks = with_daemons(SwarmRehearsalMocks(tmp_path / "state.json", base_dir=project, log=None), Daemons(False))
    ran = run(project, mocks, preview=True)
    for name in SWARM_PROVIDERS:
        inputs = ran.one(DOCKER_PROVIDER, name).inputs
        assert inputs["host"] == PREVIEW_HOST
        assert not {"caMaterial", "certMaterial", "keyMaterial"} & set(inputs)
    assert {c.pinged for c in docker_configured(mocks).values()} == {()}


def test_up_with_a_daemon_unreachable_fails_at_the_provider(project, tmp_path) -> None:
    mocks = with_daemons(SeedingMocks(tmp_path / "state.json", base_dir=project, log=None), Daemons(False))
    # Both providers are configured in an up; whichever the engine configures first fails at its own daemon.
    with pytest.raises(
        ProviderConfigureFailed,
        match=r"configure provider '.*docker::(swarm'.*tcp://192\.168\.0\.10|repository'.*tcp://192\.168\.0\.13):2376",
    ):
        run(project, mocks, preview=False)


TINY = """\
import pulumi
import pulumi_docker as docker
import pulumi_random as random

length = pulumi.Config().require_int("length")
token = random.RandomPassword("token", length=length, special=False)
provider = docker.Provider(
    "swarm", host=token.result.apply(lambda t: "tcp://10.0.0.5:2376"), disable_docker_daemon_check=True
)
docker.Network("net", name="net", driver="overlay", opts=pulumi.ResourceOptions(provider=provider))
"""


def test_an_input_unknown_in_preview_leaves_the_provider_unconfigured_and_every_resource_an_update(tmp_path) -> None:
    """Why the preview endpoint is a known value: the engine's alternative (Diff → DiffUnavailable → update)."""
    (tmp_path / "Pulumi.yaml").write_text("name: hive\nruntime: python\n")
    (tmp_path / "__main__.py").write_text(TINY)
    state = tmp_path / "state.json"

    def mocks(kind: type[SwarmRehearsalMocks], daemons: Daemons) -> SwarmRehearsalMocks:
        return with_daemons(kind(state, base_dir=tmp_path, log=None), daemons)

    up = mocks(SeedingMocks, Daemons(True))
    up.remember(run_program(tmp_path, STACK, {"length": 12}, preview=False, mocks=up))
    with pytest.raises(ProviderConfigureFailed):  # every input known: configured, pinged, unreachable
        run_program(tmp_path, STACK, {"length": 12}, preview=True, mocks=mocks(SwarmRehearsalMocks, Daemons(False)))
    changed = mocks(SwarmRehearsalMocks, Daemons(False))
    run_program(tmp_path, STACK, {"length": 16}, preview=True, mocks=changed)  # token replaced: host unknown
    network = next(d for d in changed.current.decisions if d.name == "net")
    assert (network.operation, network.changed) == (UPDATE, (DIFF_UNAVAILABLE,))
    assert changed.configured == []
