"""./hive import-hive-builder: a hive-builder project (tests/fixtures/hive_builder/pdns: three stages, a
persistents.yml with ports and minors) converts, and the inventory on the result shows the host names,
addresses, published ports and DRBD minors hive-builder's rules give (reference §1.2, §1.3, §2.3, §2.5)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml

from components.importer.cli import main as import_main
from components.inventory.cli import main as inventory_main

ROOT = Path(__file__).resolve().parents[2]
FIXTURE = ROOT / "tests" / "fixtures" / "hive_builder" / "pdns"
DB_PASSWORD = "fixture-db-password-not-secret"  # inventory/group_vars/all.yml
ROOT_PASSWORD = "not-a-real-password"  # inventory/hive.yml stages.production.root_password
WRITTEN = [
    "Pulumi.private.yaml", "Pulumi.staging.yaml", "Pulumi.production.yaml", "services/powerdns.yml",
    "import-secrets.sh", "import-hive-builder.txt",
]  # fmt: skip


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """An empty hive-on-Pulumi project (Pulumi.yaml only)."""
    shutil.copy(ROOT / "Pulumi.yaml", tmp_path / "Pulumi.yaml")
    return tmp_path


@pytest.fixture
def imported(project: Path, capsys: pytest.CaptureFixture[str]) -> Path:
    assert import_main([str(FIXTURE), "--project-dir", str(project)]) == 0
    capsys.readouterr()
    # what the operator does with import-secrets.sh for the prepared stage (the value is a Pulumi secret)
    with (project / "Pulumi.production.yaml").open("a") as stack:
        stack.write("  hive:ssh_private_key:\n    secure: AAABAKEY\n")
    return project


def inventory(project: Path, stage: str, capsys: pytest.CaptureFixture[str]) -> dict:
    assert inventory_main(["inventory", "--stack", stage, "--project-dir", str(project)]) == 0
    return json.loads(capsys.readouterr().out)


def hosts(doc: dict) -> list[tuple[str, str, str, bool]]:
    return [(h["name"], h["private_ip"], h["role"], h["first_hive"]) for h in doc["hosts"]]


def ports(doc: dict) -> dict[str, list[str]]:
    return {s["name"]: [f"{p['published']}:{p['target']}/{p['protocol']}" for p in s["ports"]] for s in doc["services"]}


def minors(doc: dict) -> dict[str, int]:
    return {v["name"]: v["drbd"]["minor"] for v in doc["volumes"] if "drbd" in v}


def test_first_run_writes_every_file(project: Path, capsys: pytest.CaptureFixture[str]):
    assert import_main([str(FIXTURE), "--project-dir", str(project)]) == 0
    out = capsys.readouterr().out
    assert [line.removeprefix("wrote ") for line in out.splitlines() if line.startswith("wrote ")] == WRITTEN


def test_private_stage_vagrant_becomes_local_with_hive_builders_address(imported, capsys):
    doc = inventory(imported, "private", capsys)
    assert doc["provider"] == "local"
    assert hosts(doc) == [("p-hive0.pdns", "192.168.0.100", "repository", True)]  # no subnets: network+4
    assert ports(doc) == {
        "pdnsdb": [],
        "powerdns": ["53:53/tcp", "61003:8081/tcp", "53:53/udp", "61001:8082/tcp"],
        "pdnsadmin": ["8080:80/tcp", "61004:9191/tcp"],
    }
    assert doc["allocations"]["drbd_minors"] == {"pdnsdb_data": 2, "pdnsadmin_data": 1}


def test_staging_stage_subnets_ports_and_minors(imported, capsys):
    doc = inventory(imported, "staging", capsys)
    # with subnets: host i in subnets[i % 3], each subnet from network+5; the last host is the repository
    assert hosts(doc) == [
        ("s-hive0.pdns", "192.168.0.5", "hive", True),
        ("s-hive1.pdns", "192.168.0.69", "hive", False),
        ("s-hive2.pdns", "192.168.0.133", "hive", False),
        ("s-hive3.pdns", "192.168.0.6", "repository", False),
    ]
    assert [h["az"] for h in doc["hosts"]] == [
        "ap-northeast-1a",
        "ap-northeast-1c",
        "ap-northeast-1d",
        "ap-northeast-1a",
    ]
    assert ports(doc) == {
        "pdnsdb": [],
        "powerdns": ["53:53/tcp", "61001:8081/tcp", "53:53/udp", "61002:8082/tcp"],
        "pdnsadmin": ["8080:80/tcp", "61003:9191/tcp"],
        "proxy": ["80:80/tcp", "443:443/tcp", "61004:8443/tcp"],
    }
    # proxy_certs is not in staging's drbd_device_map: the lowest id the map does not hold
    assert minors(doc) == {"pdnsdb_data": 1, "pdnsadmin_data": 2, "proxy_certs": 3}


def test_production_stage_first_hive_and_new_entries_skip_every_mapped_value(imported, capsys):
    doc = inventory(imported, "production", capsys)
    assert hosts(doc) == [
        ("pdns0.pdns", "10.10.0.21", "hive", False),
        ("pdns1.pdns", "10.10.0.22", "hive", True),  # persistents first_hive: {production: 1}
        ("pdns2.pdns", "10.10.0.23", "repository", False),
    ]
    # proxy8443 is new: hive-builder gives the lowest port its map does not list (oldsvc9000 holds 61001)
    assert ports(doc)["proxy"] == ["80:80/tcp", "443:443/tcp", "61002:8443/tcp"]
    assert ports(doc)["powerdns"] == ["53:53/tcp", "61010:8081/tcp", "53:53/udp", "61011:8082/tcp"]
    assert ports(doc)["pdnsadmin"] == ["8080:80/tcp", "61012:9191/tcp"]
    # proxy_certs is new: the lowest minor the map does not list (retired_data holds 4)
    assert minors(doc) == {"pdnsdb_data": 5, "pdnsadmin_data": 3, "proxy_certs": 1}


def test_second_run_without_force_changes_nothing_and_says_so(imported, capsys):
    before = {name: ((imported / name).read_bytes(), (imported / name).stat().st_mtime_ns) for name in WRITTEN}
    assert import_main([str(FIXTURE), "--project-dir", str(imported)]) == 1  # Pulumi.production.yaml was edited
    out = capsys.readouterr().out
    assert "kept Pulumi.production.yaml: it exists and differs (--force overwrites it)" in out.splitlines()
    assert "nothing changed" in out.splitlines()
    after = {name: ((imported / name).read_bytes(), (imported / name).stat().st_mtime_ns) for name in WRITTEN}
    assert after == before


def test_second_run_on_an_untouched_import_says_nothing_changed(project, capsys):
    assert import_main([str(FIXTURE), "--project-dir", str(project)]) == 0
    capsys.readouterr()
    assert import_main([str(FIXTURE), "--project-dir", str(project)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert "nothing changed: every file is already as imported" in out
    assert not [line for line in out if line.startswith(("wrote ", "kept "))]


def test_force_overwrites_an_existing_file(project, capsys):
    (project / "Pulumi.staging.yaml").write_text("config: {}\n")
    assert import_main([str(FIXTURE), "--project-dir", str(project)]) == 1
    assert (project / "Pulumi.staging.yaml").read_text() == "config: {}\n"
    assert import_main([str(FIXTURE), "--project-dir", str(project), "--force"]) == 0
    assert "hive:previous_allocations" in (project / "Pulumi.staging.yaml").read_text()


def test_no_secret_value_is_written(imported):
    for path in imported.rglob("*"):
        if path.is_file() and path.name != "Pulumi.yaml":
            text = path.read_text()
            assert DB_PASSWORD not in text, path
            assert ROOT_PASSWORD not in text, path


def test_secrets_become_commands_that_ask_for_the_value(imported):
    script = (imported / "import-secrets.sh").read_text().splitlines()
    assert "pulumi config set --secret --stack production hive:ssh_private_key < PATH/TO/KEY" in script
    assert "# pulumi config set --secret --stack staging services:db_password" in script


def test_every_untranslated_construct_is_listed(imported):
    notes = (imported / "import-hive-builder.txt").read_text().splitlines()[1:]
    assert notes == [
        "inventory/hive.yml: stages.private.provider: vagrant is the local provider here",
        "inventory/hive.yml: stages.private.memory_size: no equivalent; not imported (the local provider's hosts "
        "are containers sharing this machine's memory)",
        "inventory/hive.yml: stages.private.mirrored_disk_size: not used by the local provider here; not imported",
        "inventory/hive.yml: stages.production.root_password: no equivalent; not imported (hosts are reached with "
        "ssh keys only (hive:ssh_private_key on prepared hosts))",
        "inventory/powerdns.yml: services.pdnsdb.environment.MYSQL_ROOT_PASSWORD: Ansible template {{db_password}} "
        "is not evaluated here: write the value (secrets: see import-secrets.sh)",
        "inventory/powerdns.yml: services.powerdns.environment.MYSQL_PASSWORD: Ansible template {{db_password}} is "
        "not evaluated here: write the value (secrets: see import-secrets.sh)",
        "inventory/powerdns.yml: services.powerdns.command[1]: Ansible template {{db_password}} is not evaluated "
        "here: write the value (secrets: see import-secrets.sh)",
        "inventory/group_vars: db_password: a secret: give it with the commands in import-secrets.sh (its value is "
        "not copied)",
        "inventory/group_vars: admin_mail: an Ansible variable; not imported (write its value where used)",
    ]


def test_services_file_keeps_the_text_under_a_header_of_what_to_rewrite(imported):
    text = (imported / "services" / "powerdns.yml").read_text()
    start = text.index("# The pdns sample's services")
    header, body = text[:start], text[start:]
    assert "services.powerdns.command[1]: Ansible template {{db_password}}" in header
    assert yaml.safe_load(body) == yaml.safe_load((FIXTURE / "inventory" / "powerdns.yml").read_text())


def untranslatable_project(tmp_path: Path) -> Path:
    source = tmp_path / "hb"
    (source / "inventory").mkdir(parents=True)
    stages = {"staging": {"provider": "vagrant", "cidr": "192.168.0.96/27"}}
    (source / "inventory" / "hive.yml").write_text(
        yaml.safe_dump({"plugin": "hive_inventory", "name": "pdns", "stages": stages})
    )
    services = {
        "powerdns": {
            "image": {"from": "alpine:3.19", "roles": ["python-aptk", "powerdns"]},
            "initialize_roles": ["powerdns-init"],
            "labels": {"HIVE_VIP": "192.168.0.120", "HIVE_MARK": "dnsmaster"},
            "volumes": [{"source": "zones", "target": "/zones", "nfs": {"size": 1}}],
        }
    }
    (source / "inventory" / "powerdns.yml").write_text(
        yaml.safe_dump({"plugin": "hive_services", "services": services}, sort_keys=False)
    )
    return source


def test_untranslatable_service_constructs_are_listed_and_kept(tmp_path, capsys):
    project = tmp_path / "project"
    project.mkdir()
    shutil.copy(ROOT / "Pulumi.yaml", project / "Pulumi.yaml")
    assert import_main([str(untranslatable_project(tmp_path)), "--project-dir", str(project)]) == 0
    capsys.readouterr()
    notes = [n for n in (project / "import-hive-builder.txt").read_text().splitlines() if "services." in n]
    assert [n.split(": ")[1] for n in notes] == [
        "services.powerdns.image.roles",
        "services.powerdns.initialize_roles",
        "services.powerdns.labels.HIVE_VIP",
        "services.powerdns.labels.HIVE_MARK",
        "services.powerdns.volumes[0].nfs",
    ]
    assert notes[0].endswith(
        "Ansible roles (python-aptk, powerdns) cannot run here: write services/powerdns/Dockerfile (FROM alpine:3.19 "
        "plus RUN steps doing what the roles did) and set image: {context: powerdns}"
    )
    # kept in place: loading the result stops at the first one with the loader's line
    assert inventory_main(["inventory", "--stack", "staging", "--project-dir", str(project)]) == 2
    assert capsys.readouterr().err.splitlines() == [
        "services/powerdns.yml: services.powerdns.labels.HIVE_VIP: a virtual IP that follows the task is not "
        "supported yet (publish the port instead (ports: with published_port, through the ingress on every hive, "
        "or mode: host with mode: global) and point clients or DNS at the hives' addresses)"
    ]


def test_not_a_hive_builder_project(project, tmp_path, capsys):
    assert import_main([str(tmp_path / "nothing"), "--project-dir", str(project)]) == 2
    assert capsys.readouterr().err.strip().endswith("nothing: no inventory/ directory (not a hive-builder project)")


def test_vault_values_are_secrets_and_other_inventory_files_are_listed(tmp_path, capsys):
    source = untranslatable_project(tmp_path)
    (source / "inventory" / "group_vars").mkdir()
    (source / "inventory" / "group_vars" / "all.yml").write_text(
        "admin_key: !vault |\n  $ANSIBLE_VAULT;1.1;AES256\n  6433\n"
    )
    (source / "inventory" / "static.yml").write_text("all:\n  hosts: {mother: {}}\n")
    project = tmp_path / "project"
    project.mkdir()
    shutil.copy(ROOT / "Pulumi.yaml", project / "Pulumi.yaml")
    assert import_main([str(source), "--project-dir", str(project)]) == 0
    capsys.readouterr()
    notes = (project / "import-hive-builder.txt").read_text().splitlines()
    assert "inventory/static.yml: plugin None: not a hive_inventory or hive_services file; not imported" in notes
    script = (project / "import-secrets.sh").read_text()
    assert "# pulumi config set --secret --stack staging services:admin_key" in script
    assert all("ANSIBLE_VAULT" not in p.read_text() for p in project.rglob("*") if p.is_file())
