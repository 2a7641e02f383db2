"""Issue 16's acceptance on real hosts: images never need the repository to fail over, and a bad update rolls
back and fails the ``up``.

The module's site (``swarm_site``, conftest.py): four bare lab hosts (three hives, a separate repository server)
and ONE ``up`` of the real ``__main__.py`` that provisions them and applies the swarm layer of the catalog below
(tests/rehearsal/swarm_engine.py). Then, with the repository server's container stopped (its registry gone):

* ``api`` (2 replicas): the two hives running its tasks are paused and the service force-updated — both new
  tasks start on the third hive, which had never run a task of it and now cannot pull: it starts them from the
  image ``images-pull`` put there (a pause moves no task, so ``web`` keeps its two);
* ``web`` (2 replicas): the two hives running its tasks are drained — both replicas end on the third hive,
  again one that had never run it.

Last, with the repository back, both ``api`` and the global ``everywhere`` get an image whose command exits at
once: the next ``up`` fails (the converge step, converge-services, names both) and swarm has rolled
both back to the previous digest. The ``up`` after that, with the configuration unchanged, fails again naming
the rollback (the services' state holds the new spec, but the failed converge steps were never recorded, so
their spec-hash triggers still differ); an image that runs then converges, and a further ``up`` executes
nothing. The tests depend on that order.
"""

from __future__ import annotations

import shlex
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.rehearsal.engine import COMMAND, SAME, SKIP
from tests.rehearsal.swarm_apply import IMAGE, ProviderClients
from tests.rehearsal.swarm_engine import SwarmSite

pytestmark = pytest.mark.rehearsal

SLEEPER = 'FROM debian:trixie\nCMD ["sleep", "infinity"]\n'
BROKEN = 'FROM debian:trixie\nCMD ["sh", "-c", "echo broken image; exit 3"]\n'
FIXED = 'FROM debian:trixie\nLABEL fixed="1"\nCMD ["sleep", "infinity"]\n'  # a new digest that runs
SERVICES: dict[str, Any] = {
    "web": {"image": {"context": "web"}, "replicas": 2, "placement": {"max_replicas": 1}},
    "api": {"image": {"context": "api"}, "replicas": 2, "placement": {"max_replicas": 1}},
    "everywhere": {"image": {"context": "everywhere"}, "mode": "global"},
}
SERVICE_FILES = {"web/Dockerfile": SLEEPER, "api/Dockerfile": SLEEPER, "everywhere/Dockerfile": SLEEPER}
MOVE_TIMEOUT = 180  # seconds for the tasks to run elsewhere (swarm's restart delay is 5 s per attempt)


@pytest.fixture(scope="module")
def manager(swarm_site: SwarmSite) -> Iterator[Any]:
    """A Docker client of the first hive (a swarm manager) with the program's client certificate."""
    clients = ProviderClients()
    ip = swarm_site.first_hive.ip
    inputs = {
        "host": f"tcp://{ip}:2376",
        "caMaterial": swarm_site.ca_cert_pem,
        "certMaterial": swarm_site.client_cert_pem,
        "keyMaterial": swarm_site.client_key_pem,
    }
    yield clients.client_for("failover-manager", inputs)
    clients.close()


def digest_of(swarm_site: SwarmSite, service: str, run: int = 0) -> str:
    return swarm_site.runs[run].one(IMAGE, f"image-{service}").outputs["repoDigest"]


def nodes(manager: Any) -> dict[str, str]:
    """Node id → short hostname."""
    return {n["ID"]: n["Description"]["Hostname"].split(".")[0] for n in manager.api.nodes()}


def hives_that_ran(manager: Any, service: str) -> set[str]:
    """Every hive that ever had a task of ``service`` (its task history, any state)."""
    names = nodes(manager)
    return {names[t["NodeID"]] for t in manager.api.tasks(filters={"service": service}) if t.get("NodeID")}


