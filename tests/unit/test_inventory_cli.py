"""``python -m components``: the resolved site as JSON, readable tables, and one-line errors (exit 2)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
REFERENCE_STAGE = {
    "hive:provider": "aws",
    "hive:region": "ap-northeast-1",
    "hive:cidr": "10.1.0.0/16",
    "hive:mirrored_disk_size": 20,
    "hive:subnets": [
        {"cidr": "10.1.1.0/24", "name": "subnet-a", "available_zone": "ap-northeast-1a"},
        {"cidr": "10.1.2.0/24", "name": "subnet-c", "available_zone": "ap-northeast-1c"},
        {"cidr": "10.1.3.0/24", "name": "subnet-d", "available_zone": "ap-northeast-1d"},
    ],
}
SITE = {
    "plugin": "hive_services",
    "services": {
        "web": {"image": "nginx", "ports": ["80:80", "8080"]},
        "db": {"image": "db", "volumes": [{"source": "data", "target": "/d", "drbd": {"size": "1G"}}]},
    },
}


def run(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "components", *args], cwd=cwd, capture_output=True, text=True, check=False,
        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"},
    )  # fmt: skip


def test_reference_example_three_subnets_four_hosts(write_project):
    project = write_project(stage=REFERENCE_STAGE, services=SITE)
    result = run("inventory", "--stack", "staging", "--project-dir", str(project))
    assert result.returncode == 0, result.stderr
    doc = json.loads(result.stdout)
    assert [(h["name"], h["private_ip"], h["subnet"], h["az"]) for h in doc["hosts"]] == [
        ("s-hive0.pdns", "10.1.1.5", "subnet-a", "ap-northeast-1a"),
        ("s-hive1.pdns", "10.1.2.5", "subnet-c", "ap-northeast-1c"),
        ("s-hive2.pdns", "10.1.3.5", "subnet-d", "ap-northeast-1d"),
        ("s-hive3.pdns", "10.1.1.6", "subnet-a", "ap-northeast-1a"),
    ]
    assert [h["role"] for h in doc["hosts"]] == ["hive", "hive", "hive", "repository"]
    assert doc["hosts"][0]["first_hive"] is True
    assert doc["overlay_mtu"] == 1450
    assert doc["services"][0]["ports"][1] == {"published": 61001, "target": 8080, "protocol": "tcp", "mode": "ingress"}
    assert doc["volumes"][0]["drbd"]["minor"] == 1
    assert doc["allocations"] == {"ports": {"web8080": 61001}, "drbd_minors": {"data": 1}}


def test_previous_allocations_are_honoured(write_project, tmp_path):
    project = write_project(stage=REFERENCE_STAGE, services=SITE)
    previous = tmp_path / "previous.json"
    previous.write_text(json.dumps({"ports": {"web8080": 63000}, "drbd_minors": {"data": 7}}))
    result = run("inventory", "-s", "staging", "--project-dir", str(project), "--previous-allocations", str(previous))
    assert json.loads(result.stdout)["allocations"] == {"ports": {"web8080": 63000}, "drbd_minors": {"data": 7}}


def test_inventory_output_is_accepted_as_previous_allocations(write_project, tmp_path):
    project = write_project(stage=REFERENCE_STAGE, services=SITE)
    first = run("inventory", "-s", "staging", "--project-dir", str(project))
    saved = tmp_path / "inventory.json"
    saved.write_text(first.stdout)
    again = run("inventory", "-s", "staging", "--project-dir", str(project), "--previous-allocations", str(saved))
    assert json.loads(again.stdout)["allocations"] == json.loads(first.stdout)["allocations"]


@pytest.mark.parametrize(
    ("command", "header"),
    [("list-hosts", "HOST"), ("list-services", "SERVICE"), ("list-volumes", "VOLUME")],
)
def test_tables(write_project, command, header):
    result = run(command, "-s", "staging", "--project-dir", str(write_project(stage=REFERENCE_STAGE, services=SITE)))
    assert result.returncode == 0
    assert result.stdout.startswith(header)
    assert len(result.stdout.strip().splitlines()) > 1


@pytest.mark.parametrize("stack", ["private", "staging", "production"])
def test_sample_stages_resolve(stack):
    result = run("inventory", "--stack", stack)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["stage"] == stack


LOCAL = {"hive:provider": "local", "hive:cidr": "192.168.56.0/24"}
AWS = {"hive:provider": "aws", "hive:region": "r", "hive:cidr": "10.1.0.0/24"}
BAD_INPUTS = [
    ("unknown stage key", LOCAL | {"hive:colour": "red"}, None, "Pulumi.staging.yaml", "hive:colour"),
    ("bad cidr", LOCAL | {"hive:cidr": "10.1.0.0/40"}, None, "Pulumi.staging.yaml", "hive:cidr"),
    (
        "overlapping subnets",
        AWS | {"hive:subnets": [{"cidr": "10.1.0.0/25", "name": "a"}, {"cidr": "10.1.0.0/26", "name": "b"}]},
        None, "Pulumi.staging.yaml", "hive:subnets[1].cidr",
    ),
    (
        "subnet outside cidr",
        AWS | {"hive:subnets": [{"cidr": "10.1.9.0/26", "name": "a"}]},
        None, "Pulumi.staging.yaml", "hive:subnets[0].cidr",
    ),
    ("address count", LOCAL | {"hive:ip_address_list": ["192.168.56.9"]}, None, "Pulumi.staging.yaml",
     "hive:ip_address_list"),
    ("not enough addresses", LOCAL | {"hive:cidr": "192.168.56.0/29"}, None, "Pulumi.staging.yaml", "hive:cidr"),
    ("unknown provider", LOCAL | {"hive:provider": "vagrant"}, None, "Pulumi.staging.yaml", "hive:provider"),
    ("missing provider key", {"hive:provider": "gcp", "hive:cidr": "10.0.0.0/24", "hive:region": "r"}, None,
     "Pulumi.staging.yaml", "gcp:project"),
    ("bad host name", LOCAL | {"hive:custom_hostname": "Bad_Name"}, None, "Pulumi.staging.yaml",
     "hive:custom_hostname"),
    ("host name too long", LOCAL | {"hive:custom_hostname": "x" * 60}, None, "Pulumi.staging.yaml",
     "hive:custom_hostname"),
    ("unknown service key", LOCAL, {"plugin": "hive_services", "services": {"w": {"image": "x", "colour": 1}}},
     "services/site.yml", "services.w.colour"),
    ("bad port", LOCAL, {"plugin": "hive_services", "services": {"w": {"image": "x", "ports": ["80:http"]}}},
     "services/site.yml", "services.w.ports[0]"),
    ("colliding ports", LOCAL, {"plugin": "hive_services", "services": {
        "a": {"image": "x", "ports": ["80:80"]}, "b": {"image": "x", "ports": ["80:81"]}}},
     "services/site.yml", "services.b.ports[0]"),
    ("drbd with driver", LOCAL, {"plugin": "hive_services", "services": {"a": {"image": "x", "volumes": [
        {"source": "v", "target": "/v", "drbd": {"size": "1G"}, "driver": "local"}]}}},
     "services/site.yml", "services.a.volumes[0].driver"),
    ("bad size", LOCAL, {"plugin": "hive_services", "services": {"a": {"image": "x", "volumes": [
        {"source": "v", "target": "/v", "drbd": {"size": "huge"}}]}}},
     "services/site.yml", "services.a.volumes[0].drbd.size"),
    ("pull_from without pull_on", LOCAL, {"plugin": "hive_services", "services": {"a": {"image": {
        "from": "debian", "pull_from": "nginx"}}}},
     "services/site.yml", "services.a.image.pull_from"),
    ("broken yaml", LOCAL, "plugin: [unclosed", "services/site.yml", None),
]  # fmt: skip


@pytest.mark.parametrize(("case", "stage", "services", "file", "path"), BAD_INPUTS, ids=[c[0] for c in BAD_INPUTS])
def test_bad_input_exits_2_with_one_line(write_project, case, stage, services, file, path):
    project = write_project(stage=stage, services=services)
    result = run("inventory", "--stack", "staging", "--project-dir", str(project))
    assert result.returncode == 2, (case, result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith(f"{file}: " + (f"{path}: " if path else ""))
    assert "Traceback" not in result.stderr
    assert result.stdout == ""


def test_stack_that_is_no_stage(write_project):
    project = write_project(stack="dev", stage=LOCAL)
    result = run("inventory", "--stack", "dev", "--project-dir", str(project))
    assert result.returncode == 2
    assert result.stderr.startswith("Pulumi.dev.yaml: hive:stage: stack 'dev' is no stage")


def test_missing_stack_file(write_project):
    result = run("inventory", "--stack", "production", "--project-dir", str(write_project()))
    assert (result.returncode, result.stderr.strip()) == (2, "Pulumi.production.yaml: file not found")
