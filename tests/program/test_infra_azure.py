"""Azure cloud layer under mocks, in up and preview, for staging- and production-like stages."""

from __future__ import annotations

import dataclasses
import ipaddress

import pytest

from components.infra.azure import DENY_PRIORITY, MIRRORED_LUN
from components.infra.cloud import has_mirrored_disk
from tests.harness import ProgramRun, assert_valid_inputs
from tests.program.infra_support import (
    AZURE,
    CONFIGS,
    cached_run,
    check_machines_match_inventory,
    check_outputs,
    check_preview_graph,
    check_protect,
    expected_site,
    in_site,
    run,
    world_port_problems,
)

NSG = "azure-native:network:NetworkSecurityGroup"
NIC = "azure-native:network:NetworkInterface"
SUBNET = "azure-native:network:Subnet"
UNTAGGABLE = {SUBNET}
NAME_INPUT = {
    "azure-native:resources:ResourceGroup": "resourceGroupName",
    "azure-native:network:VirtualNetwork": "virtualNetworkName",
    NSG: "networkSecurityGroupName",
    SUBNET: "subnetName",
    "azure-native:network:PublicIPAddress": "publicIpAddressName",
    NIC: "networkInterfaceName",
    "azure-native:compute:Disk": "diskName",
    "azure-native:compute:VirtualMachine": "vmName",
}

# The runs are cached per process: keep this module on one xdist worker (``--dist loadgroup``).
pytestmark = pytest.mark.xdist_group("infra-azure")


@pytest.fixture
def program(stack: str, preview: bool) -> ProgramRun:
    return cached_run("azure", stack, preview)


@pytest.fixture
def site(program: ProgramRun):
    return expected_site(program)


def nics(program: ProgramRun) -> dict[str, dict]:
    """hostname → the NIC's primary IP configuration."""
    return {r.name.removesuffix("-nic"): r.inputs["ipConfigurations"][0] for r in program.of_type(NIC)}


def azure_world_rule_problems(program: ProgramRun, site) -> list[str]:
    """Allow rules reachable from outside the site: one protocol, ports below 10000; and the final deny."""
    problems = []
    for group in program.of_type(NSG):
        rules = group.inputs.get("securityRules", [])
        denies = [r for r in rules if r["access"] == "Deny" and r["direction"] == "Inbound"]
        for rule in rules:
            if rule["access"] != "Allow" or rule["direction"] != "Inbound":
                continue
            sources = rule.get("sourceAddressPrefixes") or [rule.get("sourceAddressPrefix", "*")]
            outside = [s for s in sources if not in_site(s, site)]
            if not outside:
                continue
            ports = rule.get("destinationPortRanges") or [rule.get("destinationPortRange", "*")]
            where = f"{group.name}/{rule['name']} from {outside}"
            problems += world_port_problems(where, rule["protocol"], [p for p in ports if p != "*"] or None)
            if any(p == "*" for p in ports):
                problems.append(f"{where}: every port from outside the site")
            if any(d["priority"] < rule["priority"] for d in denies):
                problems.append(f"{where}: allows after the deny")
        if not any(d.get("sourceAddressPrefix") == "Internet" and d["protocol"] == "*" for d in denies):
            problems.append(f"{group.name}: no explicit deny of everything from Internet")
    return problems


# -- the whole graph -------------------------------------------------------------------------------------


def test_every_input_is_valid_for_the_sdk(program):
    assert_valid_inputs(program)


def test_preview_builds_the_same_graph_with_unknown_addresses(stack):
    check_preview_graph(cached_run("azure", stack, True), cached_run("azure", stack, False), AZURE)


def test_resource_counts(program, site):
    subnets = 3 if program.stack == "production" else 1
    mirrored = sum(has_mirrored_disk(site, h) for h in site.hosts)
    counts = {
        "azure-native:resources:ResourceGroup": 1,
        "azure-native:network:VirtualNetwork": 1,
        SUBNET: subnets,
        NSG: 1,
        "azure-native:network:PublicIPAddress": len(site.hosts),
        NIC: len(site.hosts),
        "azure-native:compute:Disk": mirrored,
        "azure-native:compute:VirtualMachine": len(site.hosts),
    }
    actual: dict[str, int] = {}
    for r in AZURE.resources(program):
        actual[r.type] = actual.get(r.type, 0) + 1
    assert actual == {k: v for k, v in counts.items() if v}


# -- network ------------------------------------------------------------------------------------------------


