"""``hive:alert_receivers``: where Alertmanager sends the alerts (email, a webhook, a Slack-compatible hook).

The whole value is handled as a secret (it carries SMTP passwords and hook URLs): set it with
``pulumi config set --secret --path 'hive:alert_receivers[0].slack.url' https://hooks…``. Error messages
never echo a password or a URL.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from components.inventory.schema import Node

NAME = r"[a-z0-9][a-z0-9_-]{0,39}"
EMAIL = r"[^@\s]+@[^@\s]+\.[^@\s]+"
HOST_PORT = r"[A-Za-z0-9.-]+:\d{1,5}"
URL = r"https?://\S+"
KINDS = ("email", "webhook", "slack")


@dataclass(frozen=True)
class Receiver:
    name: str
    kind: str  # email | webhook | slack
    to: tuple[str, ...] = ()
    sender: str = ""
    smarthost: str = ""
    username: str = ""
    password: str = field(default="", repr=False)  # secret
    url: str = field(default="", repr=False)  # secret (a hook URL is a credential)
    channel: str = ""


def _secret_string(node: Node, pattern: str | None, allowed: str) -> str:
    if not isinstance(node.value, str) or not node.value or (pattern and not re.fullmatch(pattern, node.value)):
        raise node.error("is not valid (value not shown: it is secret)", allowed)
    return node.value


def parse_receivers(node: Node) -> tuple[Receiver, ...]:
    receivers = []
    names: set[str] = set()
    for item in node.items():
        fields = item.mapping(("name", *KINDS), required=("name",))
        name = fields["name"].string(NAME, "lower-case letters, digits, '-' and '_', e.g. ops-mail", max_len=40)
        if name in names or name == "ui-only":
            raise fields["name"].error(f"{name} is used twice or reserved", "a unique name other than ui-only")
        names.add(name)
        kinds = [k for k in KINDS if k in fields]
        if len(kinds) != 1:
            raise item.error("needs exactly one of email, webhook, slack", "one receiver kind per entry")
        kind = kinds[0]
        if kind == "email":
            f = fields["email"].mapping(
                ("to", "from", "smarthost", "username", "password"), ("to", "from", "smarthost")
            )
            to = f["to"].string_list(EMAIL, "email addresses") if isinstance(f["to"].value, list) else [
                f["to"].string(EMAIL, "an email address")]  # fmt: skip
            receivers.append(
                Receiver(
                    name,
                    kind,
                    to=tuple(to),
                    sender=f["from"].string(EMAIL, "an email address"),
                    smarthost=f["smarthost"].string(
                        HOST_PORT, "host:port of the SMTP server, e.g. smtp.example.com:587"
                    ),
                    username=f["username"].string() if "username" in f else "",
                    password=_secret_string(f["password"], None, "the SMTP password") if "password" in f else "",
                )
            )
        else:
            f = fields[kind].mapping(("url", "channel") if kind == "slack" else ("url",), ("url",))
            url = _secret_string(f["url"], URL, "an http(s) URL")
            channel = f["channel"].string(r"[#@]?[A-Za-z0-9._-]+", "a channel like #ops") if "channel" in f else ""
            receivers.append(Receiver(name, kind, url=url, channel=channel))
    return tuple(receivers)
