"""Every docker input the real program records passes the upstream schema constraints (tests/provider_schema):
the sample site's stages (``private``: the local provider's host containers too; ``staging``), and a staging
stage with replicated AND global services — in preview and in up."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.harness import BaseMocks, run_program
from tests.program.infra_support import run, sample_config
from tests.program.test_swarm import CONFIG, SECRET_CONFIG, SERVICES, write_project
from tests.provider_schema.constraints import check_resources

MODES = [False, True]


@pytest.mark.parametrize("preview", MODES, ids=["up", "preview"])
@pytest.mark.parametrize("stack", ["private", "staging"])
def test_sample_site_passes_the_provider_constraints(stack: str, preview: bool) -> None:
    program = run(stack, sample_config(stack), preview=preview)
    docker = [r for r in program.resources if r.type.startswith("docker:")]
    assert docker, "the stage registers docker resources"
    assert check_resources(program.resources) == []


@pytest.mark.parametrize("preview", MODES, ids=["up", "preview"])
def test_staging_with_replicated_and_global_services_passes(tmp_path: Path, preview: bool) -> None:
    program = run_program(
        write_project(tmp_path, SERVICES),
        "staging",
        CONFIG,
        preview=preview,
        mocks=BaseMocks(),
        secret_config=SECRET_CONFIG,
    )
    modes = {r.inputs["name"]: r.inputs["mode"] for r in program.of_type("docker:index/service:Service")}
    assert {"global": True} in modes.values() and any("replicated" in m for m in modes.values())
    assert check_resources(program.resources) == []
