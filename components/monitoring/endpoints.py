"""Where the monitoring lives and how to reach it: the stack output ``monitoring``. Pure."""

from __future__ import annotations

from typing import Any

from components.inventory.site import Site
from components.monitoring.error_rules import ERROR_LOG, watched_names

PROMETHEUS_PORT = 9090
ALERTMANAGER_PORT = 9093
NODE_EXPORTER_PORT = 9100
DOCKER_METRICS_PORT = 9323


def monitoring_output(site: Site, receivers: list[str]) -> dict[str, Any]:
    """Prometheus and Alertmanager listen on the repository server's loopback only: the operator reaches them
    through ssh port forwarding (hive-builder's ``hive ssh -z``)."""
    repo = site.repository.fqdn
    stage = site.stage.stage
    return {
        "server": repo,
        "prometheus": f"http://127.0.0.1:{PROMETHEUS_PORT}",
        "alertmanager": f"http://127.0.0.1:{ALERTMANAGER_PORT}",
        "ssh_forward": f"./hive ssh -s {stage} {repo} -N -L {PROMETHEUS_PORT}:127.0.0.1:{PROMETHEUS_PORT}"
        f" -L {ALERTMANAGER_PORT}:127.0.0.1:{ALERTMANAGER_PORT}",
        "doctor": f"./hive doctor -s {stage}",
        "scrape_targets": {
            h.fqdn: [f"{h.private_ip}:{NODE_EXPORTER_PORT}", f"{h.private_ip}:{DOCKER_METRICS_PORT}"]
            for h in site.hosts
        },
        "error_log": f"{repo}:{ERROR_LOG}",
        "error_watched_services": watched_names(site.catalog.services).split(),
        "receivers": receivers,
    }
