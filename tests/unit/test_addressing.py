"""Naming, private addresses, availability zones, the internal_cidr split and the overlay MTU."""

from __future__ import annotations

import ipaddress

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from components.inventory.addressing import internal_networks, overlay_mtu, plan_hosts
from components.inventory.errors import ConfigError

THREE_SUBNETS = [
    {"cidr": "10.1.1.0/24", "name": "subnet-a", "available_zone": "ap-northeast-1a"},
    {"cidr": "10.1.2.0/24", "name": "subnet-c", "available_zone": "ap-northeast-1c"},
    {"cidr": "10.1.3.0/24", "name": "subnet-d", "available_zone": "ap-northeast-1d"},
]
AWS = {"hive:provider": "aws", "hive:region": "ap-northeast-1", "hive:cidr": "10.1.0.0/16"}


def test_host_names_carry_stage_prefix_and_custom_hostname(make_stage):
    hosts = plan_hosts(make_stage("staging", **{"hive:provider": "local", "hive:custom_hostname": "node"}))
    assert [h.fqdn for h in hosts] == ["s-node0.pdns", "s-node1.pdns", "s-node2.pdns", "s-node3.pdns"]
    assert hosts[0].hostname == "s-node0"


def test_production_has_no_prefix(make_stage):
    hosts = plan_hosts(make_stage("production", **{"hive:provider": "local"}))
    assert hosts[0].fqdn == "hive0.pdns"


def test_last_host_is_the_separate_repository(make_stage):
    hosts = plan_hosts(make_stage(**{"hive:provider": "local"}))
    assert [h.role for h in hosts] == ["hive", "hive", "hive", "repository"]
    assert [h.is_hive for h in hosts] == [True, True, True, False]
    assert hosts[-1].groups == ("servers", "repository")


def test_shared_repository_is_also_a_hive(make_stage):
    hosts = plan_hosts(make_stage(**{"hive:provider": "local", "hive:separate_repository": False}))
    assert [h.role for h in hosts] == ["hive", "hive", "repository"]
    assert hosts[-1].is_hive
    assert hosts[-1].groups == ("servers", "hives", "repository")


def test_first_hive(make_stage):
    hosts = plan_hosts(make_stage(**{"hive:provider": "local", "hive:first_hive": 1}))
    assert [h.first_hive for h in hosts] == [False, True, False, False]
    assert "first_hive" in hosts[1].groups


def test_reference_example_three_subnets_four_hosts(make_stage):
    """reference §1.3: hive0 gets s0 .5, hive1 s1 .5, hive2 s2 .5, hive3 s0 .6."""
    hosts = plan_hosts(make_stage(**AWS, **{"hive:subnets": THREE_SUBNETS}))
    assert [h.private_ip for h in hosts] == ["10.1.1.5", "10.1.2.5", "10.1.3.5", "10.1.1.6"]
    assert [h.subnet for h in hosts] == ["subnet-a", "subnet-c", "subnet-d", "subnet-a"]
    assert [h.az for h in hosts] == ["ap-northeast-1a", "ap-northeast-1c", "ap-northeast-1d", "ap-northeast-1a"]


def test_without_subnets_addresses_start_at_network_plus_four(make_stage):
    hosts = plan_hosts(make_stage(**{"hive:provider": "local", "hive:cidr": "192.168.56.0/24"}))
    assert [h.private_ip for h in hosts] == ["192.168.56.4", "192.168.56.5", "192.168.56.6", "192.168.56.7"]
    assert {h.subnet for h in hosts} == {"pdns-default"}


def test_ip_address_list_wins(make_stage):
    hosts = plan_hosts(make_stage())
    assert [h.private_ip for h in hosts] == ["192.168.0.10", "192.168.0.11", "192.168.0.12", "192.168.0.13"]


def test_ip_address_list_must_fall_in_a_subnet(make_stage):
    stage = make_stage(
        **{
            "hive:subnets": [{"cidr": "192.168.0.0/26", "name": "a"}],
            "hive:ip_address_list": ["192.168.0.10", "192.168.0.11", "192.168.0.12", "192.168.0.100"],
        }
    )
    with pytest.raises(ConfigError, match=r"hive:ip_address_list\[3\]: 192.168.0.100 is in none of the subnets"):
        plan_hosts(stage)


def test_not_enough_addresses(make_stage):
    stage = make_stage(**{"hive:provider": "local", "hive:cidr": "192.168.0.0/29", "hive:number_of_hosts": 4})
    with pytest.raises(ConfigError, match=r"hive:cidr: 192.168.0.0/29 has no address left for host 3"):
        plan_hosts(stage)