def test_vnet_has_no_inline_subnets(program, site):
    vnet = program.one("azure-native:network:VirtualNetwork")
    assert "subnets" not in vnet.inputs  # separate network.Subnet resources only (azure-native #611)
    assert vnet.inputs["addressSpace"]["addressPrefixes"] == [str(site.stage.cidr)]
    group = program.one(NSG)
    for subnet in program.of_type(SUBNET):
        assert subnet.depends_on(vnet) and subnet.depends_on(group)
        assert ipaddress.ip_network(subnet.inputs["addressPrefix"]).subnet_of(site.stage.cidr)
        if not program.preview:
            assert subnet.inputs["networkSecurityGroup"]["id"] == group.id


def test_everything_is_in_the_stage_location(program, site):
    for r in AZURE.resources(program):
        if r.type != SUBNET:
            assert r.inputs["location"] == site.stage.region, (r.type, r.name)


# -- placement and addresses ---------------------------------------------------------------------------------


def test_hosts_are_where_the_inventory_says(program, site):
    addresses = nics(program)
    check_machines_match_inventory(
        program,
        site,
        AZURE,
        lambda m: addresses[m.name]["privateIPAddress"],
        lambda m: m.inputs["zones"][0],
    )
    for host in site.hosts:
        assert addresses[host.hostname]["privateIPAllocationMethod"] == "Static"
        assert host.az in ("1", "2", "3")


def test_one_zonal_standard_static_public_ip_per_host(program, site):
    ips = {r.name: r for r in program.of_type(AZURE.static_ip)}
    configurations = nics(program)
    assert len(ips) == len(site.hosts)
    for host in site.hosts:
        ip = ips[f"{host.hostname}-ip"].inputs
        assert ip["sku"] == {"name": "Standard", "tier": "Regional"}
        assert ip["publicIPAllocationMethod"] == "Static"
        assert ip["zones"] == [host.az]
        if not program.preview:
            assert configurations[host.hostname]["publicIPAddress"]["id"] == ips[f"{host.hostname}-ip"].id


# -- machines --------------------------------------------------------------------------------------------------


def test_vm_sizes_images_and_os_disks(program, site):
    for host in site.hosts:
        inputs = AZURE.machines(program)[host.hostname].inputs
        expected_size = site.stage.repository_instance_type if host.is_repository else site.stage.instance_type
        expected_disk = site.stage.repository_disk_size if host.is_repository else site.stage.disk_size
        assert inputs["hardwareProfile"]["vmSize"] == expected_size
        storage = inputs["storageProfile"]
        assert storage["osDisk"]["diskSizeGB"] == expected_disk
        assert storage["osDisk"]["createOption"] == "FromImage"
        assert storage["imageReference"] == {
            "publisher": "Debian",
            "offer": "debian-13",
            "sku": "13-gen2",
            "version": "latest",
        }
        assert inputs["zones"] == [host.az]


def test_password_login_disabled_and_key_for_the_ssh_user(program, site):
    for machine in AZURE.machines(program).values():
        os_profile = machine.inputs["osProfile"]
        assert os_profile["adminUsername"] == site.stage.ssh_user
        linux = os_profile["linuxConfiguration"]
        assert linux["disablePasswordAuthentication"] is True
        assert "adminPassword" not in os_profile
        (key,) = linux["ssh"]["publicKeys"]
        assert key["path"] == f"/home/{site.stage.ssh_user}/.ssh/authorized_keys"
        if not program.preview:
            assert key["keyData"].startswith("ssh-ed25519 ") and "\n" not in key["keyData"]


def test_custom_data_is_the_host_key_only_and_secret(program, site):
    import base64

    for host in site.hosts:
        machine = AZURE.machines(program)[host.hostname]
        assert machine.is_secret_input("osProfile.customData")
        if program.preview:
            continue
        host_key = program.one("tls:index/privateKey:PrivateKey", f"{host.hostname}-host-key")
        text = base64.b64decode(machine.inputs["osProfile"]["customData"]).decode()
        assert text.startswith("#cloud-config\nssh_deletekeys: true\nssh_genkeytypes: []\nssh_keys:\n")
        assert "users:" not in text  # Azure's own provisioning makes the user
        assert f"  ed25519_public: {host_key.outputs['publicKeyOpenssh'].strip()}\n" in text