def running_on(manager: Any, service: str) -> list[str]:
    names = nodes(manager)
    tasks = manager.api.tasks(filters={"service": service, "desired-state": "running"})
    return sorted(names[t["NodeID"]] for t in tasks if t["Status"]["State"] == "running" and t.get("NodeID"))


def set_availability(manager: Any, hostname: str, availability: str) -> None:
    node_id = next(i for i, name in nodes(manager).items() if name == hostname)
    node = manager.api.inspect_node(node_id)
    spec = {**node["Spec"], "Availability": availability}
    manager.api.update_node(node_id, node["Version"]["Index"], spec)


def update_spec(manager: Any, service: str, change: Callable[[dict[str, Any]], None]) -> None:
    """``POST /services/{id}/update`` with the service's current spec as ``change`` left it (no registry auth:
    nothing is to be pulled)."""
    api = manager.api
    inspected = api.inspect_service(service)
    spec = inspected["Spec"]
    change(spec)
    url = api._url("/services/{0}/update", inspected["ID"])
    api._raise_for_status(api._post_json(url, data=spec, params={"version": inspected["Version"]["Index"]}))


def lift_max_replicas(spec: dict[str, Any]) -> None:
    """Both replicas on the one hive left: max_replicas 1 would keep one pending."""
    spec["TaskTemplate"].get("Placement", {}).pop("MaxReplicas", None)


def wait_running_on(manager: Any, service: str, hives: list[str]) -> list[str]:
    deadline = time.monotonic() + MOVE_TIMEOUT
    while time.monotonic() < deadline:
        where = running_on(manager, service)
        if where == hives:
            return where
        time.sleep(1)
    errors = [
        f"{t['Status']['State']}: {t['Status'].get('Err')}"
        for t in manager.api.tasks(filters={"service": service})
        if t["Status"].get("Err")
    ]
    raise AssertionError(f"{service}: running on {running_on(manager, service)}, not {hives}; errors: {errors[-5:]}")


def repository_container(swarm_site: SwarmSite) -> Any:
    return swarm_site.lab.client.containers.get(swarm_site.lab.host(swarm_site.repository.hostname).container)


def power_on_repository(swarm_site: SwarmSite, manager: Any, hosts_file: str) -> None:
    """Start the repository server again (if it is off) and wait for its Docker API and registry; every hive
    active again. ``hosts_file``: its /etc/hosts before the power cut — Docker writes a container's /etc/hosts
    afresh at every start, where a machine's disk would have kept base.sh's block (the registry's own name)."""
    container = repository_container(swarm_site)
    container.reload()
    if container.status != "running":
        container.start()
        name = swarm_site.repository.hostname
        swarm_site.lab._use_machine_resolver(swarm_site.lab.host(name))
        code, out = swarm_site.lab.exec(name, ["sh", "-c", f"printf %s {shlex.quote(hosts_file)} > /etc/hosts"])
        assert code == 0, out
    swarm_site.lab.wait_ssh(swarm_site.repository.ip)
    deadline = time.monotonic() + MOVE_TIMEOUT
    ready = "sudo docker info >/dev/null && systemctl is-active --quiet docker-registry"
    while swarm_site.ssh(swarm_site.repository.hostname, ready)[0] != 0:
        assert time.monotonic() < deadline, "the repository server's docker or registry did not come back"
        time.sleep(2)
    for hive in swarm_site.hives:
        set_availability(manager, hive.hostname, "active")


@pytest.fixture(scope="module")
def saved_hosts_file(swarm_site: SwarmSite) -> str:
    code, out = swarm_site.lab.exec(swarm_site.repository.hostname, ["cat", "/etc/hosts"])
    assert code == 0, out
    return out


@pytest.fixture(scope="module")
def repository_down(swarm_site: SwarmSite, manager: Any, saved_hosts_file: str) -> Iterator[None]:
    """The repository server's container killed (the registry with it) for the tests that use it; powered on
    again by the first test that needs it (bad_update) or at the end."""
    repository_container(swarm_site).kill()
    try:
        yield
    finally:
        power_on_repository(swarm_site, manager, saved_hosts_file)


