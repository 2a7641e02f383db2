"""Every service's update and rollback policy (issue 16: updates that fail do not stick). Pure.

Swarm's defaults (no ``update_config``) pause a failed update: the service is left half on the new spec until
another update. Every service therefore carries an explicit policy: one task at a time, each watched for
:data:`MONITOR` after it starts, the first failure rolls the whole service back to its previous spec
(``failure_action: rollback``), and the rollback itself goes one task at a time and pauses if it fails too.

``order``: ``start-first`` keeps the old task serving until the new one runs — except when two tasks of the
service cannot run side by side on one hive: a DRBD volume (single primary: the new task could not mount it
while the old one holds it) or a port published in ``host`` mode (the new task could not bind it).

The provider's side (kreuzwerker/terraform-provider-docker v4.5.0, docs/provider-notes.md "Update policy"):
``internal/provider/resource_docker_service.go`` l. 800–852 ``update_config`` (parallelism, delay,
failure_action ``^(pause|continue|rollback)$``, monitor, max_failure_ratio as a string, order) and l. 853–903
``rollback_config`` (failure_action ``(pause|continue)``); ``resource_docker_service_structures.go`` l. 1294–1320
``createUpdateOrRollbackConfig`` sends each attribute as given, and l. 78–93 ``flattenServiceUpdateOrRollback
Config`` reads them back through ``shortDur`` (Go's ``Duration.String``, "m0s"/"h0m" trimmed) and
``max_failure_ratio`` formatted ``%.1f`` — every value below is written in that form, so a refresh reads back
what the program sends. All six attributes are always given: the schema's defaults never decide.

hive-builder's service format (reference §2.2) has no update or rollback keys, so a service file cannot
override the policy (its unknown keys are refused as before).
"""

from __future__ import annotations

from typing import Any

from components.inventory.services import Service
from components.inventory.site import Site

PARALLELISM = 1
UPDATE_DELAY = "5s"  # between two tasks of an update
ROLLBACK_DELAY = "0s"  # back to the last good spec without waiting
MONITOR = "15s"  # a task that fails within this after it started fails the update (> converge delay 7s)
MAX_FAILURE_RATIO = "0.0"  # the first failed task fails the update
UPDATE_FAILURE_ACTION = "rollback"
ROLLBACK_FAILURE_ACTION = "pause"  # a rollback that fails stops where it is (the provider reports it)


def cannot_overlap(site: Site, service: Service) -> str | None:
    """Why two tasks of ``service`` cannot run side by side on one hive, or None."""
    drbd = {v.name for v in site.volumes if v.kind == "drbd"}
    for mount in service.volumes:
        if mount.source in drbd:
            return f"DRBD volume {mount.source}"
    for port in service.ports:
        if port.mode == "host":
            return f"port {port.target}/{port.protocol} published in host mode"
    return None


def update_order(site: Site, service: Service) -> str:
    return "stop-first" if cannot_overlap(site, service) else "start-first"


def update_config(site: Site, service: Service) -> dict[str, Any]:
    """``docker.Service(update_config=…)`` (SDK snake_case)."""
    return {
        "parallelism": PARALLELISM,
        "delay": UPDATE_DELAY,
        "failure_action": UPDATE_FAILURE_ACTION,
        "monitor": MONITOR,
        "max_failure_ratio": MAX_FAILURE_RATIO,
        "order": update_order(site, service),
    }


def rollback_config(site: Site, service: Service) -> dict[str, Any]:
    """``docker.Service(rollback_config=…)`` (SDK snake_case)."""
    return {
        "parallelism": PARALLELISM,
        "delay": ROLLBACK_DELAY,
        "failure_action": ROLLBACK_FAILURE_ACTION,
        "monitor": MONITOR,
        "max_failure_ratio": MAX_FAILURE_RATIO,
        "order": update_order(site, service),
    }
