"""Issue 5's rehearsal acceptance: the program's swarm layer applied to a real swarm of Debian 13 hosts.

The module's site (``swarm_site``, conftest.py) is four bare lab hosts (three hives, a separate repository
server) and ONE ``up`` of the real ``__main__.py`` for a ``prepared`` stage whose services/ is the catalog
below: the provisioner's commands run over SSH and the program's ``docker:*`` resources are applied through
the hosts' TLS Docker APIs (tests/rehearsal/swarm_engine.py) — the image is built on the repository server and
pushed to the site registry, the overlay network and the service are created on the swarm. Issue 9 adds a
3-replica service spread over ``node.labels.az`` (the lab's three subnets are three zones) and a global
service; every service's convergence is the program's own wait on the first hive (``converge-services``;
the provider refuses ``converge_config`` on a global service, and the program uses it on none); the second
``up`` is planned against the state the provider read back.

The one offline substitute: the repository server's dockerd cannot pull ``debian:trixie`` (no Docker Hub here),
so the lab's own Debian 13 host image is loaded into it under that name before its first build.

Not rehearsed (this kernel has no DRBD and no device-mapper): the DRBD module and thin-pool host steps and the
per-volume steps; the ``vault`` service, which mounts a DRBD volume, is left out with them. What can be checked
without the module is: drbd-utils' offline parser reads every generated resource file as each host.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.rehearsal.engine import COMMAND, REPLACE, SAME, SKIP, UPDATE, docker_ping, rehearse, step_of_command
from tests.rehearsal.site import STACK
from tests.rehearsal.swarm_apply import IMAGE, NETWORK, SERVICE, VOLUME, ProviderClients
from tests.rehearsal.swarm_engine import NOT_REHEARSABLE, SwarmSite

pytestmark = pytest.mark.rehearsal

WEB_PORT = 8080
MARKER = "hive rehearsal web"
SERVICES: dict[str, Any] = {
    "web": {
        "image": {"context": "web"},
        "replicas": 2,
        "endpoint_mode": "dnsrr",  # no IPVS in this kernel: no virtual IP
        "placement": {"max_replicas": 1},
        "ports": [{"published": WEB_PORT, "target": WEB_PORT, "protocol": "tcp", "mode": "host"}],
    },
    # issue 9: a placement preference reaches swarm as the bare descriptor and spreads over the three zones
    "zones": {
        "image": {"from": "debian:trixie", "command": ["sleep", "infinity"]},
        "replicas": 3,
        "placement": {"preferences": [{"spread": "node.labels.az"}]},
    },
    # issue 9: a global service carries no converge_config; the program's own wait proves it converged
    "everywhere": {"image": {"from": "debian:trixie", "command": ["sleep", "infinity"]}, "mode": "global"},
    "vault": {
        # built like the others: every hive pulls the images its services may run (issue 16), and the hives
        # cannot reach Docker Hub here — the service itself is left out (SKIP_SERVICES), its image is not
        "image": {"from": "debian:trixie", "command": ["sleep", "infinity"]},
        "replicas": 1,
        "volumes": [{"source": "vault_data", "target": "/data", "drbd": {"fstype": "xfs", "size": "100M"}}],
    },
}
SKIP_SERVICES = ("vault",)
SERVICE_FILES = {
    "web/Dockerfile": (
        "FROM debian:trixie\n"
        "COPY index.html /srv/index.html\n"
        f"EXPOSE {WEB_PORT}\n"
        f'CMD ["python3", "-m", "http.server", "{WEB_PORT}", "--directory", "/srv"]\n'
    ),
    "web/index.html": f"{MARKER}\n",
}
FETCH = "import sys, urllib.request; print(urllib.request.urlopen(sys.argv[1], timeout=5).read().decode())"


@pytest.fixture(scope="module")
def clients(swarm_site: SwarmSite) -> Iterator[Any]:
    """``clients(host)``: a Docker client for a site host's TLS API with the program's client certificate."""
    made = ProviderClients()

    def client(host: str) -> Any:
        ip = swarm_site.host(host).ip
        inputs = {
            "host": f"tcp://{ip}:2376",
            "caMaterial": swarm_site.ca_cert_pem,
            "certMaterial": swarm_site.client_cert_pem,
            "keyMaterial": swarm_site.client_key_pem,
        }
        return made.client_for(f"test-{host}", inputs)

    yield client
    made.close()


def web_tasks(swarm_site: SwarmSite, clients: Any) -> list[dict[str, Any]]:
    manager = clients(swarm_site.first_hive.hostname)
    return manager.api.tasks(filters={"service": "web", "desired-state": "running"})


def node_host(clients: Any, swarm_site: SwarmSite, node_id: str) -> str:
    node = clients(swarm_site.first_hive.hostname).api.inspect_node(node_id)
    return node["Description"]["Hostname"].split(".")[0]


def first_up(swarm_site: SwarmSite) -> Any:
    return swarm_site.runs[0]


def test_image_from_context_is_pushed_to_the_site_registry(swarm_site: SwarmSite, clients: Any) -> None:
    image = first_up(swarm_site).one(IMAGE, "image-web")
    repo_digest = image.outputs["repoDigest"]
    assert re.fullmatch(rf"{re.escape(swarm_site.registry)}/image_web@sha256:[0-9a-f]{{64}}", repo_digest)
    repository = clients(swarm_site.repository.hostname)
    auth = {"username": "hive", "password": swarm_site.registry_password}
    published = repository.api.inspect_distribution(f"{swarm_site.registry}/image_web:latest", auth_config=auth)
    assert repo_digest.endswith("@" + published["Descriptor"]["digest"])
    service = clients(swarm_site.first_hive.hostname).api.inspect_service("web")
    assert service["Spec"]["TaskTemplate"]["ContainerSpec"]["Image"] == repo_digest


def test_two_replica_service_runs_one_task_per_hive(swarm_site: SwarmSite, clients: Any) -> None:
    tasks = web_tasks(swarm_site, clients)
    assert [t["Status"]["State"] for t in tasks] == ["running", "running"]
    hosts = {node_host(clients, swarm_site, t["NodeID"]) for t in tasks}
    assert len(hosts) == 2 and hosts <= {h.hostname for h in swarm_site.hives}


def test_service_answers_on_its_host_mode_port_where_it_runs(swarm_site: SwarmSite, clients: Any) -> None:
    for task in web_tasks(swarm_site, clients):
        host = swarm_site.host(node_host(clients, swarm_site, task["NodeID"]))
        with urllib.request.urlopen(f"http://{host.ip}:{WEB_PORT}/", timeout=10) as response:
            assert response.read().decode().strip() == MARKER


def test_overlay_network_carries_traffic_between_tasks_on_different_hives(swarm_site: SwarmSite, clients: Any) -> None:
    network = first_up(swarm_site).one(NETWORK, "network-hive_default_network")
    tasks = web_tasks(swarm_site, clients)
    addresses = {}
    for task in tasks:
        (attachment,) = [a for a in task["NetworksAttachments"] if a["Network"]["ID"] == network.id]
        addresses[node_host(clients, swarm_site, task["NodeID"])] = attachment["Addresses"][0].split("/")[0]
    (here, there) = sorted(addresses)
    container = swarm_site.ok(here, "sudo docker ps -q --filter label=com.docker.swarm.service.name=web").strip()
    url = f"http://{addresses[there]}:{WEB_PORT}/"
    out = swarm_site.ok(here, f"sudo docker exec {container} python3 -c '{FETCH}' {url}")
    assert out.strip() == MARKER
    by_name = swarm_site.ok(here, f"sudo docker exec {container} getent hosts tasks.web")
    assert {line.split()[0] for line in by_name.splitlines()} == set(addresses.values())


def node_az(clients: Any, swarm_site: SwarmSite, node_id: str) -> str:
    node = clients(swarm_site.first_hive.hostname).api.inspect_node(node_id)
    return node["Spec"]["Labels"]["az"]


def test_spread_preference_reaches_swarm_as_the_node_label(swarm_site: SwarmSite, clients: Any) -> None:
    service = clients(swarm_site.first_hive.hostname).api.inspect_service("zones")
    assert service["Spec"]["TaskTemplate"]["Placement"]["Preferences"] == [
        {"Spread": {"SpreadDescriptor": "node.labels.az"}}
    ]


def test_three_replicas_land_in_three_zones(swarm_site: SwarmSite, clients: Any) -> None:
    manager = clients(swarm_site.first_hive.hostname)
    tasks = manager.api.tasks(filters={"service": "zones", "desired-state": "running"})
    assert [t["Status"]["State"] for t in tasks] == ["running"] * 3
    assert len({node_az(clients, swarm_site, t["NodeID"]) for t in tasks}) == 3


def test_global_service_converged_through_the_programs_wait(swarm_site: SwarmSite, clients: Any) -> None:
    run = first_up(swarm_site)
    assert "convergeConfig" not in run.one(SERVICE, "service-everywhere").inputs
    waits = [e for e in swarm_site.mocks.runs[0].executions if e.name == "converge-services"]
    assert [(w.host, w.ok) for w in waits] == [(swarm_site.first_hive.ip, True)]
    tasks = clients(swarm_site.first_hive.hostname).api.tasks(
        filters={"service": "everywhere", "desired-state": "running"}
    )
    assert sorted(node_host(clients, swarm_site, t["NodeID"]) for t in tasks) == sorted(
        h.hostname for h in swarm_site.hives
    )
    assert {t["Status"]["State"] for t in tasks} == {"running"}


def test_second_up_changes_nothing(swarm_site: SwarmSite, clients: Any) -> None:
    # the plan compares the configuration with the state the provider read back (the daemon's network options
    # included), with the upstream ForceNew flags: nothing may be replaced, nothing runs
    before = clients(swarm_site.first_hive.hostname).api.inspect_service("web")["Version"]["Index"]
    swarm_site.up()
    record = swarm_site.mocks.current
    replaced = [d for d in record.decisions if d.type in (NETWORK, SERVICE, IMAGE, VOLUME) and d.operation == REPLACE]
    assert replaced == []
    assert record.executions == []
    assert {d.operation for d in record.decisions} <= {SAME, SKIP}
    assert clients(swarm_site.first_hive.hostname).api.inspect_service("web")["Version"]["Index"] == before


def drbd_resource_files(swarm_site: SwarmSite) -> dict[str, str]:
    """hive → the resource file the program's drbd-volume step hands it on stdin."""
    run = first_up(swarm_site)
    steps = [r for r in run.of_type(COMMAND) if step_of_command(r.inputs.get("create")) == "drbd-volume"]
    return {r.name.removeprefix("drbd-volume-vault_data-"): r.inputs["stdin"] for r in steps}