def test_not_enough_addresses_in_a_subnet(make_stage):
    subnets = [{"cidr": "10.1.0.0/29", "name": "tiny"}, {"cidr": "10.1.1.0/24", "name": "big"}]
    stage = make_stage(**AWS, **{"hive:subnets": subnets, "hive:number_of_hosts": 6})
    with pytest.raises(ConfigError, match=r"hive:subnets\[0\].cidr: 10.1.0.0/29 has no address left for host 4"):
        plan_hosts(stage)


def test_aws_without_subnets_spreads_over_three_zonal_subnets(make_stage):
    hosts = plan_hosts(make_stage(**(AWS | {"hive:cidr": "10.1.0.0/24"})))
    assert [h.subnet_cidr for h in hosts[:3]] == ["10.1.0.0/26", "10.1.0.64/26", "10.1.0.128/26"]
    assert [h.private_ip for h in hosts] == ["10.1.0.5", "10.1.0.69", "10.1.0.133", "10.1.0.6"]
    assert [h.az for h in hosts[:3]] == ["ap-northeast-1a", "ap-northeast-1b", "ap-northeast-1c"]


def test_regional_zones_spread_round_robin(make_stage):
    stage = make_stage(**{"hive:provider": "gcp", "hive:region": "asia-northeast1", "gcp:project": "p"})
    assert [h.az for h in plan_hosts(stage)] == [
        "asia-northeast1-a",
        "asia-northeast1-b",
        "asia-northeast1-c",
        "asia-northeast1-a",
    ]


def test_azure_zones_are_numbers(make_stage):
    stage = make_stage(**{"hive:provider": "azure", "hive:region": "japaneast"})
    assert [h.az for h in plan_hosts(stage)] == ["1", "2", "3", "1"]


def test_no_region_no_zone(make_stage):
    assert {h.az for h in plan_hosts(make_stage(**{"hive:provider": "local"}))} == {None}


def test_no_mirrored_device(make_stage):
    hosts = plan_hosts(make_stage(**{"hive:no_mirrored_device": [2]}))
    assert [h.mirrored_device for h in hosts] == [True, True, False, True]


def test_reference_internal_cidr_split():
    """reference §1.4: 10.254.0.0/16."""
    nets = internal_networks(ipaddress.ip_network("10.254.0.0/16"))
    assert nets.default_network == "10.254.0.0/18"
    assert nets.ingress == "10.254.64.0/18"
    assert nets.ingress_gateway == "10.254.64.1"
    assert nets.docker_gwbridge == "10.254.128.0/19"
    assert nets.bip == "10.254.160.1/19"
    assert nets.registry == "10.254.192.0/19"
    assert nets.monitoring == "10.254.224.0/19"


def test_internal_defaults_without_internal_cidr():
    nets = internal_networks(None)
    assert (nets.default_network, nets.bip, nets.docker_gwbridge, nets.monitoring) == (
        None,
        "172.17.128.1/16",
        "172.20.0.0/16",
        "172.21.0.0/16",
    )


def test_overlay_mtu_is_underlay_minus_vxlan():
    assert overlay_mtu(1500) == 1450
    assert overlay_mtu(1460) == 1410


def test_gcp_stage_overlay_mtu(make_site):
    site = make_site(**{"hive:provider": "gcp", "hive:region": "asia-northeast1", "gcp:project": "p"})
    assert site.overlay_mtu == 1410


# -- properties ---------------------------------------------------------------------------------------------


@st.composite
def subnet_layouts(draw):
    """A cidr (not docker's default ingress 10.0.0.0/24), 1–4 disjoint subnets inside it, and a host count that fits."""
    prefix = draw(st.integers(16, 24))
    base = ipaddress.ip_network(f"10.{draw(st.integers(1, 255))}.0.0/{prefix}", strict=False)
    count = draw(st.integers(1, 4))
    sub_prefix = draw(st.integers(base.prefixlen + 2, 28))
    pool = list(base.subnets(new_prefix=sub_prefix))
    chosen = draw(st.lists(st.sampled_from(pool), min_size=count, max_size=count, unique=True))
    capacity = min(s.num_addresses for s in chosen) - 6
    hosts = draw(st.integers(2, max(2, min(12, capacity * len(chosen)))))
    zones = draw(st.lists(st.sampled_from(["x-1a", "x-1b", "x-1c", None]), min_size=count, max_size=count))
    return base, chosen, hosts, zones


