"""Parsers for ``docker node ls``, ``docker service ls`` and ``docker service ps --no-trunc``, each with
``--format '{{json .}}'`` (one JSON object per line: the docker CLI's formatter fields, e.g. docker/cli
cli/command/service/formatter.go ``Name``, ``Mode``, ``Replicas``, ``Ports`` and cli/command/task/formatter.go
``Name``, ``Node``, ``DesiredState``, ``CurrentState``, ``Error``, ``Ports``)."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

UDP_PORT = re.compile(r":(\d+)->\d+/udp")
# docker's go-units HumanDuration: "less than a second", "1 second", "About a minute", "5 minutes",
# "About an hour", "3 hours", "2 days", "3 weeks", "4 months", "2 years"
_AGE_UNITS = {"second": 1, "minute": 60, "hour": 3600, "day": 86400, "week": 7 * 86400, "month": 30 * 86400,
              "year": 365 * 86400}  # fmt: skip


def _json_lines(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines() if line.startswith("{")]


@dataclass(frozen=True)
class Node:
    hostname: str
    status: str  # Ready, Down, Unknown, Disconnected
    availability: str  # Active, Pause, Drain
    manager_status: str  # Leader, Reachable, Unreachable, "" for a worker


def parse_nodes(text: str) -> list[Node]:
    return [Node(d["Hostname"], d["Status"], d["Availability"], d.get("ManagerStatus", "")) for d in _json_lines(text)]


@dataclass(frozen=True)
class Service:
    name: str
    mode: str
    running: int
    desired: int
    udp_ports: tuple[int, ...]


def parse_services(text: str) -> list[Service]:
    """``Replicas`` is ``running/desired`` (``1/1``, ``0/1 (max 1 per node)``, ``2/3 (1/1 completed)``)."""
    services = []
    for d in _json_lines(text):
        match = re.match(r"(\d+)/(\d+)", d["Replicas"])
        running, desired = (int(match[1]), int(match[2])) if match else (0, 0)
        ports = tuple(int(p) for p in UDP_PORT.findall(d.get("Ports", "")))
        services.append(Service(d["Name"], d["Mode"], running, desired, ports))
    return services


@dataclass(frozen=True)
class Task:
    service: str
    slot: str  # "1" for a replicated task, the node id for a global one
    node: str
    desired_state: str
    state: str  # the first word of CurrentState: Running, Failed, Rejected, Pending, Shutdown, Complete, …
    age_seconds: float | None  # how long ago it entered that state; None when docker's wording is unknown
    error: str
    udp_ports: tuple[int, ...]

    @property
    def ended_badly(self) -> bool:
        """The task stopped on its own (failed, rejected, exited) — swarm then starts a replacement."""
        return self.state in {"Failed", "Rejected", "Complete", "Orphaned"}


def parse_age(current_state: str) -> float | None:
    """``Failed 5 seconds ago`` → 5; ``Running About a minute ago`` → 60; ``less than a second`` → 0."""
    text = current_state.split(" ", 1)[1] if " " in current_state else ""
    if text.startswith("less than a second"):
        return 0.0
    match = re.match(r"(?:(\d+)|About an?|an?) (second|minute|hour|day|week|month|year)s? ago", text, re.IGNORECASE)
    if not match:
        return None
    return float(int(match[1]) if match[1] else 1) * _AGE_UNITS[match[2].lower()]


def parse_tasks(text: str) -> list[Task]:
    tasks = []
    for d in _json_lines(text):
        name = d["Name"].lstrip("\\_ ").strip()
        service, _, slot = name.rpartition(".")
        current = d["CurrentState"]
        tasks.append(
            Task(
                service=service,
                slot=slot,
                node=d.get("Node", ""),
                desired_state=d["DesiredState"],
                state=current.split(" ", 1)[0],
                age_seconds=parse_age(current),
                error=d.get("Error", "").strip().strip('"'),
                udp_ports=tuple(int(p) for p in UDP_PORT.findall(d.get("Ports", ""))),
            )
        )
    return tasks


def parse_alerts(text: str) -> list[dict]:
    """Alertmanager's ``GET /api/v2/alerts`` (a JSON list of gettableAlert)."""
    data = json.loads(text)
    if not isinstance(data, list):
        raise ValueError("Alertmanager did not answer with a list of alerts")
    return data
