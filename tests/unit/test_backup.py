"""Backups: the backup_scripts forms, what the repository's agent is told, and the agent's own pure rules."""

from __future__ import annotations

import datetime as dt
import importlib.machinery
import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

from components.backup.initialize import delegation_env, init_command, init_text
from components.backup.plan import BACKUP_DIR, agent_config, backup_services, needs_agent, offsite_env_lines, step_env
from components.inventory.errors import ConfigError
from components.inventory.sources import read_catalog
from components.provision.steps import Stdin, host_steps, render_command

from .conftest import catalog_of

ROOT = Path(__file__).resolve().parents[2]
AGENT_PATH = ROOT / "hostsetup" / "hive-backup"
DUMP = {
    "name": "db",
    "backup_command": "mariadb-dump --all-databases > /root/today.sql",
    "backup_file": "/root/today.sql",
    "restore_command": "mariadb < /root/today.sql",
    "restore_file": "/root/today.sql",
    "ext": "sql",
    "cleanup_days_before": 7,
    "batch_scripts": ["mariadb -e 'OPTIMIZE TABLE pdns.records'"],
}
ARCHIVE = {"name": "files", "directory": "/srv/data", "cleanup_days_before": 3}


def load_agent():
    loader = importlib.machinery.SourceFileLoader("hive_backup_agent", str(AGENT_PATH))
    spec = importlib.util.spec_from_loader(loader.name, loader)
    module = importlib.util.module_from_spec(spec)
    sys.modules[loader.name] = module  # dataclasses look their module up
    loader.exec_module(module)
    return module


agent = load_agent()


def service_with(*scripts: dict) -> dict:
    return {"db": {"image": "mariadb:11.4", "backup_scripts": list(scripts)}}


# --- validation of the forms -----------------------------------------------------------------------------


def test_both_forms_load():
    (service,) = catalog_of(service_with(DUMP, ARCHIVE)).services
    assert [s["name"] for s in service.backup_scripts] == ["db", "files"]


@pytest.mark.parametrize(
    ("script", "path", "problem"),
    [
        ({"name": "x"}, "backup_scripts[0]", "needs exactly one of directory and backup_command"),
        ({"name": "x", "directory": "/a", "backup_command": "true"}, "backup_scripts[0]", "exactly one of"),
        ({"name": "x", "directory": "srv"}, "backup_scripts[0].directory", "an absolute path"),
        ({"name": "x", "directory": "/srv", "ext": "sql"}, "backup_scripts[0].ext", "only for the backup_command form"),
        ({"name": "x", "backup_command": "dump"}, "backup_scripts[0]", "backup_command needs backup_file"),
        (
            {"name": "x", "backup_command": "d", "backup_file": "/f", "restore_file": "/f"},
            "backup_scripts[0].restore_file",
            "without restore_command",
        ),
        ({"name": "x", "backup_command": "d", "backup_file": "f"}, "backup_scripts[0].backup_file", "absolute path"),
        ({"name": "a b", "directory": "/srv"}, "backup_scripts[0].name", "file-name-safe"),
        ({"name": "x", "directory": "/srv", "cleanup_days_before": -1}, "backup_scripts[0].cleanup_days_before", ""),
    ],
)
def test_bad_form_is_one_line_naming_the_key(script, path, problem):
    with pytest.raises(ConfigError) as error:
        catalog_of(service_with(script))
    message = str(error.value)
    assert "\n" not in message
    assert f"services.db.{path}:" in message and problem in message


def test_a_backup_name_is_used_once_per_service():
    with pytest.raises(ConfigError, match=r"backup_scripts\[1\]: name 'db' is used twice"):
        catalog_of(service_with(DUMP, {**ARCHIVE, "name": "db"}))


# --- what the agent is told ------------------------------------------------------------------------------


def test_only_services_with_backup_scripts_reach_the_agent(make_site):
    site = make_site({**service_with(DUMP), "web": {"image": "nginx:1.27"}})
    assert list(backup_services(site)) == ["db"]
    assert backup_services(site)["db"][0] == DUMP


def test_a_site_without_backup_scripts_has_no_agent(make_site):
    site = make_site({"web": {"image": "nginx:1.27"}})
    assert not needs_agent(site)
    assert all(spec.name != "backup" for h in site.hosts for spec in host_steps(site, h))


