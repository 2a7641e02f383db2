"""The stage object: keys, defaults, per-provider rules and the one-line errors."""

from __future__ import annotations

import ipaddress

import pytest

from components.inventory.errors import ConfigError
from components.inventory.stage import parse_stage
from tests.unit.conftest import config


def test_stack_name_is_the_stage(make_stage):
    assert make_stage("production").stage == "production"
    assert make_stage("production").prefix == ""
    assert make_stage("staging").prefix == "s-"
    assert make_stage("private").prefix == "p-"


def test_other_stack_needs_hive_stage(make_stage):
    with pytest.raises(ConfigError, match=r"Pulumi.dev-alice.yaml: hive:stage: stack 'dev-alice' is no stage"):
        make_stage("dev-alice")
    assert make_stage("dev-alice", **{"hive:stage": "private"}).stage == "private"


def test_hive_stage_must_agree_with_a_stage_stack_name(make_stage):
    with pytest.raises(ConfigError, match=r"hive:stage: private differs from the stack name staging"):
        make_stage("staging", **{"hive:stage": "private"})


def test_defaults_follow_hive_builder(make_stage):
    stage = make_stage(**{"hive:ip_address_list": None, "hive:provider": "local"})
    assert stage.separate_repository is True
    assert stage.number_of_hosts == 4
    assert stage.custom_hostname == "hive"
    assert stage.first_hive == 0
    assert stage.admin_cidrs == ("0.0.0.0/0",)
    assert stage.ssh_user == "admin"


def test_shared_repository_defaults_to_three_hosts(make_stage):
    stage = make_stage(**{"hive:provider": "local", "hive:separate_repository": False})
    assert stage.number_of_hosts == 3
    assert stage.hive_count == 3


def test_engine_strings_are_accepted_for_numbers_and_booleans(make_stage):
    stage = make_stage(**{"hive:provider": "local", "hive:separate_repository": "false", "hive:number_of_hosts": "5"})
    assert (stage.separate_repository, stage.number_of_hosts) == (False, 5)


def test_provider_defaults(make_stage):
    gcp = make_stage(**{"hive:provider": "gcp", "hive:region": "asia-northeast1", "gcp:project": "p"})
    assert (gcp.instance_type, gcp.underlay_mtu, gcp.ssh_user) == ("e2-standard-2", 1460, "admin")
    azure = make_stage(**{"hive:provider": "azure", "hive:region": "japaneast"})
    assert azure.ssh_user == "hiveadmin"


def test_repository_instance_type_falls_back_to_instance_type(make_stage):
    stage = make_stage(**{"hive:provider": "aws", "hive:region": "ap-northeast-1", "hive:instance_type": "t3.large"})
    assert stage.repository_instance_type == "t3.large"


def test_unknown_stage_key(make_stage):
    with pytest.raises(ConfigError) as err:
        make_stage(**{"hive:instance_typ": "t3.medium"})
    assert str(err.value).startswith("Pulumi.staging.yaml: hive:instance_typ: unknown key (allowed: ")


def test_other_namespaces_are_not_ours(make_stage):
    assert make_stage(**{"aws:region": "ap-northeast-1"}).provider == "prepared"


@pytest.mark.parametrize("provider", ["vagrant", "openstack", ""])
def test_unknown_provider(make_stage, provider):
    with pytest.raises(
        ConfigError, match=r"hive:provider: .* is invalid \(allowed: aws, gcp, azure, prepared, local\)"
    ):
        make_stage(**{"hive:provider": provider})


@pytest.mark.parametrize(
    ("provider", "missing", "extra"),
    [
        ("aws", "hive:region", {}),
        ("gcp", "gcp:project", {"hive:region": "asia-northeast1"}),
        ("gcp", "hive:region", {"gcp:project": "p"}),
        ("azure", "hive:region", {}),
        ("prepared", "hive:ip_address_list", {"hive:ip_address_list": None}),
        ("prepared", "hive:ssh_private_key", {"hive:ssh_private_key": None}),
    ],
)
def test_missing_per_provider_key(make_stage, provider, missing, extra):
    with pytest.raises(ConfigError, match=rf"{missing}: is required for provider {provider}"):
        make_stage(**{"hive:provider": provider, **extra})


def test_cloud_only_key_on_local(make_stage):
    with pytest.raises(ConfigError, match=r"hive:instance_type: is not used by provider local \(only for aws, gcp"):
        make_stage(**{"hive:provider": "local", "hive:instance_type": "t3.medium"})


