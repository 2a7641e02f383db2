"""GCP cloud layer: the program's resources under mocks, in up and preview, for staging- and production-like stages."""

from __future__ import annotations

import dataclasses
import ipaddress
import re

import pytest

from components.infra.cloud import has_mirrored_disk
from components.infra.firewall_policy import policy
from components.infra.gcp import MIRRORED_DEVICE_NAME, gcp_name
from tests.harness import ProgramRun, assert_valid_inputs
from tests.program.infra_support import (
    CONFIGS,
    GCP,
    cached_run,
    check_machines_match_inventory,
    check_outputs,
    check_preview_graph,
    check_protect,
    expected_site,
    in_site,
    run,
    sample_config,
    world_port_problems,
)

FIREWALL = "gcp:compute/firewall:Firewall"
LABELLED = {"gcp:compute/address:Address", "gcp:compute/disk:Disk", "gcp:compute/instance:Instance"}
UNLABELLABLE = {"gcp:compute/network:Network", "gcp:compute/subnetwork:Subnetwork", FIREWALL}
GCP_NAME = re.compile(r"[a-z]([-a-z0-9]{0,61}[a-z0-9])?")
LABEL = re.compile(r"[a-z][a-z0-9_-]{0,62}")
LABEL_VALUE = re.compile(r"[a-z0-9_-]{0,63}")

# The runs are cached per process: keep this module on one xdist worker (``--dist loadgroup``).
pytestmark = pytest.mark.xdist_group("infra-gcp")


@pytest.fixture
def program(stack: str, preview: bool) -> ProgramRun:
    return cached_run("gcp", stack, preview)


@pytest.fixture
def site(program: ProgramRun):
    return expected_site(program)


def gcp_world_rule_problems(program: ProgramRun, site) -> list[str]:
    problems = []
    for rule in program.of_type(FIREWALL):
        inputs = rule.inputs
        if inputs.get("direction", "INGRESS") != "INGRESS":
            continue
        outside = [s for s in inputs.get("sourceRanges", []) if not in_site(s, site)]
        if not outside and (inputs.get("sourceRanges") or inputs.get("sourceTags")):
            continue
        for allow in inputs.get("allows", []):
            problems += world_port_problems(f"{rule.name} from {outside}", allow["protocol"], allow.get("ports"))
    return problems


# -- the whole graph -------------------------------------------------------------------------------------


def test_every_input_is_valid_for_the_sdk(program):
    assert_valid_inputs(program)


def test_preview_builds_the_same_graph_with_unknown_addresses(stack):
    check_preview_graph(cached_run("gcp", stack, True), cached_run("gcp", stack, False), GCP)


def test_resource_counts(program, site):
    mirrored = sum(has_mirrored_disk(site, h) for h in site.hosts)
    counts = {
        "gcp:compute/network:Network": 1,
        "gcp:compute/subnetwork:Subnetwork": 1,
        FIREWALL: len(policy(site)),
        "gcp:compute/address:Address": len(site.hosts),
        "gcp:compute/disk:Disk": mirrored,
        "gcp:compute/instance:Instance": len(site.hosts),
    }
    actual: dict[str, int] = {}
    for r in GCP.resources(program):
        actual[r.type] = actual.get(r.type, 0) + 1
    assert actual == {k: v for k, v in counts.items() if v}
    # spelled out: internal, admin-tcp, published-tcp, published-udp
    assert actual[FIREWALL] == 4


# -- network ------------------------------------------------------------------------------------------------


def test_custom_mode_network_with_the_underlay_mtu(program, site):
    network = program.one("gcp:compute/network:Network")
    assert network.inputs["autoCreateSubnetworks"] is False
    assert network.inputs["mtu"] == site.stage.underlay_mtu
    assert network.inputs["mtu"] == (1500 if program.stack == "production" else 1460)


def test_subnetworks_are_regional(program, site):
    for subnet in program.of_type("gcp:compute/subnetwork:Subnetwork"):
        assert subnet.inputs["region"] == site.stage.region
        assert "zone" not in subnet.inputs
        assert subnet.inputs["ipCidrRange"] == str(site.stage.cidr)


