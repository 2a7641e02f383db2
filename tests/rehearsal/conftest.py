"""Fixtures for the real-host rehearsal: the local Docker engine, the Debian 13 host image and labs.

Every test here needs root and a Docker engine (``.ci/start-dockerd.sh`` starts one); without them the
tests are skipped with the reason, never faked.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.rehearsal import lab as hivelab
from tests.rehearsal.site import RehearsalSite
from tests.rehearsal.swarm_engine import SwarmSite


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "rehearsal: runs against real Debian 13 hosts (containers on a local dockerd); skipped with the reason "
        "when unavailable",
    )


@pytest.fixture(scope="session")
def lab_engine() -> Any:
    """The Docker SDK client; skips every rehearsal test with the reason when there is no usable engine."""
    try:
        client = hivelab.engine()
    except hivelab.LabUnavailable as exc:
        pytest.skip(f"rehearsal unavailable: {exc}")
    for name in hivelab.remove_stale_labs(client):
        print(f"removed stale lab {name} (its process is gone)")
    return client


@pytest.fixture(scope="session")
def host_image(lab_engine: Any) -> str:
    """Tag of the Debian 13 host image (built once with debootstrap, then cached by recipe hash)."""
    try:
        return hivelab.host_image(lab_engine)
    except hivelab.LabUnavailable as exc:
        pytest.skip(f"rehearsal unavailable: {exc}")


@pytest.fixture
def lab(lab_engine: Any, host_image: str, request: pytest.FixtureRequest) -> Iterator[Callable[..., hivelab.Lab]]:
    """Factory ``lab(name=None, cidr=None) -> Lab``; every lab it made is removed after the test.

    The default name is derived from the test and this process (so that concurrent test sessions and xdist
    workers never share a lab), the default cidr is a free /24 in 10.231.0.0/16. Set HIVE_REHEARSAL_KEEP=1
    to keep the containers of a failed test for inspection (the next session removes them).
    """
    made: list[hivelab.Lab] = []

    def make(name: str | None = None, cidr: str | None = None) -> hivelab.Lab:
        base = name or re.sub(r"^test_?", "", request.node.name)[:24]
        full = f"hr{os.getpid():x}-{base}-{len(made)}"
        created = hivelab.Lab(full, cidr, client=lab_engine, image=host_image)
        made.append(created)
        return created

    yield make
    failed = getattr(request.node, "rep_call", None) is not None and request.node.rep_call.failed
    for created in made:
        if failed and os.environ.get("HIVE_REHEARSAL_KEEP"):
            print(f"keeping lab {created.name} (HIVE_REHEARSAL_KEEP): network {created.cidr}")
            continue
        created.close()


@pytest.fixture(scope="module")
def rehearsal_site(
    lab_engine: Any, host_image: str, tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> Iterator[RehearsalSite]:
    """A provisioned site, once per test module: four bare hosts and an outsider started, then the real program
    run against them (``RehearsalSite.up``). A failing ``up`` fails every test that uses it, with the program's
    error. HIVE_REHEARSAL_KEEP=1 keeps the lab of a module with failures (the next session removes it)."""
    failed_before = request.session.testsfailed
    module = request.module.__name__.rsplit(".", 1)[-1].removeprefix("test_")[:16]
    created = hivelab.Lab(f"hr{os.getpid():x}-{module}", client=lab_engine, image=host_image)

    def finish(failed: bool) -> None:
        if failed and os.environ.get("HIVE_REHEARSAL_KEEP"):
            print(f"keeping lab {created.name} (HIVE_REHEARSAL_KEEP): network {created.cidr}")
        else:
            created.close()

    try:
        site = RehearsalSite(created, tmp_path_factory.mktemp("rehearsal-state"))
        site.start()
        site.up()
    except BaseException:
        finish(failed=True)
        raise
    yield site
    finish(failed=request.session.testsfailed > failed_before)


@pytest.fixture(scope="module")
def swarm_project(tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest) -> Any:
    """A copy of the project whose services/ is the test module's ``SERVICES`` catalog (a dict) plus its
    ``SERVICE_FILES`` (``{"web/Dockerfile": text}``); components/ and hostsetup/ are symlinks to this checkout."""
    import shutil

    import yaml

    from tests.rehearsal.site import PROJECT

    root = tmp_path_factory.mktemp("swarm-project")
    for name in ("__main__.py", "Pulumi.yaml"):
        shutil.copy(PROJECT / name, root / name)
    for name in ("components", "hostsetup"):
        (root / name).symlink_to(PROJECT / name)
    services = root / "services"
    services.mkdir()
    document = {"plugin": "hive_services", "services": request.module.SERVICES}
    (services / "site.yml").write_text(yaml.safe_dump(document, sort_keys=False))
    for path, text in getattr(request.module, "SERVICE_FILES", {}).items():
        (services / path).parent.mkdir(parents=True, exist_ok=True)
        (services / path).write_text(text)
    return root


@pytest.fixture(scope="module")
def swarm_site(
    lab_engine: Any,
    host_image: str,
    swarm_project: Any,
    tmp_path_factory: pytest.TempPathFactory,
    request: pytest.FixtureRequest,
) -> Iterator[SwarmSite]:
    """Like ``rehearsal_site``, but one ``up`` provisions the bare hosts AND applies the swarm layer (images,
    networks, services) of ``swarm_project``; the module's ``SKIP_SERVICES`` are left out (they mount DRBD)."""
    failed_before = request.session.testsfailed
    module = request.module.__name__.rsplit(".", 1)[-1].removeprefix("test_")[:16]
    created = hivelab.Lab(f"hr{os.getpid():x}-{module}", client=lab_engine, image=host_image)
    site = None

    def finish(failed: bool) -> None:
        if site is not None:
            site.close()
        if failed and os.environ.get("HIVE_REHEARSAL_KEEP"):
            print(f"keeping lab {created.name} (HIVE_REHEARSAL_KEEP): network {created.cidr}")
        else:
            created.close()

    try:
        site = SwarmSite(
            created,
            tmp_path_factory.mktemp("swarm-state"),
            project_dir=swarm_project,
            skip_services=frozenset(getattr(request.module, "SKIP_SERVICES", ())),
        )
        site.start()
        site.up()
    except BaseException:
        finish(failed=True)
        raise
    yield site
    finish(failed=request.session.testsfailed > failed_before)


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    rep = yield
    setattr(item, f"rep_{rep.when}", rep)
    return rep