@pytest.mark.skipif(shutil.which("drbdadm") is None, reason="drbd-utils (drbdadm) is not installed here")
def test_drbdadm_parses_every_generated_resource_file_as_each_host(swarm_site: SwarmSite, tmp_path: Path) -> None:
    files = drbd_resource_files(swarm_site)
    assert sorted(files) == sorted(h.hostname for h in swarm_site.hives)
    for hostname, text in files.items():
        path = tmp_path / f"{hostname}.res"
        path.write_text(text)
        (resource,) = re.findall(r"^resource\s+(\S+)", text, re.MULTILINE)
        fqdn = swarm_site.host(hostname).fqdn
        result = subprocess.run(
            ["drbdadm", "-c", str(path), "dump", resource],
            env={"__DRBD_NODE__": fqdn, "PATH": "/usr/sbin:/usr/bin:/sbin:/bin"},
            capture_output=True,
            text=True,
            check=False,
        )
        assert result.returncode == 0, f"{hostname}: drbdadm dump {resource}:\n{result.stderr}"
        assert f"resource {resource}" in result.stdout


@pytest.mark.parametrize("step", sorted(NOT_REHEARSABLE))
def test_drbd_host_step_is_not_rehearsed(swarm_site: SwarmSite, step: str) -> None:
    steps = [r for r in first_up(swarm_site).of_type(COMMAND) if step_of_command(r.inputs.get("create")) == step]
    assert steps, f"the program has no {step} step"
    decisions = {d.urn: d.operation for d in swarm_site.mocks.runs[0].decisions}
    assert {decisions[r.urn] for r in steps} == {SKIP}
    pytest.skip(NOT_REHEARSABLE[step])


