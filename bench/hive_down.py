"""How long the site takes to notice a hive powered off and to bring every replicated service back to full
replicas — for the swarm leader and for a follower (issue 16).

    sudo .venv/bin/python bench/hive_down.py [--keep] [--project DIR]

Starts a rehearsal lab (three hives, a separate repository server; tests/rehearsal/lab.py), provisions it and
applies a small swarm layer with the real program (tests/rehearsal/swarm_engine.py): ``web`` (2 replicas, one
per hive) and ``api`` (3 replicas, spread over the zones), images built on the repository and pulled on every
hive by the program's images-pull steps. Then, twice — the leader first, then a follower that runs a task:

* kills the hive's container (a power cut: no shutdown, no leave) and polls a surviving manager once a second;
* prints the seconds until swarm reports the node ``down`` and until every replicated service has all its
  replicas running again (on the remaining hives);
* starts the container again and waits until the node is ``ready`` before the next round.

It measures; it asserts nothing. Needs root and a Docker engine (``bash .ci/start-dockerd.sh``).
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.rehearsal.lab import Lab, LabUnavailable, engine, host_image
from tests.rehearsal.site import PROJECT
from tests.rehearsal.swarm_apply import ProviderClients
from tests.rehearsal.swarm_engine import SwarmSite

SLEEPER = 'FROM debian:trixie\nCMD ["sleep", "infinity"]\n'
SERVICES: dict[str, Any] = {
    "web": {"image": {"context": "web"}, "replicas": 2, "placement": {"max_replicas": 1}},
    "api": {"image": {"context": "api"}, "replicas": 3, "placement": {"preferences": [{"spread": "node.labels.az"}]}},
}
TIMEOUT = 300  # seconds per round before giving up


def write_project(root: Path, source: Path) -> Path:
    for name in ("__main__.py", "Pulumi.yaml"):
        shutil.copy(source / name, root / name)
    for name in ("components", "hostsetup"):
        (root / name).symlink_to(source / name)
    services = root / "services"
    services.mkdir()
    (services / "site.yml").write_text(
        yaml.safe_dump({"plugin": "hive_services", "services": SERVICES}, sort_keys=False)
    )
    for name in SERVICES:
        (services / name).mkdir()
        (services / name / "Dockerfile").write_text(SLEEPER)
    return root


class Swarm:
    """Docker clients of every hive's TLS API; calls go to whichever manager answers."""

    def __init__(self, site: SwarmSite) -> None:
        self.site = site
        self.clients = ProviderClients()

    def client(self, hostname: str) -> Any:
        inputs = {
            "host": f"tcp://{self.site.host(hostname).ip}:2376",
            "caMaterial": self.site.ca_cert_pem,
            "certMaterial": self.site.client_cert_pem,
            "keyMaterial": self.site.client_key_pem,
        }
        return self.clients.client_for(f"bench-{hostname}", inputs)

    def api(self, via: str) -> Any:
        return self.client(via).api

    def nodes(self, via: str) -> list[dict[str, Any]]:
        return self.api(via).nodes()

    def replicas_full(self, via: str) -> bool:
        api = self.api(via)
        for service in api.services():
            mode = service["Spec"]["Mode"]
            if "Replicated" not in mode:
                continue
            wanted = mode["Replicated"]["Replicas"]
            tasks = api.tasks(filters={"service": service["ID"], "desired-state": "running"})
            if sum(1 for t in tasks if t["Status"]["State"] == "running") != wanted:
                return False
        return True


def hostname_of(node: dict[str, Any]) -> str:
    return node["Description"]["Hostname"].split(".")[0]


def one_round(site: SwarmSite, swarm: Swarm, role: str) -> tuple[str, float | None, float | None]:
    hives = [h.hostname for h in site.hives]
    nodes = swarm.nodes(hives[0])
    leader = next(hostname_of(n) for n in nodes if (n.get("ManagerStatus") or {}).get("Leader"))
    if role == "leader":
        victim = leader
    else:
        api = swarm.api(leader)
        names = {n["ID"]: hostname_of(n) for n in nodes}
        running = {names[t["NodeID"]] for t in api.tasks(filters={"desired-state": "running"}) if t.get("NodeID")}
        victim = next(h for h in hives if h != leader and h in running)
    survivors = [h for h in hives if h != victim]
    container = site.lab.client.containers.get(site.lab.host(victim).container)
    container.kill()
    t0 = time.monotonic()
    down = full = None
    while time.monotonic() - t0 < TIMEOUT and (down is None or full is None):
        for via in survivors:
            try:
                states = {hostname_of(n): n["Status"]["State"] for n in swarm.nodes(via)}
                if down is None and states.get(victim) == "down":
                    down = time.monotonic() - t0
                if full is None and down is not None and swarm.replicas_full(via):
                    full = time.monotonic() - t0
                break
            except Exception:  # no leader yet (an election), or this manager is not answering
                continue
        time.sleep(1)
    container.start()
    site.lab._use_machine_resolver(site.lab.host(victim))
    site.lab.wait_ssh(site.host(victim).ip)
    deadline = time.monotonic() + TIMEOUT
    while time.monotonic() < deadline:
        try:
            if all(n["Status"]["State"] == "ready" for n in swarm.nodes(survivors[0])):
                break
        except Exception:
            pass
        time.sleep(2)
    return victim, down, full


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--project", type=Path, default=PROJECT, help="the project checkout to run")
    parser.add_argument("--keep", action="store_true", help="leave the lab running afterwards")
    args = parser.parse_args()
    try:
        client = engine()
        image = host_image(client)
    except LabUnavailable as exc:
        print(f"cannot run: {exc}", file=sys.stderr)
        return 2
    lab = Lab(f"bench-hive-down-{os.getpid():x}", client=client, image=image)
    try:
        with tempfile.TemporaryDirectory(prefix="bench-hive-down-") as tmp:
            (Path(tmp) / "project").mkdir()
            (Path(tmp) / "state").mkdir()
            project = write_project(Path(tmp) / "project", args.project)
            site = SwarmSite(lab, Path(tmp) / "state", project_dir=project, log=lambda message: None)
            t0 = time.monotonic()
            site.start()
            site.up()
            print(f"site provisioned and services deployed in {time.monotonic() - t0:.0f} s")
            swarm = Swarm(site)
            try:
                print(f"{'hive powered off':<28} {'marked down':>12} {'full replicas':>14}")
                for role in ("leader", "follower"):
                    victim, down, full = one_round(site, swarm, role)
                    shown = [f"{v:.0f} s" if v is not None else f"> {TIMEOUT} s" for v in (down, full)]
                    print(f"{role + ' (' + victim + ')':<28} {shown[0]:>12} {shown[1]:>14}")
            finally:
                swarm.clients.close()
                site.close()
    finally:
        if args.keep:
            print(f"keeping lab {lab.name}: network {lab.cidr}")
        else:
            lab.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
