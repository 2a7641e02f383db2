"""The firewall policy as data: what comes in from where, and the invariant every cloud relies on."""

from __future__ import annotations

import ipaddress
import itertools

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from components.infra.firewall_policy import (
    ALL_PROTOCOLS,
    ANYWHERE,
    WORLD_PORT_LIMIT,
    PortRange,
    Rule,
    checked_policy,
    external_sources,
    merge_ports,
    policy,
    published_ports,
    supported,
    violations,
    world_rules,
)
from components.inventory.errors import ConfigError

AWS = {"hive:provider": "aws", "hive:region": "ap-northeast-1", "hive:cidr": "10.1.0.0/16"}
SERVICES = {
    "dns": {"image": "powerdns/pdns-auth-49:4.9.4", "ports": ["53:53/tcp", "53:53/udp", "8081"]},
    "web": {"image": "nginx:1.27", "ports": ["80:80", "443:443", "81:8080"]},
    "zabbix": {"image": "zabbix/zabbix-server-pgsql:7.0-alpine-latest", "ports": ["10051:10051"]},
}


def by_name(rules: tuple[Rule, ...]) -> dict[str, Rule]:
    return {rule.name: rule for rule in rules}


# -- port lists --------------------------------------------------------------------------------------


def test_merge_ports_makes_the_fewest_ranges():
    merged = merge_ports([443, 80, 53, 81, 82, 80])
    assert [str(r) for r in merged] == ["53", "80-82", "443"]


def test_merge_ports_of_nothing_is_empty():
    assert merge_ports([]) == ()


def test_port_range_rejects_nonsense():
    with pytest.raises(ValueError):
        PortRange(0, 22)
    with pytest.raises(ValueError):
        PortRange(23, 22)
    with pytest.raises(ValueError):
        PortRange(1, 65536)


@given(st.sets(st.integers(1, 65535), max_size=40))
def test_merge_ports_covers_exactly_the_ports(ports):
    merged = merge_ports(ports)
    covered = {p for r in merged for p in range(r.first, r.last + 1)}
    assert covered == ports
    # compact: neighbouring ranges never touch
    assert all(a.last + 1 < b.first for a, b in itertools.pairwise(merged))


# -- the policy ----------------------------------------------------------------------------------------


def test_internal_rule_is_everything_from_the_site_cidr_only(make_site):
    site = make_site(SERVICES, **AWS)
    internal = policy(site)[0]
    assert internal.internal
    assert internal.protocol == ALL_PROTOCOLS and internal.all_ports
    assert internal.sources == ("10.1.0.0/16",)
    assert external_sources(internal, site) == ()


def test_admin_rule_is_ssh_and_docker_api_from_admin_cidrs(make_site):
    site = make_site(SERVICES, **AWS, **{"hive:admin_cidrs": ["203.0.113.0/24", "198.51.100.7/32"]})
    admin = by_name(policy(site))["admin-tcp"]
    assert admin.protocol == "tcp"
    assert admin.port_strings == ("22", "2376")
    assert admin.sources == ("203.0.113.0/24", "198.51.100.7/32")


def test_admin_cidrs_default_to_anywhere(make_site):
    site = make_site(SERVICES, **AWS)
    assert by_name(policy(site))["admin-tcp"].sources == (ANYWHERE,)


def test_published_ports_below_10000_per_protocol_from_anywhere(make_site):
    site = make_site(SERVICES, **AWS)
    rules = by_name(world_rules(site))
    assert set(rules) == {"admin-tcp", "published-tcp", "published-udp"}
    assert rules["published-tcp"].port_strings == ("53", "80-81", "443")
    assert rules["published-udp"].port_strings == ("53",)
    assert rules["published-tcp"].sources == rules["published-udp"].sources == (ANYWHERE,)


def test_auto_published_and_high_ports_stay_inside(make_site):
    """8081 gets an auto-published port (61001–65534) and 10051 is ≥ 10000: neither is opened to the world."""
    site = make_site(SERVICES, **AWS)
    opened = {p for rule in world_rules(site) for r in rule.ports for p in range(r.first, r.last + 1)}
    assert 10051 not in opened
    assert all(port < WORLD_PORT_LIMIT for port in opened)
    auto = site.allocations.ports["dns8081"]
    assert auto >= 61001 and auto not in opened