# ---------------------------------------------------------------------------------------------------------------
# Issue 9 defect 2: a preview with every daemon unreachable (each host rejects its docker API port, as the
# firewall does for a runner outside admin_cidrs) passes and plans what a preview with them reachable plans.

REJECT_DOCKER_API = "INPUT -p tcp --dport 2376 -j REJECT --reject-with tcp-reset"


def docker_api_reachable(swarm_site: SwarmSite, host: str) -> bool:
    tls = {"ca": swarm_site.ca_cert_pem, "cert": swarm_site.client_cert_pem, "key": swarm_site.client_key_pem}
    return docker_ping(f"tcp://{swarm_site.host(host).ip}:2376", tls, timeout=10)


@pytest.fixture(scope="module")
def previews(swarm_site: SwarmSite) -> Iterator[dict[str, Any]]:
    """A preview with the daemons reachable, then one with every host rejecting 2376 (and the rejects undone)."""
    swarm_site.preview()
    reachable = swarm_site.mocks.current
    hosts = [h.hostname for h in swarm_site.hosts]
    blocked: list[str] = []
    try:
        for host in hosts:
            swarm_site.ok(host, f"sudo iptables -I {REJECT_DOCKER_API}")
            blocked.append(host)
        assert not any(docker_api_reachable(swarm_site, h) for h in hosts), "the rejects must cut every daemon off"
        swarm_site.preview()
        unreachable = swarm_site.mocks.current
    finally:
        for host in blocked:
            swarm_site.ok(host, f"sudo iptables -D {REJECT_DOCKER_API}")
    yield {"reachable": reachable, "unreachable": unreachable}