@pytest.mark.parametrize("cidr", ["10.1.0.0/33", "10.1.0.1/24", "not-a-cidr", "fd00::/64"])
def test_bad_cidr(make_stage, cidr):
    with pytest.raises(ConfigError, match=r"hive:cidr: "):
        make_stage(**{"hive:cidr": cidr})


def test_subnet_outside_cidr(make_stage):
    with pytest.raises(ConfigError) as err:
        make_stage(
            **{
                "hive:provider": "aws",
                "hive:region": "ap-northeast-1",
                "hive:cidr": "10.1.0.0/24",
                "hive:subnets": [
                    {"cidr": "10.1.0.0/26", "name": "a"},
                    {"cidr": "10.1.0.64/26", "name": "b"},
                    {"cidr": "10.1.9.0/26", "name": "c"},
                ],
            }
        )
    assert str(err.value) == (
        "Pulumi.staging.yaml: hive:subnets[2].cidr: 10.1.9.0/26 is outside hive:cidr 10.1.0.0/24 "
        "(a subnet of 10.1.0.0/24)"
    )


def test_overlapping_subnets(make_stage):
    subnets = [{"cidr": "192.168.0.0/25", "name": "a"}, {"cidr": "192.168.0.64/26", "name": "b"}]
    with pytest.raises(ConfigError, match=r"hive:subnets\[1\].cidr: 192.168.0.64/26 overlaps subnet a"):
        make_stage(**{"hive:subnets": subnets})


def test_unknown_subnet_key(make_stage):
    with pytest.raises(ConfigError, match=r"hive:subnets\[0\].zone: unknown key"):
        make_stage(**{"hive:subnets": [{"cidr": "192.168.0.0/25", "name": "a", "zone": "x"}]})


def test_internal_cidr_overlapping_cidr(make_stage):
    with pytest.raises(ConfigError, match=r"hive:internal_cidr: 192.168.0.0/20 overlaps hive:cidr"):
        make_stage(**{"hive:internal_cidr": "192.168.0.0/20"})


def test_internal_cidr_too_small(make_stage):
    with pytest.raises(ConfigError, match=r"hive:internal_cidr: .* \(a network of /24 or larger"):
        make_stage(**{"hive:internal_cidr": "10.254.0.0/26"})


def test_ip_address_list_length_must_match(make_stage):
    with pytest.raises(ConfigError) as err:
        make_stage(**{"hive:ip_address_list": ["192.168.0.10", "192.168.0.11"]})
    assert "hive:ip_address_list: has 2 addresses but the stage has 4 hosts" in str(err.value)


def test_ip_address_outside_cidr(make_stage):
    addresses = ["192.168.0.10", "192.168.0.11", "10.0.0.1", "192.168.0.13"]
    with pytest.raises(ConfigError, match=r"hive:ip_address_list\[2\]: 10.0.0.1 is outside hive:cidr"):
        make_stage(**{"hive:ip_address_list": addresses})


def test_duplicate_ip_address(make_stage):
    addresses = ["192.168.0.10", "192.168.0.11", "192.168.0.10", "192.168.0.13"]
    with pytest.raises(ConfigError, match=r"hive:ip_address_list\[2\]: 192.168.0.10 is listed twice"):
        make_stage(**{"hive:ip_address_list": addresses})


@pytest.mark.parametrize("hostname", ["Hive", "hive_x", "-hive", "hive-", "h"])
def test_invalid_custom_hostname_characters(make_stage, hostname):
    with pytest.raises(ConfigError, match=r"hive:custom_hostname: .* is invalid"):
        make_stage(**{"hive:custom_hostname": hostname})


def test_custom_hostname_length(make_stage):
    with pytest.raises(ConfigError, match=r"hive:custom_hostname: .* is 55 characters \(fewer than 55 together\)"):
        make_stage(**{"hive:custom_hostname": "a" * 51})


def test_invalid_hive_name(make_stage):
    with pytest.raises(ConfigError, match=r"hive:name: My_Site is invalid"):
        make_stage(**{"hive:name": "My_Site"})


def test_first_hive_must_be_a_hive(make_stage):
    with pytest.raises(ConfigError, match=r"hive:first_hive: 3 is invalid \(an integer in 0..2\)"):
        make_stage(**{"hive:first_hive": 3})


