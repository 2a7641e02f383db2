"""Alertmanager's configuration from ``hive:alert_receivers``. Pure; the result carries credentials, so the
caller keeps it inside a secret Output and it reaches the repository server on stdin only.

Every alert goes to every configured receiver (a child route per receiver with ``continue: true``); with none,
the root receiver ``ui-only`` has no integrations and alerts are only visible in the UI and ``./hive doctor``.
Field names: Alertmanager's configuration reference (email_configs to/from/smarthost/auth_username/
auth_password, webhook_configs url, slack_configs api_url/channel), checked by ``amtool check-config``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import yaml

from components.inventory.receivers import Receiver

ROUTE = {"group_by": ["alertname", "instance", "service"], "group_wait": "30s", "group_interval": "5m",
         "repeat_interval": "4h"}  # fmt: skip
SLACK_TEXT = "{{ range .Alerts }}{{ .Annotations.summary }} → {{ .Annotations.runbook }}\n{{ end }}"


def _integration(r: Receiver) -> dict[str, Any]:
    if r.kind == "email":
        email: dict[str, Any] = {"to": ", ".join(r.to), "from": r.sender, "smarthost": r.smarthost,
                                 "send_resolved": True}  # fmt: skip
        if r.username:
            email["auth_username"] = r.username
        if r.password:
            email["auth_password"] = r.password
        return {"name": r.name, "email_configs": [email]}
    if r.kind == "webhook":
        return {"name": r.name, "webhook_configs": [{"url": r.url, "send_resolved": True}]}
    slack: dict[str, Any] = {"api_url": r.url, "send_resolved": True,
                             "title": "{{ .CommonLabels.alertname }} ({{ .Status }})", "text": SLACK_TEXT}  # fmt: skip
    if r.channel:
        slack["channel"] = r.channel
    return {"name": r.name, "slack_configs": [slack]}


def alertmanager_config(receivers: Sequence[Receiver]) -> str:
    route: dict[str, Any] = {"receiver": "ui-only", **ROUTE}
    if receivers:
        route["routes"] = [{"receiver": r.name, "continue": True} for r in receivers]
    document = {"route": route, "receivers": [{"name": "ui-only"}, *(_integration(r) for r in receivers)]}
    header = "# managed by hive (components/monitoring/alertmanager.py): hive:alert_receivers\n"
    return header + yaml.safe_dump(document, sort_keys=False, allow_unicode=True)