def test_the_boundary_is_9999_in_10000_out(make_site):
    site = make_site({"edge": {"image": "nginx:1.27", "ports": ["9999:80", "10000:81"]}}, **AWS)
    assert published_ports(site) == {"tcp": (9999,)}


def test_sctp_gets_its_own_rule(make_site):
    site = make_site({"diameter": {"image": "example/diameter:1", "ports": ["3868:3868/sctp"]}}, **AWS)
    assert by_name(world_rules(site))["published-sctp"].port_strings == ("3868",)


def test_no_services_no_published_rule(make_site):
    site = make_site({}, **AWS)
    assert [r.name for r in policy(site)] == ["internal", "admin-tcp"]


def test_services_of_other_stages_are_not_opened(make_site):
    services = {"prod-only": {"image": "nginx:1.27", "ports": ["8443:443"], "available_on": ["production"]}}
    assert published_ports(make_site(services, **AWS)) == {}
    assert published_ports(make_site(services, stack="production", **AWS)) == {"tcp": (8443,)}


# -- the invariant ---------------------------------------------------------------------------------------


def test_the_policy_keeps_its_invariant(make_site):
    site = make_site(SERVICES, **AWS)
    assert violations(policy(site), site) == []
    assert checked_policy(site) == policy(site)


def test_violations_catch_an_all_protocol_world_rule(make_site):
    site = make_site({}, **AWS)
    wide = Rule("oops", ALL_PROTOCOLS, (), (ANYWHERE,), "everything from anywhere")
    problems = violations([wide], site)
    assert any("all protocols" in p for p in problems)
    assert any("every port" in p for p in problems)


def test_violations_catch_a_high_port_world_rule(make_site):
    site = make_site({}, **AWS)
    high = Rule("oops", "tcp", (PortRange(9000, 10001),), ("198.51.100.0/24",), "reaches 10000")
    assert violations([high], site) == ["rule oops opens ports 9000-10001 (>= 10000) to 198.51.100.0/24"]


def test_rules_from_inside_the_site_may_open_anything(make_site):
    site = make_site({}, **AWS)
    inside = Rule("lan", ALL_PROTOCOLS, (), ("10.1.2.0/24",), "a subnet of the site")
    assert violations([inside], site) == []


def test_supported_drops_what_a_cloud_cannot_limit(make_site):
    site = make_site({"diameter": {"image": "example/diameter:1", "ports": ["3868:3868/sctp", "53:53/udp"]}}, **AWS)
    kept, dropped = supported(policy(site), ("tcp", "udp"))
    assert [r.name for r in kept] == ["internal", "admin-tcp", "published-udp"]
    assert [r.name for r in dropped] == ["published-sctp"]


PORT_SPEC = st.tuples(
    st.one_of(st.none(), st.integers(1, 65535)), st.integers(1, 65535), st.sampled_from(["tcp", "udp", "sctp"])
)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.lists(PORT_SPEC, min_size=1, max_size=4), min_size=1, max_size=4))
def test_any_catalog_yields_a_policy_that_keeps_the_invariant(make_site, services_ports):
    services = {}
    for i, ports in enumerate(services_ports):
        specs = []
        seen: set[tuple[int, str]] = set()
        for published, target, protocol in ports:
            if (target, protocol) in seen:
                continue
            seen.add((target, protocol))
            specs.append(f"{published}:{target}/{protocol}" if published else f"{target}/{protocol}")
        services[f"svc{i}"] = {"image": "nginx:1.27", "ports": specs}
    try:
        site = make_site(services, **AWS)
    except ConfigError:  # the catalog itself may reject a combination (e.g. one published port twice)
        assume(False)
        raise
    rules = policy(site)
    assert violations(rules, site) == []
    expected = {
        (p.protocol, site.published_port(s, i))
        for s in site.catalog.services
        for i, p in enumerate(s.ports)
        if site.published_port(s, i) < WORLD_PORT_LIMIT
    }
    opened = {
        (rule.protocol, port)
        for rule in rules
        if not rule.internal and rule.name.startswith("published-")
        for r in rule.ports
        for port in range(r.first, r.last + 1)
    }
    assert opened == expected
    for rule in rules:
        for source in rule.sources:
            ipaddress.ip_network(source)  # every source is a valid CIDR
