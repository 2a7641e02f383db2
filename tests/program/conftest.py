"""Fixtures of the program tests: every test runs for each stage shape and in both engine modes."""

from __future__ import annotations

import pytest

from tests.program.infra_support import MODES, STACKS


@pytest.fixture(params=STACKS)
def stack(request: pytest.FixtureRequest) -> str:
    """``staging`` (three hosts, shared repository) or ``production`` (three hives + a repository)."""
    return request.param


@pytest.fixture(params=MODES, ids=["up", "preview"])
def preview(request: pytest.FixtureRequest) -> bool:
    """``pulumi up`` (False) or ``pulumi preview`` (True: every computed value unknown)."""
    return request.param