def test_agent_finds_the_swarm_through_every_hive(make_site):
    site = make_site(service_with(DUMP))
    conf = agent_config(site)
    assert conf["managers"] == [h.private_ip for h in site.hives]
    assert conf["backup_dir"] == BACKUP_DIR
    assert conf["offsite"] is None


def test_backup_step_runs_on_the_repository_only_with_its_secret_on_stdin(make_site):
    site = make_site(service_with(DUMP))
    steps = {h.fqdn: [s for s in host_steps(site, h) if s.name == "backup"] for h in site.hosts}
    assert {fqdn for fqdn, found in steps.items() if found} == {site.repository.fqdn}
    (spec,) = steps[site.repository.fqdn]
    assert spec.stdin is Stdin.BACKUP
    assert "hive-backup" in spec.files
    assert json.loads(spec.env["HIVE_BACKUP_SERVICES"]) == {"db": [DUMP]}
    assert "RESTIC" not in render_command(spec, "admin")


def test_offsite_setting_reaches_the_agent(make_site):
    site = make_site(
        service_with(DUMP),
        **{
            "hive:offsite_backup": {"repository": "s3:https://s3.example.com/site-backups", "keep_days": 30},
            "hive:offsite_backup_password": "[secret]",
        },
    )
    assert agent_config(site)["offsite"] == {"repository": "s3:https://s3.example.com/site-backups", "keep_days": 30}
    assert step_env(site)["HIVE_BACKUP_OFFSITE"] == "1"


@pytest.mark.parametrize(
    ("values", "path", "problem"),
    [
        ({"hive:offsite_backup": {"repository": "/var/backups"}, "hive:offsite_backup_password": "[s]"},
         "hive:offsite_backup.repository", "a restic repository off the site"),
        ({"hive:offsite_backup": {"repository": "s3:https://x/y"}}, "hive:offsite_backup_password", "is required"),
        ({"hive:offsite_backup_password": "[s]"}, "hive:offsite_backup_password", "hive:offsite_backup is not"),
        ({"hive:offsite_backup": {"repository": "s3:https://x/y", "keep_days": 0}, "hive:offsite_backup_password": "s"},
         "hive:offsite_backup.keep_days", ""),
        ({"hive:offsite_backup": {"repo": "s3:https://x/y"}, "hive:offsite_backup_password": "[s]"},
         "hive:offsite_backup", ""),
    ],
)  # fmt: skip
def test_bad_offsite_setting_is_one_line(make_stage, values, path, problem):
    with pytest.raises(ConfigError) as error:
        make_stage(**values)
    assert f": {path}" in str(error.value) and problem in str(error.value)


def test_offsite_secrets_are_name_value_lines():
    text = offsite_env_lines("pw", {"AWS_SECRET_ACCESS_KEY": "k", "AWS_ACCESS_KEY_ID": "i"})
    assert text == "RESTIC_PASSWORD=pw\nAWS_ACCESS_KEY_ID=i\nAWS_SECRET_ACCESS_KEY=k\n"


@pytest.mark.parametrize("credentials", [{"aws_key": "x"}, {"RESTIC_PASSWORD": "x"}, {"KEY": "a\nb"}])
def test_offsite_credentials_that_cannot_be_env_lines_are_refused(credentials):
    with pytest.raises(ValueError, match="hive:offsite_backup_credentials"):
        offsite_env_lines("pw", credentials)


# --- the agent's rules -----------------------------------------------------------------------------------

NOW = dt.datetime(2026, 11, 29, 1, 0, 0)


def test_file_names_are_hive_builders():
    dump, archive = agent.Script.from_mapping(DUMP), agent.Script.from_mapping(ARCHIVE)
    assert dump.file_name(NOW) == "backup-db-20261129010000.sql"
    assert archive.file_name(NOW) == "backup-files-20261129010000.tar.gz"
    assert dump.latest_name() == "backup-db-latest.sql"


def test_directory_backup_is_a_tar_stream_and_restores_by_extracting():
    archive = agent.Script.from_mapping(ARCHIVE)
    assert archive.backup_argv() == ["tar", "-czf", "-", "-C", "/srv/data", "."]
    assert archive.fetch_argv() is None
    assert archive.restore_argvs() == [["tar", "-xzf", "-", "-C", "/srv/data"]]