def test_mirrored_data_disks(program, site):
    disks = {r.name: r for r in program.of_type(AZURE.mirrored_disk)}
    for host in site.hosts:
        machine = AZURE.machines(program)[host.hostname]
        data_disks = machine.inputs["storageProfile"].get("dataDisks") or []
        if not has_mirrored_disk(site, host):
            assert f"{host.hostname}-drbd" not in disks and data_disks == []
            continue
        disk = disks[f"{host.hostname}-drbd"]
        assert disk.inputs["diskSizeGB"] == site.stage.mirrored_disk_size
        assert disk.inputs["creationData"] == {"createOption": "Empty"}
        assert disk.inputs["zones"] == [host.az]
        (attached,) = data_disks
        assert attached["lun"] == MIRRORED_LUN and attached["createOption"] == "Attach"
        assert attached["deleteOption"] == "Detach"
        assert machine.depends_on(disk)
        if not program.preview:
            assert attached["managedDisk"]["id"] == disk.id


def test_fixed_names_and_addresses_are_replaced_delete_first(program):
    for r in [*AZURE.machines(program).values(), *program.of_type(NIC)]:
        assert r.delete_before_replace is True, r.name


# -- firewall --------------------------------------------------------------------------------------------------


def test_world_open_rules_never_reach_high_ports_or_all_protocols(program, site):
    assert azure_world_rule_problems(program, site) == []


def test_the_firewall_check_would_catch_a_wide_rule(program, site):
    group = program.one(NSG)
    allow_all = {
        "name": "oops",
        "priority": 150,
        "direction": "Inbound",
        "access": "Allow",
        "protocol": "*",
        "sourceAddressPrefix": "*",
        "destinationPortRange": "*",
    }
    high = {**allow_all, "protocol": "Tcp", "destinationPortRanges": ["61001"], "sourceAddressPrefix": "Internet"}
    del high["destinationPortRange"]
    for rule, expected in ((allow_all, "all protocols"), (high, ">= 10000")):
        inputs = {**group.inputs, "securityRules": [*group.inputs["securityRules"], rule]}
        tampered = dataclasses.replace(program, resources=[dataclasses.replace(group, inputs=inputs)])
        assert any(expected in p for p in azure_world_rule_problems(tampered, site))


def test_nsg_rules_are_the_policy_in_priority_order(program, site):
    rules = program.one(NSG).inputs["securityRules"]
    names = [r["name"] for r in rules]
    assert names == ["allow-internal", "allow-admin-tcp", "allow-published-tcp", "allow-published-udp", "deny-internet"]
    priorities = [r["priority"] for r in rules]
    assert priorities == sorted(priorities) and len(set(priorities)) == len(priorities)
    assert rules[0]["sourceAddressPrefix"] == str(site.stage.cidr) and rules[0]["protocol"] == "*"
    assert rules[-1]["priority"] == DENY_PRIORITY and rules[-1]["access"] == "Deny"
    admin = rules[1]
    assert admin["destinationPortRanges"] == ["22", "2376"]
    assert (admin.get("sourceAddressPrefixes") or [admin.get("sourceAddressPrefix")]) == list(site.stage.admin_cidrs)


# -- tags, names, protection --------------------------------------------------------------------------------------


def test_tags_and_names(program, site):
    for r in AZURE.resources(program):
        assert r.type in NAME_INPUT, f"classify {r.type} in this test"
        name = r.inputs[NAME_INPUT[r.type]]
        assert name.startswith(site.stage.prefix) and "pdns" in name, (r.type, name)
        if r.type in UNTAGGABLE:
            continue
        tags = r.inputs["tags"]
        assert tags["hive"] == "pdns" and tags["stage"] == program.stack, (r.type, r.name)


def test_protect_on_production_only(program):
    check_protect(program, AZURE)


def test_every_resource_is_a_child_of_the_component(program):
    component = program.one(AZURE.component)
    for r in AZURE.resources(program):
        assert r.parent == component.urn, r.name


# -- outputs ---------------------------------------------------------------------------------------------------------


def test_outputs(program, site):
    check_outputs(program, site, AZURE.public_ip_of(program))


def test_a_bad_image_name_is_one_clear_error():
    config = {**CONFIGS["azure"]["staging"], "hive:image_name": "debian-13"}
    with pytest.raises(Exception, match=r"hive:image_name: debian-13 is no azure image \(Publisher:Offer:Sku:Version"):
        run("staging", config, preview=True)


def test_an_image_resource_id_is_used_as_is():
    image = "/subscriptions/0000/resourceGroups/images/providers/Microsoft.Compute/images/debian-13-hive"
    program = run("staging", {**CONFIGS["azure"]["staging"], "hive:image_name": image}, preview=True)
    for machine in AZURE.machines(program).values():
        assert machine.inputs["storageProfile"]["imageReference"] == {"id": image}
