"""The doctor's parsers, pinned on real tool outputs (tests/unit/captured/README.md says how each was made)."""

from __future__ import annotations

from pathlib import Path

import pytest

from components.doctor.parse_drbd import parse_drbd_status
from components.doctor.parse_net import parse_conntrack_udp, parse_overlay_mtus, parse_underlay_mtu
from components.doctor.parse_swarm import parse_age, parse_alerts, parse_nodes, parse_services, parse_tasks
from components.doctor.parse_system import parse_df, parse_du, parse_failed_units, parse_ntp_synchronized
from components.doctor.sections import split_sections

CAPTURED = Path(__file__).with_name("captured")


def captured(name: str) -> str:
    return (CAPTURED / name).read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def lab() -> dict:
    return split_sections(captured("collect-p-hive0.txt"))


@pytest.fixture(scope="module")
def sick() -> dict:
    return split_sections(captured("collect-p-hive0-sick.txt"))


def test_sections_are_split_with_their_exit_status(lab) -> None:
    assert list(lab) == ["timesync", "df", "failed", "drbd", "underlay-mtu", "overlay-mtu", "conntrack-udp", "nodes",
                         "services", "tasks", "registry", "alerts"]  # fmt: skip
    assert lab["registry"].rc == 7 and lab["df"].rc == 0


def test_df_reads_every_mount_with_bytes(lab) -> None:
    by_mount = {fs.mountpoint: fs for fs in parse_df(lab["df"].text)}
    assert by_mount["/tmp"].fstype == "tmpfs"
    assert by_mount["/tmp"].size == 12638031872
    assert by_mount["/etc/hosts"].device == "/dev/vda"


def test_df_watch_policy_skips_container_layers_and_system_tmpfs(lab) -> None:
    watched = {fs.mountpoint for fs in parse_df(lab["df"].text) if fs.watched}
    assert watched == {"/tmp", "/etc/hosts"}


def test_df_used_percent_matches_dfs_capacity_column(sick) -> None:
    fill = next(fs for fs in parse_df(sick["df"].text) if fs.mountpoint == "/srv/fill")
    assert round(fill.used_percent) == 93 and fill.limit == 80


def test_failed_units_are_read_from_systemctl_plain(lab) -> None:
    units = parse_failed_units(lab["failed"].text)
    assert [(u.name, u.description) for u in units] == [("hive-broken.service", "fails on purpose")]


def test_no_failed_units_is_an_empty_list() -> None:
    assert parse_failed_units("") == []


def test_timedatectl_no_is_not_synchronised(lab) -> None:
    assert parse_ntp_synchronized(lab["timesync"].text) is False


def test_du_is_sorted_biggest_first() -> None:
    assert parse_du(captured("du-srv-fill.txt")) == [
        (9744384, "/srv/fill"), (9437184, "/srv/fill/blob"), (307200, "/srv/fill/sub")]  # fmt: skip


def test_drbd_all_outdated_from_the_runbook() -> None:
    [res] = parse_drbd_status(captured("drbd-runbook-all-outdated.txt"))
    assert (res.name, res.role, res.devices[0].disk) == ("pdnsdb", "Secondary", "Outdated")
    assert [(c.name, c.connection, c.peer_devices[0].peer_disk) for c in res.connections] == [
        ("s-hive1.pdns", "Connected", "Outdated"),
        ("s-hive2.pdns", "Connected", "Outdated"),
    ]


def test_drbd_peer_resync_state_from_the_runbook() -> None:
    [res] = parse_drbd_status(captured("drbd-runbook-hive1-syncing.txt"))
    peer = res.connections[0].peer_devices[0]
    assert (res.connections[0].name, peer.replication, peer.peer_disk) == ("s-hive0.pdns", "WFBitMapS", "Consistent")
    assert res.connections[1].peer_devices[0].replication == "Established"