def test_admin_cidrs_parsed(make_stage):
    stage = make_stage(**{"hive:admin_cidrs": ["203.0.113.0/24", "198.51.100.7/32"]})
    assert stage.admin_cidrs == ("203.0.113.0/24", "198.51.100.7/32")


def test_secret_file_attribution():
    values = config({"hive:provider": "local", "hive:cidr": "192.168.0.0/24"}) | config(
        {"hive:name": "UPPER"}, "Pulumi.yaml"
    )
    with pytest.raises(ConfigError, match=r"^Pulumi.yaml: hive:name: UPPER is invalid"):
        parse_stage(values, "staging")


def test_drbd_module_url_is_an_https_url(make_stage):
    url = "https://repo.example/drbd-modules-{kernel}_{version}_amd64.deb"
    assert make_stage(**{"hive:drbd_module_url": url}).drbd_module_url == url
    assert make_stage().drbd_module_url is None
    with pytest.raises(ConfigError, match=r"hive:drbd_module_url: 'http://…' is not an https URL"):
        make_stage(**{"hive:drbd_module_url": "http://repo.example/m.deb"})


def test_networks_are_ipaddress_objects(make_stage):
    assert make_stage().cidr == ipaddress.ip_network("192.168.0.0/24")


def test_drbd_sha256_is_a_sha256_digest(make_stage):
    digest = "AB" * 32
    assert make_stage(**{"hive:drbd_sha256": f"sha256:{digest}"}).drbd_sha256 == digest.lower()
    assert make_stage().drbd_sha256 is None
    with pytest.raises(ConfigError, match=r"hive:drbd_sha256: abc is invalid \(64 hexadecimal digits"):
        make_stage(**{"hive:drbd_sha256": "abc"})


@pytest.mark.parametrize(
    ("provider", "extra", "mtu", "ok"),
    [
        ("gcp", {"hive:region": "asia-northeast1", "gcp:project": "p"}, 8896, True),
        ("gcp", {"hive:region": "asia-northeast1", "gcp:project": "p"}, 8897, False),
        ("gcp", {"hive:region": "asia-northeast1", "gcp:project": "p"}, 1299, False),
        ("aws", {"hive:region": "ap-northeast-1"}, 9001, True),
        ("azure", {"hive:region": "japaneast"}, 3900, True),
        ("azure", {"hive:region": "japaneast"}, 9000, False),
    ],
)
def test_underlay_mtu_range_is_the_providers(make_stage, provider, extra, mtu, ok):
    values = {"hive:provider": provider, "hive:cidr": "10.1.0.0/16", **extra, "hive:underlay_mtu": mtu}
    if ok:
        assert make_stage(**values).underlay_mtu == mtu
    else:
        with pytest.raises(ConfigError, match=r"hive:underlay_mtu: \d+ is invalid \(an integer in"):
            make_stage(**values)


ED25519_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIIqI4910CfGV/VLbLTy6XXLKZwm/HZQSG/N0iAG0D29c"


def test_host_keys_pin_a_prepared_host_as_given_without_its_comment(make_stage):
    stage = make_stage(**{"hive:host_keys": {"s-hive1": f"{ED25519_KEY} root@s-hive1"}})
    assert stage.host_keys == {"s-hive1": ED25519_KEY}


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("not-a-key", r"is not an SSH public key line"),
        (
            ED25519_KEY.replace("ssh-ed25519", "ecdsa-sha2-nistp256"),
            r"names ecdsa-sha2-nistp256 but holds a ssh-ed25519",
        ),
        ("ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQ==", r"key type ssh-rsa cannot be pinned"),
    ],
)
def test_host_keys_refuse_what_cannot_be_pinned(make_stage, value, problem):
    with pytest.raises(ConfigError, match=rf"Pulumi.staging.yaml: hive:host_keys.s-hive0: {problem}.*\(.*ssh-ed25519"):
        make_stage(**{"hive:host_keys": {"s-hive0": value}})


def test_host_keys_name_hosts_of_the_stage(make_stage):
    with pytest.raises(ConfigError, match=r"hive:host_keys.s-hive9: s-hive9 is not a host of this stage"):
        make_stage(**{"hive:host_keys": {"s-hive9": ED25519_KEY}})


def test_host_keys_are_for_prepared_hosts_only(make_stage):
    with pytest.raises(ConfigError, match=r"host_keys"):
        make_stage(**{"hive:provider": "local", "hive:host_keys": {"s-hive0": ED25519_KEY}})