def test_every_hive_holds_every_image_before_the_services(swarm_site: SwarmSite) -> None:
    pulls = [e for e in swarm_site.mocks.runs[0].executions if e.name.startswith("images-pull-")]
    assert sorted(e.name for e in pulls) == [f"images-pull-{h.hostname}" for h in swarm_site.hives]
    for hive in swarm_site.hives:
        for service in SERVICES:
            digest = digest_of(swarm_site, service)
            code, _, err = swarm_site.ssh(hive.hostname, f"sudo docker image inspect --format '{{{{.Id}}}}' {digest}")
            assert code == 0, f"{hive.hostname} lacks {digest}: {err}"


def test_a_second_up_runs_no_image_step(swarm_site: SwarmSite) -> None:
    swarm_site.up()
    record = swarm_site.mocks.runs[-1]
    assert [e.name for e in record.executions] == []
    assert {d.operation for d in record.decisions if d.type == COMMAND and "images-" in d.name} <= {SAME, SKIP}


def test_forced_update_starts_every_replica_on_a_hive_that_never_ran_it(
    swarm_site: SwarmSite, manager: Any, repository_down: None
) -> None:
    before = running_on(manager, "api")
    assert len(before) == 2
    fresh = sorted({h.hostname for h in swarm_site.hives} - hives_that_ran(manager, "api"))
    assert len(fresh) == 1
    for hive in before:
        set_availability(manager, hive, "pause")  # keeps its task, takes no new one

    def force(spec: dict[str, Any]) -> None:
        lift_max_replicas(spec)
        spec["TaskTemplate"]["ForceUpdate"] = int(spec["TaskTemplate"].get("ForceUpdate") or 0) + 1

    update_spec(manager, "api", force)
    assert wait_running_on(manager, "api", fresh * 2) == fresh * 2
    deadline = time.monotonic() + MOVE_TIMEOUT  # and the update itself completes (monitor 15 s per task)
    while (state := (manager.api.inspect_service("api").get("UpdateStatus") or {}).get("State")) != "completed":
        assert state == "updating" and time.monotonic() < deadline, f"api's forced update: {state}"
        time.sleep(2)
    assert running_on(manager, "api") == fresh * 2


def test_drain_moves_every_replica_to_a_hive_that_never_ran_it(
    swarm_site: SwarmSite, manager: Any, repository_down: None
) -> None:
    for hive in swarm_site.hives:  # the forced update paused two hives
        set_availability(manager, hive.hostname, "active")
    before = running_on(manager, "web")
    assert len(before) == 2, "the forced update of api moved no task of web"
    fresh = sorted({h.hostname for h in swarm_site.hives} - hives_that_ran(manager, "web"))
    assert len(fresh) == 1
    for hive in before:
        set_availability(manager, hive, "drain")
    update_spec(manager, "web", lift_max_replicas)
    assert wait_running_on(manager, "web", fresh * 2) == fresh * 2


@pytest.fixture(scope="module")
def bad_update(swarm_site: SwarmSite, manager: Any, saved_hosts_file: str) -> str:
    """After the outage: ``api`` and ``everywhere`` rebuilt from an image that exits at once, then ``up``;
    returns the up's error ("" if it passed)."""
    power_on_repository(swarm_site, manager, saved_hosts_file)
    project = swarm_site.project_dir / "services"
    for service in ("api", "everywhere"):
        (project / service / "Dockerfile").write_text(BROKEN)
    try:
        swarm_site.up()
    except Exception as exc:  # the converge steps fail
        return str(exc)
    return ""


def test_bad_update_fails_the_up(bad_update: str) -> None:
    assert bad_update, "the up passed although the new image exits at once"
    assert "rollback" in bad_update, bad_update[-2000:]


