"""The real __main__.py: validation before any resource, stack outputs, allocations stable across runs."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pulumi
import pytest
import yaml

from tests.harness import BaseMocks, run_program

ROOT = Path(__file__).resolve().parents[2]
KEY = "-----BEGIN OPENSSH PRIVATE KEY-----\nZmFrZQ==\n-----END OPENSSH PRIVATE KEY-----\n"
PREPARED: dict[str, Any] = {
    "hive:name": "pdns",
    "hive:domain": "example.com",
    "hive:provider": "prepared",
    "hive:cidr": "192.168.0.0/24",
    "hive:separate_repository": False,
    "hive:ip_address_list": ["192.168.0.10", "192.168.0.11", "192.168.0.12"],
    "hive:ssh_private_key": KEY,
}


def project_with(tmp_path: Path, services: dict[str, Any]) -> Path:
    """A copy of the project whose services/ holds only ``services``."""
    for name in ("__main__.py", "Pulumi.yaml"):
        shutil.copy(ROOT / name, tmp_path / name)
    for name in ("components", "hostsetup"):
        (tmp_path / name).symlink_to(ROOT / name)
    (tmp_path / "services").mkdir(exist_ok=True)
    document = {"plugin": "hive_services", "services": services}
    (tmp_path / "services" / "site.yml").write_text(yaml.safe_dump(document, sort_keys=False))
    return tmp_path


def run(project: Path, mocks: BaseMocks, **config: Any):
    return run_program(
        project, "staging", PREPARED | config, preview=False, mocks=mocks, secret_config=["hive:ssh_private_key"]
    )


def test_bad_config_stops_with_one_line_before_any_resource(tmp_path):
    project = project_with(tmp_path, {})
    with pytest.raises(pulumi.RunError) as err:
        run(project, BaseMocks(), **{"hive:subnets": [{"cidr": "10.9.0.0/24", "name": "a"}]})
    assert str(err.value) == (
        "Pulumi.staging.yaml: hive:subnets[0].cidr: 10.9.0.0/24 is outside hive:cidr 192.168.0.0/24 "
        "(a subnet of 192.168.0.0/24)"
    )
    assert [r for r in err.value.harness_run.resources if r.custom and r.kind == "register"] == []


def test_bad_service_stops_before_any_resource(tmp_path):
    project = project_with(tmp_path, {"web": {"image": "nginx", "ports": ["80:80/icmp"]}})
    with pytest.raises(pulumi.RunError, match=r"^services/site.yml: services.web.ports\[0\]: 80:80/icmp is invalid"):
        run(project, BaseMocks())


def test_allocations_survive_a_service_added_before_them(tmp_path):
    mocks = BaseMocks()
    first = run(project_with(tmp_path, {"api": {"image": "api", "ports": ["8080"]}}), mocks)
    assert first.outputs["allocations"] == {"ports": {"api8080": 61001}, "drbd_minors": {}}

    mocks.remember(first)
    (tmp_path / "services" / "site.yml").write_text(
        yaml.safe_dump(
            {
                "plugin": "hive_services",
                "services": {"new": {"image": "n", "ports": ["9000"]}, "api": {"image": "api", "ports": ["8080"]}},
            },
            sort_keys=False,
        )
    )
    second = run(tmp_path, mocks)
    assert second.outputs["allocations"]["ports"] == {"new9000": 61002, "api8080": 61001}
    published = {s["name"]: s["ports"][0]["published"] for s in second.outputs["inventory"]["services"]}
    assert published == {"new": 61002, "api": 61001}


def test_operator_outputs(tmp_path):
    result = run(project_with(tmp_path, {}), BaseMocks())
    assert set(result.outputs) >= {
        "hosts",
        "ssh_config",
        "ssh_private_key",
        "dns_delegation",
        "inventory",
        "allocations",
    }
    assert "ssh_private_key" in result.secret_outputs
    assert result.outputs["dns_delegation"]["zone_file_lines"][0] == "pdns.example.com. IN NS s-hive0.pdns.example.com."
    assert result.outputs["hosts"]["s-hive2.pdns"]["role"] == "repository"
    assert result.find_leaks() == []


def test_docker_client_credentials_are_one_secret_output(tmp_path):
    result = run(project_with(tmp_path, {}), BaseMocks())
    assert "docker_tls" in result.secret_outputs
    assert set(result.outputs["docker_tls"]) == {"ca", "cert", "key"}
    assert result.outputs["swarm_manager"] == "tcp://192.168.0.10:2376"
