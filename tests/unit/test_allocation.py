"""Auto-published ports and DRBD minors: lowest free first, never colliding, stable across catalog edits."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from components.inventory.allocation import (
    MINOR_RANGE,
    PORT_RANGE,
    Allocations,
    allocate,
    allocate_minors,
    allocate_ports,
)
from components.inventory.errors import ConfigError
from tests.unit.conftest import catalog_of


def services(spec: dict[str, list]) -> list:
    return list(catalog_of({name: {"image": "x", "ports": ports} for name, ports in spec.items()}).services)


def drbd_services(volumes: list[str], fixed: dict[str, int] | None = None) -> list:
    fixed = fixed or {}
    return list(
        catalog_of(
            {
                f"svc_{v}": {
                    "image": "x",
                    "volumes": [
                        {
                            "source": v,
                            "target": "/data",
                            "drbd": {"size": "1G", **({"device_id": fixed[v]} if v in fixed else {})},
                        }
                    ],
                }
                for v in volumes
            }
        ).services
    )


def test_ports_lowest_free_in_catalog_order():
    assert allocate_ports(services({"a": ["8081"], "b": ["80:80", "9000"]}), {}) == {"a8081": 61001, "b9000": 61002}


def test_tcp_and_udp_of_one_target_share_the_published_port():
    assert allocate_ports(services({"dns": ["53/tcp", "53/udp"]}), {}) == {"dns53": 61001}


def test_existing_port_kept_when_a_service_is_added_before_it():
    previous = allocate_ports(services({"b": ["9000"]}), {})
    assert allocate_ports(services({"a": ["8081"], "b": ["9000"]}), previous) == {"a8081": 61002, "b9000": 61001}


def test_removed_service_frees_its_port():
    previous = allocate_ports(services({"a": ["1"], "b": ["2"]}), {})
    assert allocate_ports(services({"b": ["2"], "c": ["3"]}), previous) == {"b2": 61002, "c3": 61001}


def test_explicit_port_in_the_auto_range_is_never_reused():
    assert allocate_ports(services({"a": ["61001:80"], "b": ["8080"]}), {}) == {"b8080": 61002}


def test_colliding_explicit_ingress_ports_are_an_error():
    with pytest.raises(ConfigError) as err:
        allocate_ports(services({"a": ["80:80"], "b": ["80:8080"]}), {})
    assert str(err.value) == (
        "services/site.yml: services.b.ports[0]: 80/tcp is already published by service a "
        "(a free port, or mode: host on different nodes)"
    )


def test_same_port_different_protocols_do_not_collide():
    assert allocate_ports(services({"a": ["53:53/tcp"], "b": ["53:53/udp"]}), {}) == {}


def test_host_mode_ports_may_repeat():
    spec = [{"target": 80, "published": 80, "mode": "host"}]
    assert allocate_ports(services({"a": spec, "b": spec}), {}) == {}


def test_minors_lowest_free_and_explicit_device_ids_respected():
    assert allocate_minors(drbd_services(["x", "y", "z"], {"y": 1}), {}) == {"x": 2, "y": 1, "z": 3}


def test_duplicate_device_id_is_an_error():
    with pytest.raises(ConfigError, match=r"drbd.device_id: 4 is already the device_id of volume x"):
        allocate_minors(drbd_services(["x", "y"], {"x": 4, "y": 4}), {})


def test_previous_allocation_round_trips_through_parse():
    result = allocate(services({"a": ["1"]}) + drbd_services(["v"]), Allocations.empty())
    assert Allocations.parse(result.as_dict(), "prev.json") == result


def test_previous_allocation_out_of_range_is_an_error():
    with pytest.raises(ConfigError, match=r"prev.json: ports.a1: 80 is invalid \(an integer in 61001..65534\)"):
        Allocations.parse({"ports": {"a1": 80}}, "prev.json")


def test_port_range_exhaustion_is_an_error():
    many = {f"s{i}": [str(i + 1)] for i in range(len(PORT_RANGE) + 1)}
    with pytest.raises(ConfigError, match="no free port left"):
        allocate_ports(services(many), {})


# -- properties ---------------------------------------------------------------------------------------------

names = st.lists(st.sampled_from([f"svc{i}" for i in range(40)]), unique=True, max_size=25)


@settings(max_examples=200, deadline=None)
@given(before=names, after=names)
def test_ports_stable_under_additions_and_removals(before, after):
    first = allocate_ports(services({n: ["8080"] for n in before}), {})
    second = allocate_ports(services({n: ["8080"] for n in after}), first)
    assert len(set(second.values())) == len(second)
    assert all(v in PORT_RANGE for v in second.values())
    for key in first.keys() & second.keys():
        assert first[key] == second[key]


@settings(max_examples=200, deadline=None)
@given(before=names, after=names, data=st.data())
def test_minors_stable_under_additions_and_removals(before, after, data):
    first = allocate_minors(drbd_services(before), {})
    # a third catalog shuffles the order too
    shuffled = data.draw(st.permutations(after))
    second = allocate_minors(drbd_services(list(shuffled)), first)
    assert len(set(second.values())) == len(second)
    assert all(v in MINOR_RANGE for v in second.values())
    for key in first.keys() & second.keys():
        assert first[key] == second[key]


@settings(max_examples=100, deadline=None)
@given(names)
def test_fresh_allocation_is_dense_from_the_bottom(chosen):
    result = allocate_ports(services({n: ["1"] for n in chosen}), {})
    assert sorted(result.values()) == list(range(61001, 61001 + len(chosen)))


def test_previous_allocation_read_back_from_the_engine_as_doubles():
    assert Allocations.parse({"ports": {"a1": 61001.0}, "drbd_minors": {"v": 3.0}}, "stack output") == Allocations(
        {"a1": 61001}, {"v": 3}
    )


# -- hive:previous_allocations (a seed, e.g. hive-builder's .hive/persistents.yml) --------------------------------


def test_a_seeded_port_keeps_its_value_on_the_first_allocation():
    seed = Allocations({"web80": 61005}, {})
    result = allocate(services({"web": ["80"], "api": ["8080"]}), Allocations.empty(), seed)
    assert result.ports == {"web80": 61005, "api8080": 61001}


def test_the_stacks_own_record_wins_over_the_seed():
    seed = Allocations({"web80": 61005, "api8080": 61001}, {})
    previous = Allocations({"web80": 61001}, {})
    result = allocate(services({"web": ["80"], "api": ["8080"]}), previous, seed)
    assert result.ports == {"web80": 61001, "api8080": 61002}


def test_a_seeded_value_stays_reserved_for_new_ports():
    """hive-builder never hands out a value its map lists, even for a service that is gone."""
    seed = Allocations({"gone9000": 61001, "web80": 61002}, {})
    result = allocate(services({"web": ["80"], "new": ["8080"]}), Allocations.empty(), seed)
    assert result.ports == {"web80": 61002, "new8080": 61003}


def test_a_seeded_minor_keeps_its_value_and_stale_minors_stay_reserved():
    seed = Allocations({}, {"b": 3, "retired": 1})
    result = allocate(drbd_services(["a", "b"]), Allocations.empty(), seed)
    assert result.drbd_minors == {"a": 2, "b": 3}


def test_stage_key_previous_allocations_reaches_the_site(make_site):
    seed = {"ports": {"web80": 61009}, "drbd_minors": {}}
    site = make_site({"web": {"image": "x", "ports": ["80"]}}, **{"hive:previous_allocations": seed})
    assert site.allocations.ports == {"web80": 61009}


def test_stage_key_previous_allocations_out_of_range(make_stage):
    with pytest.raises(ConfigError) as err:
        make_stage(**{"hive:previous_allocations": {"ports": {"web80": 53}}})
    assert str(err.value) == (
        "Pulumi.staging.yaml: hive:previous_allocations.ports.web80: 53 is invalid (an integer in 61001..65534)"
    )
