"""Prepared hosts: no cloud resource at all; the hosts are the inventory's addresses, the key comes from config."""

from __future__ import annotations

import functools

import pytest

from components.infra.prepared import machine_id
from tests.harness import ProgramRun, assert_valid_inputs, is_unknown
from tests.program.infra_support import check_outputs, expected_site, run

ADDRESSES = ["192.168.10.21", "192.168.10.22", "192.168.10.23", "192.168.10.24"]
FAKE_KEY = (
    "-----BEGIN OPENSSH PRIVATE KEY-----\n"
    "b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW\n"
    "-----END OPENSSH PRIVATE KEY-----\n"
)
CONFIG = {
    "hive:provider": "prepared",
    "hive:cidr": "192.168.10.0/24",
    "hive:ip_address_list": ADDRESSES,
    "hive:ssh_private_key": FAKE_KEY,
    "hive:ssh_user": "hiveadmin",
}
CLOUD_PREFIXES = ("aws:", "gcp:", "azure-native:", "pulumi:providers:aws", "pulumi:providers:gcp")

# The runs are cached per process: keep this module on one xdist worker (``--dist loadgroup``).
pytestmark = pytest.mark.xdist_group("infra-prepared")


@functools.cache
def prepared_run(stack: str, preview: bool) -> ProgramRun:
    return run(stack, CONFIG, preview=preview, secret_config=["hive:ssh_private_key"])


@pytest.fixture
def program(stack: str, preview: bool) -> ProgramRun:
    return prepared_run(stack, preview)


def test_no_cloud_resource_at_all(program):
    assert [r for r in program.resources if r.type.startswith(CLOUD_PREFIXES)] == []
    component = program.one("hive:infra:Prepared")
    # its only children: one ssh-keyscan per host (trust on first use)
    assert {c.type for c in program.children(component)} == {"command:local:Command"}
    # the operator's hosts already trust the configured key: no key pair is generated
    assert not any(r.name == "ssh-key" for r in program.of_type("tls:index/privateKey:PrivateKey"))


def test_hosts_are_the_inventory_addresses(program):
    site = expected_site(program)
    assert [h.private_ip for h in site.hosts] == ADDRESSES
    addresses = program.one("hive:infra:Prepared").registered_outputs["addresses"]
    assert addresses == {h.fqdn: h.private_ip for h in site.hosts}


def test_outputs_use_the_private_addresses(program):
    site = expected_site(program)
    check_outputs(program, site, lambda host: host.private_ip)
    if not program.preview:
        assert program.outputs["ssh_private_key"] == FAKE_KEY
        assert "User hiveadmin" in program.outputs["ssh_config"]


def plain_strings(value: object, path: str, secret_paths: set[str]) -> list[str]:
    """Every string in ``value`` that is not at (or under) a secret path."""
    if any(path == s or path.startswith((f"{s}.", f"{s}[")) for s in secret_paths):
        return []
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [x for k, v in value.items() for x in plain_strings(v, f"{path}.{k}" if path else k, secret_paths)]
    if isinstance(value, list):
        return [x for i, v in enumerate(value) for x in plain_strings(v, f"{path}[{i}]", secret_paths)]
    return []


def test_the_key_never_shows_in_plain_text(program):
    assert "ssh_private_key" in program.secret_outputs
    body = FAKE_KEY.splitlines()[1]
    places = [("stack outputs", program.outputs, program.secret_output_paths)]
    for r in program.resources:
        places.append((f"{r.type} {r.name} inputs", r.inputs, r.secret_inputs))
        places.append((f"{r.type} {r.name} outputs", r.outputs, r.secret_outputs))
    leaks = [where for where, value, secret in places if any(body in s for s in plain_strings(value, "", secret))]
    assert leaks == []


def test_every_input_is_valid_for_the_sdk(program):
    assert_valid_inputs(program)


def test_machine_id_is_the_name_and_address():
    site = expected_site(prepared_run("staging", False))
    assert machine_id(site.hosts[0]) == "s-hive0.pdns@192.168.10.21"


GIVEN_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIIqI4910CfGV/VLbLTy6XXLKZwm/HZQSG/N0iAG0D29c"


def test_each_host_without_a_given_key_is_scanned_once_per_machine(program):
    """Trust on first use: one ssh-keyscan per host, re-run only for a new machine (triggers = its identity);
    every SSH connection to the host pins what it printed."""
    for host in expected_site(program).hosts:
        scan = program.one("command:local:Command", f"{host.hostname}-host-key")
        assert f"ssh-keyscan -T 10 -t ed25519 -p 22 {host.private_ip}" in scan.input("create")
        assert scan.input("triggers") == [f"{machine_id(host)}#generation-0"]
        for r in program.custom_resources:
            if r.type == "command:remote:Command" and r.input("connection.host") == host.private_ip:
                if program.preview:
                    assert r.input("connection.hostKey") is None or is_unknown(r.input("connection.hostKey"))
                else:
                    assert r.input("connection.hostKey") == scan.outputs["stdout"], r.name


def test_a_given_host_key_is_pinned_without_a_scan():
    config = CONFIG | {"hive:host_keys": {"s-hive1": GIVEN_KEY}}
    program = run("staging", config, preview=True, secret_config=["hive:ssh_private_key"])
    scans = {r.name for r in program.of_type("command:local:Command") if r.name.endswith("-host-key")}
    assert scans == {"s-hive0-host-key", "s-hive2-host-key", "s-hive3-host-key"}
    pinned = {
        r.input("connection.hostKey")
        for r in program.custom_resources
        if r.type == "command:remote:Command" and r.input("connection.host") == ADDRESSES[1]
    }
    assert pinned == {GIVEN_KEY}