def test_command_backup_runs_the_command_then_reads_its_file():
    dump = agent.Script.from_mapping(DUMP)
    assert dump.backup_argv() == ["sh", "-c", DUMP["backup_command"]]
    assert dump.fetch_argv() == ["cat", "--", "/root/today.sql"]
    assert dump.restore_argvs() == [["sh", "-c", "cat > /root/today.sql"], ["sh", "-c", DUMP["restore_command"]]]


def test_retention_selects_exactly_the_expired_files_of_that_backup():
    dump = agent.Script.from_mapping(DUMP)  # 7 days
    names = [
        "backup-db-20261121235959.sql",  # 7 days + 1 s: expired
        "backup-db-20261122010000.sql",  # exactly 7 days: kept
        "backup-db-20261128010000.sql",
        "backup-db-latest.sql",
        "backup-dbx-20260101000000.sql",  # another backup's file
        "backup-files-20260101000000.tar.gz",
        "notes.txt",
    ]
    assert agent.expired(names, dump, NOW) == ["backup-db-20261121235959.sql"]


def test_retention_never_removes_the_newest_backup_and_keeps_all_without_a_limit():
    zero = agent.Script.from_mapping({**DUMP, "cleanup_days_before": 0})
    assert agent.expired(["backup-db-20261129005959.sql"], zero, NOW, keep="backup-db-20261129005959.sql") == []
    forever = agent.Script.from_mapping({k: v for k, v in DUMP.items() if k != "cleanup_days_before"})
    assert agent.expired(["backup-db-20000101000000.sql"], forever, NOW) == []


def test_restore_chooses_the_newest_or_the_named_time():
    dump = agent.Script.from_mapping(DUMP)
    names = ["backup-db-20261127010000.sql", "backup-db-20261128010000.sql", "backup-db-latest.sql"]
    assert agent.choose(names, dump, None) == "backup-db-20261128010000.sql"
    assert agent.choose(names, dump, "20261127") == "backup-db-20261127010000.sql"
    assert agent.choose(names, dump, "2025") is None


def test_running_tasks_are_read_from_docker_service_ps():
    output = (
        "t1 p-hive0.pdns Running 2 hours ago\n"
        "t2 p-hive1.pdns Preparing 1 second ago\n"
        "t3 p-hive2.pdns Running 5 minutes ago\n"
    )
    assert agent.parse_tasks(output) == [("t1", "p-hive0.pdns"), ("t3", "p-hive2.pdns")]


def test_the_agent_talks_to_docker_with_its_own_identity():
    argv = agent.docker_argv("10.0.0.5", ["ps"], Path("/etc/hive/backup-tls"))
    assert argv[:2] == ["docker", "--tlsverify"]
    assert "--tlscert=/etc/hive/backup-tls/cert.pem" in argv and "--host=tcp://10.0.0.5:2376" in argv


def test_agent_usage_error_names_the_known_services(tmp_path, monkeypatch):
    (tmp_path / "backup.conf").write_text(json.dumps({"managers": [], "backup_dir": str(tmp_path), "site": "p-x"}))
    (tmp_path / "services.json").write_text(json.dumps({"db": [DUMP]}))
    monkeypatch.setattr(agent, "CONF", tmp_path / "backup.conf")
    monkeypatch.setattr(agent, "SERVICES", tmp_path / "services.json")
    assert agent.main(["run", "web"]) == 2


def test_restore_needs_a_service_name():
    result = subprocess.run(
        [sys.executable, str(AGENT_PATH), "restore"], capture_output=True, text=True, timeout=30, check=False
    )
    assert result.returncode == 2 and "service" in result.stderr


# --- initialize (hive-builder's initialize-services) -----------------------------------------------------


def test_initialize_roles_says_what_to_write_instead():
    with pytest.raises(ConfigError) as error:
        catalog_of({"web": {"image": "nginx:1.27", "initialize_roles": ["init-web"]}})
    message = str(error.value)
    assert "services.web.initialize_roles: Ansible roles cannot run here" in message
    assert "initialize: {command: <shell command>} or initialize: {script: <file under services/>}" in message