@settings(max_examples=150, deadline=None)
@given(subnet_layouts())
def test_addresses_are_inside_their_subnet_and_cidr_and_unique(make_stage, layout):
    base, subnets, count, zones = layout
    pairs = enumerate(zip(subnets, zones, strict=True))
    spec = [{"cidr": str(s), "name": f"s{i}", "available_zone": z} for i, (s, z) in pairs]
    spec = [{k: v for k, v in entry.items() if v is not None} for entry in spec]
    try:
        stage = make_stage(
            **{"hive:provider": "aws", "hive:region": "x-1", "hive:cidr": str(base), "hive:subnets": spec},
            **{"hive:number_of_hosts": count},
        )
        hosts = plan_hosts(stage)
    except ConfigError as exc:
        assert "has no address left" in str(exc)
        return
    addresses = [ipaddress.ip_address(h.private_ip) for h in hosts]
    assert len(set(addresses)) == len(addresses)
    for host, address in zip(hosts, addresses, strict=True):
        subnet = ipaddress.ip_network(host.subnet_cidr)
        assert address in subnet and address in base
        assert address not in (subnet.network_address, subnet.broadcast_address)
        assert int(address) - int(subnet.network_address) >= 5


@settings(max_examples=60, deadline=None)
@given(st.integers(3, 30))
def test_zones_are_spread_over_three(make_stage, count):
    stage = make_stage(
        **{"hive:provider": "gcp", "hive:region": "r1", "gcp:project": "p", "hive:cidr": "10.8.0.0/16"},
        **{"hive:number_of_hosts": count},
    )
    hives = [h for h in plan_hosts(stage) if h.is_hive]
    per_zone = [sum(1 for h in hives if h.az == z) for z in ("r1-a", "r1-b", "r1-c")]
    assert max(per_zone) - min(per_zone) <= 1


@settings(max_examples=100, deadline=None)
@given(st.integers(8, 24))
def test_internal_split_is_disjoint_and_inside(prefix):
    cidr = ipaddress.ip_network(f"10.0.0.0/{prefix}")
    nets = internal_networks(cidr)
    parts = [
        ipaddress.ip_network(n)
        for n in (nets.default_network, nets.ingress, nets.docker_gwbridge, nets.registry, nets.monitoring)
    ]
    parts.append(ipaddress.ip_interface(nets.bip).network)
    assert all(p.subnet_of(cidr) for p in parts)
    assert all(not a.overlaps(b) for i, a in enumerate(parts) for b in parts[i + 1 :])


def test_host_generation_marks_a_replaced_machine(make_stage):
    hosts = plan_hosts(make_stage(**{"hive:host_generation": {"s-hive1": 2}}))
    assert [h.generation for h in hosts] == [0, 2, 0, 0]


def test_host_generation_names_a_host_of_the_stage(make_stage):
    with pytest.raises(ConfigError, match=r"hive:host_generation.p-hive1: p-hive1 is not a host of this stage"):
        make_stage(**{"hive:host_generation": {"p-hive1": 1}})


def test_aws_fixed_addresses_fall_into_the_zonal_quarters(make_stage):
    addresses = ["10.1.0.10", "10.1.0.70", "10.1.0.140", "10.1.0.11"]
    hosts = plan_hosts(make_stage(**(AWS | {"hive:cidr": "10.1.0.0/24", "hive:ip_address_list": addresses})))
    assert [h.az for h in hosts] == ["ap-northeast-1a", "ap-northeast-1b", "ap-northeast-1c", "ap-northeast-1a"]


def test_aws_fixed_address_outside_the_zonal_quarters(make_stage):
    addresses = ["10.1.0.10", "10.1.0.70", "10.1.0.140", "10.1.0.200"]
    with pytest.raises(ConfigError, match=r"hive:ip_address_list\[3\]: 10.1.0.200 is in none of the subnets"):
        plan_hosts(make_stage(**(AWS | {"hive:cidr": "10.1.0.0/24", "hive:ip_address_list": addresses})))


def test_gcp_never_hands_out_its_reserved_second_to_last_address(make_stage):
    # a /29 has .0–.7: hosts start at +4, and GCP keeps .6 and .7 — room for two hosts, not three
    with pytest.raises(ConfigError, match=r"hive:cidr: 10.8.0.0/29 has no address left for host 2"):
        plan_hosts(
            make_stage(
                **{"hive:provider": "gcp", "hive:region": "r1", "gcp:project": "p", "hive:cidr": "10.8.0.0/29"},
                **{"hive:number_of_hosts": 3, "hive:separate_repository": False},
            )
        )
