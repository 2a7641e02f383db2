"""hive:alert_receivers → Alertmanager's configuration (checked by amtool where it is installed)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from components.inventory.errors import ConfigError
from components.monitoring.alertmanager import alertmanager_config

SMTP_PASSWORD = "s3cret-smtp"
HOOK = "https://hooks.example.com/T000/B000/XXXX"
RECEIVERS = [
    {"name": "ops-mail", "email": {"to": ["ops@example.com", "dev@example.com"], "from": "am@example.com",
                                   "smarthost": "smtp.example.com:587", "username": "am", "password": SMTP_PASSWORD}},
    {"name": "hook", "webhook": {"url": "https://ci.example.com/alerts"}},
    {"name": "chat", "slack": {"url": HOOK, "channel": "#ops"}},
]  # fmt: skip
needs_amtool = pytest.mark.skipif(shutil.which("amtool") is None, reason="amtool missing (prometheus-alertmanager)")


def test_receivers_are_parsed_with_every_field(make_stage) -> None:
    mail, hook, chat = make_stage(**{"hive:alert_receivers": RECEIVERS}).alert_receivers
    assert (mail.kind, mail.to, mail.smarthost, mail.password) == (
        "email", ("ops@example.com", "dev@example.com"), "smtp.example.com:587", SMTP_PASSWORD)  # fmt: skip
    assert (hook.kind, hook.url) == ("webhook", "https://ci.example.com/alerts")
    assert (chat.kind, chat.url, chat.channel) == ("slack", HOOK, "#ops")


def test_no_receivers_by_default(make_stage) -> None:
    assert make_stage().alert_receivers == ()


def test_a_receivers_repr_hides_its_credentials(make_stage) -> None:
    text = repr(make_stage(**{"hive:alert_receivers": RECEIVERS}).alert_receivers)
    assert SMTP_PASSWORD not in text and HOOK not in text


@pytest.mark.parametrize(
    ("receivers", "message"),
    [
        ([{"name": "x", "email": {"to": "a@b.c", "from": "d@e.f"}}],
         "hive:alert_receivers[0].email.smarthost: is required"),
        ([{"name": "x"}], "hive:alert_receivers[0]: needs exactly one of email, webhook, slack"),
        ([{"name": "x", "webhook": {"url": "ftp://nope/secret-token"}}],
         "hive:alert_receivers[0].webhook.url: is not valid (value not shown: it is secret) (an http(s) URL)"),
        ([{"name": "ui-only", "webhook": {"url": "https://a.b"}}],
         "hive:alert_receivers[0].name: ui-only is used twice"),
        ([{"name": "x", "pager": {}}], "hive:alert_receivers[0].pager: unknown key"),
    ],
)  # fmt: skip
def test_bad_receivers_are_one_line_naming_the_key(make_stage, receivers, message: str) -> None:
    with pytest.raises(ConfigError) as err:
        make_stage(**{"hive:alert_receivers": receivers})
    text = str(err.value)
    assert text.startswith("Pulumi.staging.yaml: ") and message in text and "\n" not in text
    assert "secret-token" not in text


def test_every_receiver_gets_every_alert(make_stage) -> None:
    config = yaml.safe_load(alertmanager_config(make_stage(**{"hive:alert_receivers": RECEIVERS}).alert_receivers))
    assert config["route"]["receiver"] == "ui-only"
    assert config["route"]["routes"] == [{"receiver": n, "continue": True} for n in ("ops-mail", "hook", "chat")]
    mail = config["receivers"][1]["email_configs"][0]
    assert (mail["to"], mail["auth_password"]) == ("ops@example.com, dev@example.com", SMTP_PASSWORD)
    assert config["receivers"][3]["slack_configs"][0]["api_url"] == HOOK


@needs_amtool
@pytest.mark.parametrize("with_receivers", [False, True])
def test_amtool_accepts_the_configuration(make_stage, tmp_path: Path, with_receivers: bool) -> None:
    stage = make_stage(**({"hive:alert_receivers": RECEIVERS} if with_receivers else {}))
    path = tmp_path / "alertmanager.yml"
    path.write_text(alertmanager_config(stage.alert_receivers))
    result = subprocess.run(["amtool", "check-config", str(path)], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