def test_bad_update_rolled_back_to_the_previous_digest(swarm_site: SwarmSite, manager: Any, bad_update: str) -> None:
    for service in ("api", "everywhere"):
        # `up` fails as soon as swarm starts the rollback (rollback_started); swarm finishes it on its own
        deadline = time.monotonic() + 180
        inspected = manager.api.inspect_service(service)
        while inspected["UpdateStatus"]["State"] == "rollback_started" and time.monotonic() < deadline:
            time.sleep(2)
            inspected = manager.api.inspect_service(service)
        assert inspected["Spec"]["TaskTemplate"]["ContainerSpec"]["Image"] == digest_of(swarm_site, service)
        assert inspected["UpdateStatus"]["State"] == "rollback_completed", inspected["UpdateStatus"]


def test_converge_step_reports_the_rollback_of_the_global_service(swarm_site: SwarmSite, bad_update: str) -> None:
    record = swarm_site.mocks.runs[-1]
    waits = [e for e in record.executions if e.name == "converge-services"]
    assert waits and not waits[-1].ok, [e.name for e in record.executions]
    assert "everywhere: update rolled back" in waits[-1].error, waits[-1].error[-2000:]


def test_converge_step_reports_the_rollback_of_the_replicated_service(swarm_site: SwarmSite, bad_update: str) -> None:
    record = swarm_site.mocks.runs[-1]
    waits = [e for e in record.executions if e.name == "converge-services"]
    assert waits and not waits[-1].ok, [e.name for e in record.executions]
    assert "api: update rolled back" in waits[-1].error, waits[-1].error[-2000:]


@pytest.fixture(scope="module")
def unchanged_up(swarm_site: SwarmSite, bad_update: str) -> str:
    """The ``up`` after the failed one, nothing changed: its error ("" if it passed)."""
    assert bad_update
    try:
        swarm_site.up()
    except Exception as exc:
        return str(exc)
    return ""


def test_the_next_unchanged_up_fails_again_naming_the_rollback(swarm_site: SwarmSite, unchanged_up: str) -> None:
    assert unchanged_up, "the up after a rolled-back update passed while swarm runs the previous spec"
    record = swarm_site.mocks.runs[-1]
    waits = [e for e in record.executions if e.name == "converge-services"]
    assert waits and not waits[-1].ok, [e.name for e in record.executions]
    for service in ("api", "everywhere"):
        assert f"{service}: update rolled back" in waits[-1].error, waits[-1].error[-2000:]
    assert " listed, 2 to check" in waits[-1].error, "the services that converged are not checked again"
    ran = {e.name for e in record.executions}
    assert not ran & {"service-api", "service-everywhere"}, "the services' state holds the new spec: no diff"


@pytest.fixture(scope="module")
def fixed_up(swarm_site: SwarmSite, unchanged_up: str) -> str:
    """The operator's fix: an image that runs, then ``up``: its error ("" if it passed)."""
    assert unchanged_up
    project = swarm_site.project_dir / "services"
    for service in ("api", "everywhere"):
        (project / service / "Dockerfile").write_text(FIXED)
    try:
        swarm_site.up()
    except Exception as exc:
        return str(exc)
    return ""


def test_a_fixed_image_converges(swarm_site: SwarmSite, manager: Any, fixed_up: str) -> None:
    assert fixed_up == ""
    record = swarm_site.mocks.runs[-1]
    assert [e.ok for e in record.executions if e.name == "converge-services"] == [True]
    for service in ("api", "everywhere"):
        inspected = manager.api.inspect_service(service)
        assert inspected["Spec"]["TaskTemplate"]["ContainerSpec"]["Image"] == digest_of(swarm_site, service, -1)
        assert inspected["UpdateStatus"]["State"] == "completed", inspected["UpdateStatus"]


def test_an_up_after_the_fix_executes_nothing(swarm_site: SwarmSite, fixed_up: str) -> None:
    assert fixed_up == ""
    swarm_site.up()
    assert [e.name for e in swarm_site.mocks.runs[-1].executions] == []