def test_preview_with_every_daemon_unreachable_passes_and_contacts_none(swarm_site: SwarmSite, previews) -> None:
    unreachable = previews["unreachable"]
    docker = [
        done for run, urn, done in swarm_site.mocks.configured if run == unreachable.number and ":docker::" in urn
    ]
    assert len(docker) == 2 and all(done.pinged == () for done in docker)
    assert unreachable.executions == []
    assert docker_api_reachable(swarm_site, swarm_site.first_hive.hostname), "the rejects were undone"


def test_preview_after_up_plans_no_change_reachable_or_not(previews) -> None:
    for record in previews.values():
        assert [(d.name, d.operation, d.changed) for d in record.decisions if d.operation not in (SAME, SKIP)] == []


def test_preview_plan_is_the_same_whether_the_daemons_answer_or_not(previews) -> None:
    def plan(record: Any) -> dict[str, Any]:
        return {d.urn: (d.operation, d.changed) for d in record.decisions + record.provider_decisions}

    assert plan(previews["unreachable"]) == plan(previews["reachable"])


# ---------------------------------------------------------------------------------------------------------------
# Issue 14: a service whose image is a tag runs the digest the tag points to at each up; re-pointing the tag in
# the site registry rolls the service on the next up (and a preview contacts no host and changes nothing).

TAGGED = "tagged"


def push_tag(swarm_site: SwarmSite, clients: Any, source: str, tag: str) -> str:
    """Tag the repository daemon's ``source`` as ``tag`` in the site registry and push it; its registry digest."""
    repository = clients(swarm_site.repository.hostname)
    auth = {"username": "hive", "password": swarm_site.registry_password}
    name, _, label = tag.rpartition(":")
    repository.api.tag(source, name, label)
    for line in repository.api.push(name, label, auth_config=auth, stream=True, decode=True):
        assert "error" not in line, line
    return repository.api.inspect_distribution(tag, auth_config=auth)["Descriptor"]["digest"]


@pytest.fixture
def tagged_service(swarm_site: SwarmSite) -> Iterator[Path]:
    """services/tagged.yml in the module's project for one test (removed again, with its service)."""
    path = swarm_site.project_dir / "services" / f"{TAGGED}.yml"
    tag = f"{swarm_site.registry}/rehearsal-{TAGGED}:live"
    service = {"image": tag, "replicas": 1, "command": ["sleep", "infinity"]}
    path.write_text(json.dumps({"plugin": "hive_services", "services": {TAGGED: service}}))
    try:
        yield path
    finally:
        path.unlink()
        swarm_site.up()  # the service and its digest step are deleted


def test_a_tag_image_rolls_when_the_tag_is_repointed_in_the_site_registry(
    swarm_site: SwarmSite, clients: Any, tagged_service: Path
) -> None:
    tag = f"{swarm_site.registry}/rehearsal-{TAGGED}:live"
    images = {name: f"{swarm_site.registry}/image_{name}:latest" for name in ("zones", "web")}  # built there
    first = push_tag(swarm_site, clients, images["zones"], tag)
    run = swarm_site.up()
    manager = clients(swarm_site.first_hive.hostname)
    spec = manager.api.inspect_service(TAGGED)["Spec"]["TaskTemplate"]["ContainerSpec"]
    assert spec["Image"] == f"{tag}@{first}"
    assert run.outputs["images"][TAGGED]["digest"] == first
    steps = [e for e in swarm_site.mocks.current.executions if e.name == "image-digests"]
    assert [(e.host, e.ok) for e in steps] == [(swarm_site.first_hive.ip, True)]

    # a preview contacts no host: the digest step is unchanged (the marker the up recorded), nothing runs
    swarm_site.preview()
    assert swarm_site.mocks.current.executions == []
    decisions = {d.name: d.operation for d in swarm_site.mocks.current.decisions}
    assert decisions["image-digests"] == SAME and decisions[f"service-{TAGGED}"] == SAME

    second = push_tag(swarm_site, clients, images["web"], tag)
    assert second != first
    swarm_site.up()
    decisions = {d.name: d.operation for d in swarm_site.mocks.current.decisions}
    assert decisions[f"service-{TAGGED}"] == UPDATE
    spec = manager.api.inspect_service(TAGGED)["Spec"]["TaskTemplate"]["ContainerSpec"]
    assert spec["Image"] == f"{tag}@{second}"
    (task,) = manager.api.tasks(filters={"service": TAGGED, "desired-state": "running"})
    assert task["Spec"]["ContainerSpec"]["Image"] == f"{tag}@{second}"
    assert task["Status"]["State"] == "running"

    # an up with the tag where it was: the step runs again, the service stays as it is
    swarm_site.up()
    decisions = {d.name: d.operation for d in swarm_site.mocks.current.decisions}
    assert decisions["image-digests"] == UPDATE and decisions[f"service-{TAGGED}"] == SAME