@pytest.mark.parametrize(
    ("initialize", "problem"),
    [
        ({}, "needs exactly one of command and script"),
        ({"command": "true", "script": "x.sh"}, "needs exactly one of command and script"),
        ({"script": "/etc/passwd"}, "a file under services/"),
        ({"script": "../secrets.sh"}, "a file under services/"),
        ({"run": "true"}, "run"),
    ],
)
def test_bad_initialize_is_one_line(initialize, problem):
    with pytest.raises(ConfigError) as error:
        catalog_of({"web": {"image": "nginx:1.27", "initialize": initialize}})
    assert "services.web.initialize" in str(error.value) and problem in str(error.value)


def test_an_initialize_script_that_does_not_exist_is_named_before_anything(write_project):
    project = write_project(services={"plugin": "hive_services", "services": {
        "web": {"image": "nginx:1.27", "initialize": {"script": "web/missing.sh"}}}})  # fmt: skip
    with pytest.raises(
        ConfigError, match=r"services/site.yml: services.web.initialize.script: web/missing.sh does not"
    ):
        read_catalog(project)


def test_initialize_text_is_the_command_or_the_script(write_project):
    project = write_project(services={"plugin": "hive_services", "services": {
        "a": {"image": "x", "initialize": {"command": "echo hi"}},
        "b": {"image": "y", "initialize": {"script": "b/init.sh"}}}})  # fmt: skip
    (project / "services" / "b").mkdir()
    (project / "services" / "b" / "init.sh").write_text("echo from file\n")
    a, b = read_catalog(project).services
    assert init_text(a, project) == "echo hi\n"
    assert init_text(b, project) == "echo from file\n"


def test_initialize_gets_the_delegation_through_the_agent():
    delegation = {
        "zone": "pdns.example.com.",
        "glue_records": [
            {"name": "s-hive0.pdns.example.com.", "ipv4": "10.0.0.5"},
            {"name": "s-hive1.pdns.example.com.", "ipv4": "10.0.0.6"},
        ],
    }
    env = delegation_env(delegation)
    assert env == {
        "HIVE_ZONE": "pdns.example.com.",
        "HIVE_NAME_SERVERS": "s-hive0.pdns.example.com.=10.0.0.5 s-hive1.pdns.example.com.=10.0.0.6",
    }
    assert init_command("admin", "pdnsdb", env) == (
        "sudo /usr/local/sbin/hive-backup init pdnsdb --env 'HIVE_NAME_SERVERS=s-hive0.pdns.example.com.=10.0.0.5 "
        "s-hive1.pdns.example.com.=10.0.0.6' --env HIVE_ZONE=pdns.example.com."
    )


def test_a_service_with_initialize_alone_gets_the_agent(make_site):
    site = make_site({"web": {"image": "nginx:1.27", "initialize": {"command": "true"}}})
    assert needs_agent(site) and backup_services(site) == {}


# --- the off-site repository: created on first use, never probed with a retrying `restic cat config` ---------


def offsite_site(tmp_path: Path):
    return agent.Site(managers=[], backup_dir=tmp_path, site="s", offsite={"repository": "s3:http://h/b"})


def restic_answering(monkeypatch, returncode: int, stderr: bytes) -> list[list[str]]:
    calls: list[list[str]] = []

    def fake(site, args):
        calls.append(list(args))
        return subprocess.CompletedProcess(args, returncode, b"", stderr)

    monkeypatch.setattr(agent, "restic", fake)
    monkeypatch.setattr(agent, "say", lambda *a, **k: None)
    return calls


def test_an_existing_offsite_repository_is_ready(monkeypatch, tmp_path):
    exists = (
        b"Fatal: create key in repository at s3:http://h/b failed: repository master key and config already initialized"
    )
    calls = restic_answering(monkeypatch, 1, exists)
    agent.ensure_offsite_repository(offsite_site(tmp_path))
    assert calls == [["init"]]


def test_an_offsite_repository_that_cannot_be_created_is_a_backup_error(monkeypatch, tmp_path):
    restic_answering(monkeypatch, 1, b"Fatal: create repository at s3:http://h/b failed: Access Denied")
    with pytest.raises(agent.BackupError, match=r"restic init: Fatal: create repository .* Access Denied"):
        agent.ensure_offsite_repository(offsite_site(tmp_path))