def test_drbd_volumes_standalone_client_and_missing_resource() -> None:
    ldap, pdnsdb, www = parse_drbd_status(captured("drbd-drbdsetup-composed.txt"))
    assert [(d.volume, d.disk, d.open) for d in ldap.devices] == [(0, "UpToDate", "yes"), (1, "UpToDate", "yes")]
    syncing = ldap.connections[0].peer_devices[1]
    assert (syncing.volume, syncing.replication, syncing.peer_disk, syncing.done) == (
        1, "SyncSource", "Inconsistent", "42.17")  # fmt: skip
    assert (ldap.connections[1].connection, ldap.connections[1].peer_devices) == ("StandAlone", [])
    assert (pdnsdb.devices[0].disk, pdnsdb.devices[0].client) == ("Diskless", True)
    assert (www.name, www.error) == ("www", "No such resource")


def test_nodes_from_docker_node_ls_json(lab) -> None:
    [node] = parse_nodes(lab["nodes"].text)
    assert (node.hostname, node.status, node.availability, node.manager_status) == (
        "p-hive0", "Ready", "Active", "Leader")  # fmt: skip


def test_services_replicas_running_and_desired(lab) -> None:
    services = {s.name: (s.mode, s.running, s.desired) for s in parse_services(lab["services"].text)}
    assert services["pinned"] == ("replicated", 0, 1)
    assert services["web"] == ("replicated", 2, 2)
    assert services["agent"] == ("global", 1, 1)


def test_tasks_keep_history_state_age_and_error(lab) -> None:
    crashing = [t for t in parse_tasks(lab["tasks"].text) if t.service == "crashing"]
    assert [(t.desired_state, t.state) for t in crashing] == [("Ready", "Ready")] + [("Shutdown", "Failed")] * 4
    assert [t.ended_badly for t in crashing] == [False, True, True, True, True]
    assert crashing[2].error == "task: non-zero exit (3)"
    assert [t.age_seconds for t in crashing] == [0.0, 1.0, 7.0, 12.0, 17.0]


def test_pending_task_says_why(lab) -> None:
    [pinned] = [t for t in parse_tasks(lab["tasks"].text) if t.service == "pinned"]
    assert (pinned.state, pinned.node) == ("Pending", "")
    assert pinned.error.startswith("no suitable node")


def test_host_mode_udp_ports_come_from_the_tasks(lab) -> None:
    ports = {t.service: t.udp_ports for t in parse_tasks(lab["tasks"].text) if t.udp_ports}
    assert ports == {"udp": (20514,), "udplate": (20516,)}


@pytest.mark.parametrize(
    ("state", "seconds"),
    [("Running About a minute ago", 60), ("Failed 3 hours ago", 10800), ("Running About an hour ago", 3600),
     ("Shutdown 2 days ago", 172800), ("Running less than a second ago", 0), ("Running yesterday", None)],
)  # fmt: skip
def test_docker_human_durations(state: str, seconds: float | None) -> None:
    assert parse_age(state) == seconds


def test_mtus_of_the_underlay_and_every_overlay(lab) -> None:
    assert parse_underlay_mtu(lab["underlay-mtu"].text) == ("eth0", 1500)
    assert parse_overlay_mtus(lab["overlay-mtu"].text) == {"hive_default_network": 1450, "ingress": 1500, "wide": 1500}


def test_conntrack_tells_translated_from_untranslated_flows() -> None:
    flows = {f.sport: f for f in parse_conntrack_udp(captured("conntrack-udp.txt")) if f.dport != 53}
    assert flows[40005].dport == 20514 and flows[40005].reply_src == "172.17.0.3" and not flows[40005].not_translated
    assert flows[40004].dport == 20517 and flows[40004].not_translated


def test_conntrack_reads_the_faq_sample_of_conntrack_1_4_4() -> None:
    faq = ("udp      17 26 src=192.168.56.1 dst=192.168.56.4 sport=64953 dport=20514 [UNREPLIED] src=192.168.56.4 "
           "dst=192.168.56.1 sport=20514 dport=64953 mark=0 secctx=system_u:object_r:unlabeled_t:s0 use=1")  # fmt: skip
    [flow] = parse_conntrack_udp(faq)
    assert (flow.dport, flow.not_translated) == (20514, True)


def test_alertmanager_v2_alerts(sick) -> None:
    [alert] = parse_alerts(sick["alerts"].text)
    assert alert["labels"]["alertname"] == "HostServiceFailed"
    assert alert["annotations"]["runbook"] == "monitoring/runbook.md#host-service-failed"
