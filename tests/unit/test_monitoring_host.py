"""The monitoring host side: catalogue entries, the rsyslog error rules, and the scripts' static checks."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from components.monitoring.error_rules import error_rules, rainerscript_string, watched_names
from components.provision.steps import MONITORING_RULES, Stdin, host_steps

ROOT = Path(__file__).resolve().parents[2]
HOSTSETUP = ROOT / "hostsetup"
POWERDNS = {"image": "powerdns:4", "monitor_error": ["Fatal", '\\[emerg\\] "quoted"'], "ignore_error": ["favicon"]}
SERVICES = {
    "powerdns": POWERDNS,
    "pdnsdb": {"image": "mariadb:11", "monitor_error": ["ERROR"]},
    "quiet": {"image": "nginx:1"},
}


def step(site, index: int, name: str):
    (found,) = [s for s in host_steps(site, site.hosts[index]) if s.name == name]
    return found


def test_node_exporter_listens_on_the_private_address(make_site) -> None:
    site = make_site()
    node = step(site, 1, "monitoring-node")
    assert node.env == {"HIVE_LISTEN_ADDR": "192.168.0.11"}
    assert node.files == ("lib.sh", "monitoring-node.sh", "hive-metrics")


def test_prometheus_scrapes_every_server_by_fqdn(make_site) -> None:
    site = make_site()
    server = step(site, 3, "monitoring-server")
    assert server.env == {
        "HIVE_MONITOR_TARGETS": "s-hive0.pdns=192.168.0.10 s-hive1.pdns=192.168.0.11 s-hive2.pdns=192.168.0.12 "
        "s-hive3.pdns=192.168.0.13",
        "HIVE_RECEIVERS": "1",
    }
    assert server.stdin is Stdin.ALERTMANAGER and server.handles_secrets


def test_the_rule_files_shipped_are_the_repositorys_rule_files() -> None:
    for name in MONITORING_RULES:
        shipped = HOSTSETUP / name
        assert shipped.is_symlink(), name
        assert shipped.resolve().parent == ROOT / "monitoring" / "rules"
    assert {(HOSTSETUP / n).resolve() for n in MONITORING_RULES} == set((ROOT / "monitoring" / "rules").glob("*.yml"))


def test_the_monitoring_server_and_error_rules_run_on_the_repository_only(make_site) -> None:
    site = make_site()
    for index in range(3):
        assert {"monitoring-server", "monitoring-errors"}.isdisjoint(
            s.name for s in host_steps(site, site.hosts[index])
        )


def test_error_rules_env_names_the_watched_services(make_site) -> None:
    site = make_site(SERVICES)
    env = step(site, 3, "monitoring-errors").env
    assert env["HIVE_ERROR_SERVICES"] == "pdnsdb powerdns"
    assert 'if $programname == "powerdns" and (re_match($msg, "Fatal")' in env["HIVE_ERROR_RULES"]


def test_a_rule_copies_matching_lines_unless_ignored(make_site) -> None:
    rules = error_rules(make_site(SERVICES).catalog.services)
    assert (
        'if $programname == "powerdns" and (re_match($msg, "Fatal") or re_match($msg, "\\\\[emerg\\\\] \\"quoted\\""))'
        ' and not (re_match($msg, "favicon")) then {' in rules
    )
    assert 'if $programname == "pdnsdb" and (re_match($msg, "ERROR")) then {' in rules
    assert "quiet" not in rules


def test_rainerscript_strings_escape_backslash_and_quote() -> None:
    assert rainerscript_string('a\\b"c') == '"a\\\\b\\"c"'


def test_no_watched_service_gives_no_rule(make_site) -> None:
    services = make_site({"quiet": {"image": "nginx:1"}}).catalog.services
    assert watched_names(services) == ""
    assert "if " not in error_rules(services)


@pytest.mark.skipif(shutil.which("rsyslogd") is None, reason="rsyslogd missing (apt-get install rsyslog; .ci/run does)")
def test_rsyslog_accepts_the_rules_inside_the_log_collectors_ruleset(make_site, tmp_path: Path) -> None:
    rules = tmp_path / "hive-service-errors.rules"
    rules.write_text(error_rules(make_site(SERVICES).catalog.services))
    conf = tmp_path / "rsyslog.conf"
    conf.write_text(
        'ruleset(name="hive-services") {\n'
        f'    include(file="{rules}" mode="optional")\n'
        '    action(type="omfile" file="/dev/null")\n    stop\n}\n'
    )
    result = subprocess.run(["rsyslogd", "-N1", "-f", str(conf)], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.skipif(shutil.which("rsyslogd") is None, reason="rsyslogd missing (apt-get install rsyslog; .ci/run does)")
def test_rsyslog_rejects_a_broken_rule(tmp_path: Path) -> None:
    rules = tmp_path / "broken.rules"
    rules.write_text('if $programname == "x" and (re_match($msg, "a") then {\n}\n')
    conf = tmp_path / "rsyslog.conf"
    conf.write_text(f'ruleset(name="r") {{\n    include(file="{rules}" mode="optional")\n}}\n')
    result = subprocess.run(["rsyslogd", "-N1", "-f", str(conf)], capture_output=True, text=True, check=False)
    assert result.returncode != 0


@pytest.mark.parametrize(
    "path", [HOSTSETUP / "hive-metrics", ROOT / "components" / "doctor" / "collect.sh"], ids=lambda p: p.name
)
def test_shellcheck_clean(path: Path) -> None:
    if shutil.which("shellcheck") is None:
        pytest.skip("shellcheck is not installed (apt-get install shellcheck)")
    result = subprocess.run(["shellcheck", str(path)], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


def test_log_collector_includes_the_error_rules_inside_its_ruleset() -> None:
    text = (HOSTSETUP / "log-collector.sh").read_text()
    ruleset = text.split('ruleset(name="hive-services") {', 1)[1].split("stop", 1)[0]
    assert 'include(file="/etc/rsyslog.d/hive-service-errors.rules" mode="optional")' in ruleset
