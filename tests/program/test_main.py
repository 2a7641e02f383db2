"""The real __main__.py: validation before any resource, stack outputs, allocations stable across runs."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pulumi
import pytest
import yaml

from components.program_site import self_reference_name
from tests.harness import BaseMocks, run_program
from tests.harness.backends import Backend, CloudBackend, DiyBackend, StackReferenceRejected

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


# --- the self StackReference on every backend (issue 9 defect 8) ----------------------------------------------


def two_runs(tmp_path: Path, backend: Backend, organization: str = "organization") -> tuple[Any, Any]:
    """A first ``up`` and a second one after a service was added before the first's, on ``backend``."""
    mocks = BaseMocks(backend=backend)
    project = project_with(tmp_path, {"api": {"image": "api", "ports": ["8080"]}})
    first = run_program(
        project, "staging", PREPARED, preview=False, mocks=mocks, secret_config=["hive:ssh_private_key"],
        organization=organization,
    )  # fmt: skip
    mocks.remember(first)
    services = {"new": {"image": "n", "ports": ["9000"]}, "api": {"image": "api", "ports": ["8080"]}}
    document = {"plugin": "hive_services", "services": services}
    (project / "services" / "site.yml").write_text(yaml.safe_dump(document, sort_keys=False))
    second = run_program(
        project, "staging", PREPARED, preview=False, mocks=mocks, secret_config=["hive:ssh_private_key"],
        organization=organization,
    )  # fmt: skip
    return first, second


@pytest.mark.parametrize(
    "backend",
    [DiyBackend("legacy"), DiyBackend("project"), CloudBackend(default_organization="organization")],
    ids=["diy-legacy-layout", "diy-project-layout", "cloud-default-org"],
)
def test_previous_allocation_is_read_back_on_every_backend(tmp_path, backend) -> None:
    first, second = two_runs(tmp_path, backend)
    assert first.outputs["allocations"]["ports"] == {"api8080": 61001}
    assert second.outputs["allocations"]["ports"] == {"new9000": 61002, "api8080": 61001}


def test_previous_allocation_is_read_back_from_a_cloud_stack_outside_the_default_org(tmp_path) -> None:
    _, second = two_runs(tmp_path, CloudBackend(default_organization="me"), organization="acme")
    assert second.outputs["allocations"]["ports"] == {"new9000": 61002, "api8080": 61001}


@pytest.mark.parametrize(
    ("organization", "name"),
    [("organization", "staging"), ("acme", "acme/hive/staging")],
)
def test_self_reference_name_per_backend(organization: str, name: str) -> None:
    assert self_reference_name(organization, "hive", "staging") == name


def test_a_fully_qualified_name_is_what_a_legacy_diy_backend_rejects() -> None:
    with pytest.raises(StackReferenceRejected, match="may only contain alphanumeric"):
        DiyBackend("legacy").key("organization/hive/staging", "hive")


def test_a_hives_pull_waits_for_its_own_login_after_the_bundle_that_carries_images_sh(tmp_path):
    result = run(project_with(tmp_path, {"app": {"image": "busybox@sha256:" + "a" * 64}}), BaseMocks())
    for hive in ("s-hive0", "s-hive1", "s-hive2"):
        pull = result.one("command:remote:Command", f"images-pull-{hive}")
        login = result.one("command:remote:Command", f"{hive}-registry-login")
        files = result.one("command:remote:Command", f"{hive}-files")
        assert pull.depends_on(login) and login.depends_on(files)
        assert not [r for r in result.of_type("command:remote:Command") if r.name.startswith("images-pull")
                    and r is not pull and pull.depends_on(r)]  # fmt: skip
    assert result.of_type("command:remote:CopyToRemote") == [], "the hives' scripts travel in their bundles"