# Issue 14: a secret config value reaches the task as a docker secret (a file under /run/secrets/, never in the
# service spec); a new value is a new docker secret, the service is updated to it, the old one is removed.

VAULTED = "vaulted"


def up_with_secret(swarm_site: SwarmSite, value: str | None) -> Any:
    """``up`` with ``services:probe_password`` set to ``value`` as a secret (unset with None)."""
    extra = {} if value is None else {"services:probe_password": value}
    secret = [] if value is None else ["services:probe_password"]
    config = {**swarm_site.config(), **extra}
    run = rehearse(
        swarm_site.project_dir, STACK, config, swarm_site.mocks, secret_config=["hive:ssh_private_key", *secret]
    )
    swarm_site.runs.append(run)
    return run


@pytest.fixture
def vaulted_service(swarm_site: SwarmSite) -> Iterator[Path]:
    path = swarm_site.project_dir / "services" / f"{VAULTED}.yml"
    service = {
        "image": f"{swarm_site.registry}/image_zones:latest",
        "replicas": 1,
        "secrets": [{"config": "probe_password", "env": "PROBE_PASSWORD_FILE"}],
    }
    path.write_text(json.dumps({"plugin": "hive_services", "services": {VAULTED: service}}))
    try:
        yield path
    finally:
        path.unlink()
        up_with_secret(swarm_site, None)  # the service, then its secret, are removed


def secret_in_task(swarm_site: SwarmSite, clients: Any) -> str:
    manager = clients(swarm_site.first_hive.hostname)
    (task,) = manager.api.tasks(filters={"service": VAULTED, "desired-state": "running"})
    host = node_host(clients, swarm_site, task["NodeID"])
    container = task["Status"]["ContainerStatus"]["ContainerID"]
    return swarm_site.ok(host, f"sudo docker exec {container} sh -c 'cat \"$PROBE_PASSWORD_FILE\"'")


def test_a_secret_is_a_file_in_the_task_and_a_new_value_a_new_docker_secret(
    swarm_site: SwarmSite, clients: Any, vaulted_service: Path
) -> None:
    manager = clients(swarm_site.first_hive.hostname)
    up_with_secret(swarm_site, "probe-one-4f1c")
    spec = manager.api.inspect_service(VAULTED)["Spec"]["TaskTemplate"]["ContainerSpec"]
    assert "probe-one-4f1c" not in json.dumps(manager.api.inspect_service(VAULTED))
    assert "PROBE_PASSWORD_FILE=/run/secrets/probe_password" in spec["Env"]
    (reference,) = spec["Secrets"]
    assert reference["File"] == {"Name": "probe_password", "UID": "0", "GID": "0", "Mode": 0o400}
    first_name = reference["SecretName"]
    assert re.fullmatch(rf"{VAULTED}-probe_password-[0-9a-f]{{12}}", first_name)
    assert secret_in_task(swarm_site, clients) == "probe-one-4f1c"

    up_with_secret(swarm_site, "probe-two-9d2e")
    decisions = {d.name: d.operation for d in swarm_site.mocks.current.decisions}
    assert decisions[f"secret-{VAULTED}-probe_password"] == REPLACE
    assert decisions[f"service-{VAULTED}"] == UPDATE
    (reference,) = manager.api.inspect_service(VAULTED)["Spec"]["TaskTemplate"]["ContainerSpec"]["Secrets"]
    assert reference["SecretName"] != first_name
    names = {s["Spec"]["Name"] for s in manager.api.secrets()}
    assert reference["SecretName"] in names and first_name not in names  # the old version is gone
    assert secret_in_task(swarm_site, clients) == "probe-two-9d2e"