# -- placement and addresses ---------------------------------------------------------------------------------


def test_hosts_are_where_the_inventory_says(program, site):
    check_machines_match_inventory(
        program,
        site,
        GCP,
        lambda m: m.inputs["networkInterfaces"][0]["networkIp"],
        lambda m: m.inputs["zone"],
    )
    for host in site.hosts:
        assert host.az.startswith(f"{site.stage.region}-")


def test_one_static_address_per_host_as_its_nat_ip(program, site):
    addresses = {r.name: r for r in program.of_type(GCP.static_ip)}
    machines = GCP.machines(program)
    assert len(addresses) == len(site.hosts)
    for host in site.hosts:
        address = addresses[f"{host.hostname}-ip"]
        assert address.inputs["addressType"] == "EXTERNAL"
        assert address.inputs["region"] == site.stage.region
        machine = machines[host.hostname]
        assert machine.depends_on(address)
        (access,) = machine.inputs["networkInterfaces"][0]["accessConfigs"]
        if not program.preview:
            assert access["natIp"] == address.outputs["address"]
            ipaddress.ip_address(access["natIp"])


# -- machines --------------------------------------------------------------------------------------------------


def test_machine_types_and_boot_disks(program, site):
    for host in site.hosts:
        inputs = GCP.machines(program)[host.hostname].inputs
        expected_type = site.stage.repository_instance_type if host.is_repository else site.stage.instance_type
        expected_size = site.stage.repository_disk_size if host.is_repository else site.stage.disk_size
        assert inputs["machineType"] == expected_type
        params = inputs["bootDisk"]["initializeParams"]
        assert params["size"] == expected_size
        assert params["image"] == "projects/debian-cloud/global/images/family/debian-13"
    if program.stack == "production":
        assert GCP.machines(program)["hive3"].inputs["machineType"] == "e2-standard-4"


def test_mirrored_disks(program, site):
    disks = {r.name: r for r in program.of_type(GCP.mirrored_disk)}
    for host in site.hosts:
        machine = GCP.machines(program)[host.hostname]
        attached = machine.inputs.get("attachedDisks") or []
        if not has_mirrored_disk(site, host):
            assert f"{host.hostname}-drbd" not in disks and attached == []
            continue
        disk = disks[f"{host.hostname}-drbd"]
        assert disk.inputs["size"] == site.stage.mirrored_disk_size
        assert disk.inputs["zone"] == host.az
        (attachment,) = attached
        assert attachment["deviceName"] == MIRRORED_DEVICE_NAME
        assert machine.depends_on(disk)
        if not program.preview:
            assert attachment["source"] == disk.outputs["selfLink"]


def test_ssh_key_in_metadata_and_host_key_in_the_metadata_startup_script(program, site):
    for host in site.hosts:
        machine = GCP.machines(program)[host.hostname]
        assert "metadataStartupScript" not in machine.inputs  # that one replaces the instance on a change
        assert machine.is_secret_input("metadata.startup-script")
        metadata = machine.inputs["metadata"]
        if program.preview:
            continue
        host_key = program.one("tls:index/privateKey:PrivateKey", f"{host.hostname}-host-key")
        script = metadata["startup-script"]
        assert script.startswith("#!/bin/bash\nset -eu\n")
        assert host_key.outputs["privateKeyOpenssh"].strip() in script
        assert host_key.outputs["publicKeyOpenssh"].strip() in script
        user, _, key = metadata["ssh-keys"].partition(":")
        assert user == site.stage.ssh_user
        assert key.startswith("ssh-ed25519 ") and "\n" not in key


def test_machines_are_replaced_delete_first(program):
    for machine in GCP.machines(program).values():
        assert machine.delete_before_replace is True  # fixed name and private IP
        assert machine.inputs["allowStoppingForUpdate"] is True


# -- firewall --------------------------------------------------------------------------------------------------


def test_world_open_rules_never_reach_high_ports_or_all_protocols(program, site):
    assert gcp_world_rule_problems(program, site) == []


