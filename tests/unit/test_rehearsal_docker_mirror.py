"""The rehearsal's docker layer maps inputs exactly as the provider does (tests/rehearsal/swarm_apply.py) — the
pure mappings, without a daemon."""

from __future__ import annotations

import pytest

from tests.provider_schema.constraints import replacing_paths
from tests.rehearsal.swarm_apply import NETWORK, ProviderRefused, network_state, service_spec

BASE = {"name": "w", "taskSpec": {"containerSpec": {"image": "x"}}, "mode": {"replicated": {"replicas": 3}}}


def spec_with(**task: object) -> dict:
    return service_spec("w", {**BASE, "taskSpec": {**BASE["taskSpec"], **task}})


def test_placement_preferences_are_sent_verbatim() -> None:
    # stringSetToPlacementPrefs: no parsing; a "spread=" prefix would reach swarm as part of the descriptor
    placement = spec_with(placement={"prefs": ["node.labels.az", "spread=node.labels.az"]})["TaskTemplate"]["Placement"]
    assert placement["Preferences"] == [
        {"Spread": {"SpreadDescriptor": "node.labels.az"}},
        {"Spread": {"SpreadDescriptor": "spread=node.labels.az"}},
    ]


def test_restart_policy_sends_zero_values_for_what_is_left_out() -> None:
    policy = spec_with(restartPolicy={"condition": "any"})["TaskTemplate"]["RestartPolicy"]
    assert policy == {"Condition": "any", "Delay": 0, "MaxAttempts": 0, "Window": 0}


def test_hosts_are_ip_then_name() -> None:
    container = spec_with(containerSpec={"image": "x", "hosts": [{"host": "db", "ip": "10.0.0.5"}]})
    assert container["TaskTemplate"]["ContainerSpec"]["Hosts"] == ["10.0.0.5 db"]


def test_volume_driver_has_no_default_name() -> None:
    mount = {"type": "volume", "target": "/d", "source": "v", "volumeOptions": {"driverOptions": {"type": "xfs"}}}
    (out,) = spec_with(containerSpec={"image": "x", "mounts": [mount]})["TaskTemplate"]["ContainerSpec"]["Mounts"]
    assert out["VolumeOptions"]["DriverConfig"] == {"Name": "", "Options": {"type": "xfs"}}


INSPECT = {
    "Name": "front",
    "Driver": "overlay",
    "Scope": "swarm",
    "Internal": False,
    "Attachable": True,
    "Ingress": False,
    "EnableIPv6": False,
    "IPAM": {"Driver": "default", "Options": None, "Config": [{"Subnet": "10.9.0.0/24", "Gateway": "10.9.0.1"}]},
    "Options": {"com.docker.network.driver.mtu": "1450", "com.docker.network.driver.overlay.vxlanid_list": "4097"},
    "Labels": {},
}


def test_network_state_is_what_the_read_sets() -> None:
    state = network_state(INSPECT)
    assert state["options"] == INSPECT["Options"]
    assert state["ipamConfigs"] == [{"subnet": "10.9.0.0/24", "gateway": "10.9.0.1"}]
    assert state["scope"] == "swarm" and state["ipamDriver"] == "default"


def test_a_network_without_its_vni_is_replaced_on_the_next_up() -> None:
    ipam = [{"subnet": "10.9.0.0/24", "gateway": "10.9.0.1"}]
    config = {"name": "front", "driver": "overlay", "attachable": True, "ipamConfigs": ipam}
    mtu_only = {**config, "options": {"com.docker.network.driver.mtu": "1450"}}
    assert replacing_paths(NETWORK, mtu_only, network_state(INSPECT)) == ["options"]
    with_vni = {**config, "options": INSPECT["Options"]}
    assert replacing_paths(NETWORK, with_vni, network_state(INSPECT)) == []


def test_a_subnet_without_its_gateway_is_replaced_on_the_next_up() -> None:
    # ipam_config is a ForceNew set: {subnet} configured vs {subnet, gateway} read back is another element
    config = {"name": "front", "driver": "overlay", "attachable": True, "options": INSPECT["Options"]}
    no_gateway = {**config, "ipamConfigs": [{"subnet": "10.9.0.0/24"}]}
    assert replacing_paths(NETWORK, no_gateway, network_state(INSPECT)) == ["ipam_config.0.gateway"]


def test_update_config_fills_the_schema_defaults_of_a_present_block() -> None:
    # kreuzwerker update_config: every attribute has a schema Default; createUpdateOrRollbackConfig sends them all
    spec = service_spec("w", {**BASE, "updateConfig": {"failureAction": "rollback"}})
    assert spec["UpdateConfig"] == {
        "Parallelism": 1,
        "Delay": 0,
        "FailureAction": "rollback",
        "Monitor": 5_000_000_000,
        "MaxFailureRatio": 0.0,
        "Order": "stop-first",
    }
    assert "RollbackConfig" not in spec, "no block, nothing sent (d.GetOk)"


def test_the_programs_policy_reaches_swarm_as_given() -> None:
    policy = {
        "parallelism": 1, "delay": "5s", "failureAction": "rollback", "monitor": "15s", "maxFailureRatio": "0.0",
        "order": "start-first",
    }  # fmt: skip
    spec = service_spec("w", {**BASE, "updateConfig": policy, "rollbackConfig": {**policy, "failureAction": "pause"}})
    assert spec["UpdateConfig"]["Monitor"] == 15_000_000_000 and spec["UpdateConfig"]["Order"] == "start-first"
    assert spec["RollbackConfig"]["FailureAction"] == "pause" and spec["RollbackConfig"]["Delay"] == 5_000_000_000


def test_rollback_config_refuses_rollback_as_its_failure_action() -> None:
    # rollback_config.failure_action: validateStringMatchesPattern("(pause|continue)")
    with pytest.raises(ProviderRefused, match="failureAction"):
        service_spec("w", {**BASE, "rollbackConfig": {"failureAction": "rollback"}})
