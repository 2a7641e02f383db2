"""hive-metrics' DRBD part: its jq program (read out of hostsetup/hive-metrics, unchanged) on the JSON
``drbdsetup status --json`` prints. No DRBD kernel module here, so the JSON is composed field by field from
LINBIT/drbd-utils user/v9/drbdsetup.c (commit b4b2f5b9: ``resource_status_json``, ``device_status_json``,
``connection_status_json``, ``peer_device_status_json``): a resource with two peers, one syncing, one
StandAlone without peer devices, and an intentional diskless client."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "hostsetup" / "hive-metrics"
STATUS = [
    {"name": "pdnsdb", "node-id": 1, "role": "Secondary", "suspended": False, "suspended-user": False,
     "suspended-no-data": False, "suspended-fencing": False, "suspended-quorum": False, "force-io-failures": False,
     "write-ordering": "flush",
     "devices": [{"volume": 0, "minor": 1, "disk-state": "Outdated", "client": False, "open": False,
                  "quorum": True, "size": 1048576}],
     "connections": [
         {"peer-node-id": 0, "name": "s-hive0.pdns", "connection-state": "Connected", "congested": False,
          "peer-role": "Primary", "tls": False,
          "peer_devices": [{"volume": 0, "replication-state": "SyncTarget", "peer-disk-state": "UpToDate",
                            "peer-client": False, "resync-suspended": "no", "percent-in-sync": 42.0}]},
         {"peer-node-id": 2, "name": "s-hive2.pdns", "connection-state": "StandAlone", "congested": False,
          "peer-role": "Unknown", "tls": False, "peer_devices": []},
     ]},
    {"name": "ldap", "node-id": 1, "role": "Secondary", "suspended": False, "write-ordering": "flush",
     "devices": [{"volume": 0, "minor": 2, "disk-state": "Diskless", "client": True, "open": False, "quorum": True}],
     "connections": []},
]  # fmt: skip


def drbd_program() -> str:
    text = SCRIPT.read_text()
    match = re.search(r"""jq -r --argjson configured "\$configured" '(.*?)' <<<"\$json\"""", text, re.DOTALL)
    assert match, "hive-metrics' DRBD jq program not found"
    return match[1]


@pytest.fixture(scope="module")
def metrics() -> list[str]:
    if shutil.which("jq") is None:
        pytest.skip("jq missing (apt-get install jq; .ci/run does)")
    done = subprocess.run(
        ["jq", "-r", "--argjson", "configured", json.dumps(["pdnsdb", "ldap", "www"]), drbd_program()],
        input=json.dumps(STATUS), capture_output=True, text=True, check=True,
    )  # fmt: skip
    return done.stdout.splitlines()


def test_each_local_disk_is_one_series_with_its_state_and_client_flag(metrics) -> None:
    assert 'hive_drbd_disk_state{resource="pdnsdb",volume="0",disk_state="Outdated",client="false"} 1' in metrics
    assert 'hive_drbd_disk_state{resource="ldap",volume="0",disk_state="Diskless",client="true"} 1' in metrics


def test_each_peer_device_is_one_series(metrics) -> None:
    assert (
        'hive_drbd_peer_state{resource="pdnsdb",volume="0",peer="s-hive0.pdns",connection="Connected",'
        'replication="SyncTarget",peer_disk_state="UpToDate",peer_client="false"} 1'
    ) in metrics


def test_a_peer_without_peer_devices_still_shows_its_connection(metrics) -> None:
    assert (
        'hive_drbd_peer_state{resource="pdnsdb",volume="",peer="s-hive2.pdns",connection="StandAlone",'
        'replication="Off",peer_disk_state="DUnknown",peer_client="false"} 1'
    ) in metrics


def test_a_configured_resource_that_is_not_up_is_down(metrics) -> None:
    assert 'hive_drbd_disk_state{resource="www",volume="",disk_state="Down",client="false"} 1' in metrics
    assert len(metrics) == 5