def test_the_firewall_check_would_catch_a_wide_rule(program, site):
    template = program.of_type(FIREWALL)[0]
    wide = {"direction": "INGRESS", "sourceRanges": ["0.0.0.0/0"], "allows": [{"protocol": "all"}]}
    high = {"sourceRanges": ["0.0.0.0/0"], "allows": [{"protocol": "tcp", "ports": ["9000-10000"]}]}
    for inputs, expected in ((wide, "all protocols"), (high, ">= 10000")):
        bad = dataclasses.replace(template, name="oops", inputs=inputs)
        tampered = dataclasses.replace(program, resources=[*program.resources, bad])
        assert any(expected in p for p in gcp_world_rule_problems(tampered, site))


def test_firewall_rules_carry_the_policy_for_the_hosts_only(program, site):
    rules = {r.name: r for r in program.of_type(FIREWALL)}
    internal = rules["fw-internal"].inputs
    assert internal["sourceRanges"] == [str(site.stage.cidr)]
    assert internal["allows"] == [{"protocol": "all"}]
    admin = rules["fw-admin-tcp"].inputs
    assert admin["sourceRanges"] == list(site.stage.admin_cidrs)
    assert admin["allows"] == [{"protocol": "tcp", "ports": ["22", "2376"]}]
    assert rules["fw-published-tcp"].inputs["allows"] == [{"protocol": "tcp", "ports": ["53", "80"]}]
    assert rules["fw-published-udp"].inputs["allows"] == [{"protocol": "udp", "ports": ["53"]}]
    machine_tags = {tag for m in GCP.machines(program).values() for tag in m.inputs["tags"]}
    for rule in rules.values():
        assert set(rule.inputs["targetTags"]) <= machine_tags


# -- labels, names, protection --------------------------------------------------------------------------------------


def test_labels_and_names(program, site):
    for r in GCP.resources(program):
        assert r.type in LABELLED | UNLABELLABLE, f"classify {r.type} in this test"
        name = r.inputs["name"]
        assert GCP_NAME.fullmatch(name), name
        assert name.startswith(site.stage.prefix) and "pdns" in name, name
        if r.type in LABELLED:
            labels = r.inputs["labels"]
            assert labels["hive"] == "pdns" and labels["stage"] == program.stack
            for key, value in labels.items():
                assert LABEL.fullmatch(key) and LABEL_VALUE.fullmatch(value), (key, value)
        else:
            description = r.inputs["description"]
            assert "pdns" in description and program.stack in description


def test_gcp_name_sanitises():
    assert gcp_name("s-pdns-Subnet_A.1") == "s-pdns-subnet-a-1"
    assert gcp_name("0day") == "h-0day"
    assert len(gcp_name("x" * 80)) == 63


def test_protect_on_production_only(program):
    check_protect(program, GCP)


def test_every_resource_is_a_child_of_the_component(program):
    component = program.one(GCP.component)
    for r in GCP.resources(program):
        assert r.parent == component.urn, r.name


# -- outputs ---------------------------------------------------------------------------------------------------------


def test_outputs(program, site):
    check_outputs(program, site, GCP.public_ip_of(program))


def test_the_sample_production_stack_builds():
    config = sample_config("production")
    assert config["hive:provider"] == "gcp"
    for preview in (True, False):
        program = run("production", config, preview=preview)
        site = expected_site(program)
        assert len(GCP.machines(program)) == len(site.hosts)
        assert_valid_inputs(program)
        check_protect(program, GCP)


def test_configured_subnets_become_regional_subnetworks():
    config = {
        **CONFIGS["gcp"]["staging"],
        "hive:subnets": [
            {"cidr": "10.10.0.0/26", "name": "hosts-a"},
            {"cidr": "10.10.0.64/26", "name": "hosts-b"},
            {"cidr": "10.10.0.128/26", "name": "hosts-c"},
        ],
    }
    program = run("staging", config, preview=True)
    subnets = program.of_type("gcp:compute/subnetwork:Subnetwork")
    assert sorted(s.inputs["name"] for s in subnets) == ["s-pdns-hosts-a", "s-pdns-hosts-b", "s-pdns-hosts-c"]
    zones = {m.inputs["zone"] for m in GCP.machines(program).values()}
    assert zones == {"asia-northeast1-a", "asia-northeast1-b", "asia-northeast1-c"}
