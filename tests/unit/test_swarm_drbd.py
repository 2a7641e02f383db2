"""DRBD resource files and per-hive volume steps (components/swarm/drbd_config.py), checked against a golden
file and, when drbd-utils is installed, against drbdadm's own parser as every host of the site."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from components.inventory.allocation import Allocations
from components.inventory.site import Site
from components.swarm import drbd_config

GOLDEN = Path(__file__).parent / "golden" / "drbd_three_hives_one_diskless.res"
DB = {
    "image": "mariadb:11",
    "volumes": [
        {
            "source": "db_data",
            "target": "/var/lib/mysql",
            "drbd": {"size": "1G", "diskless": ["s-hive1"], "device_id": 12},
        }
    ],
}


@pytest.fixture
def site(make_site: Callable[..., Site]) -> Site:
    return make_site({"db": DB})


def only_volume(site: Site) -> Any:
    (volume,) = drbd_config.drbd_volumes(site)
    return volume


def test_golden_three_hives_one_diskless(site: Site) -> None:
    assert [h.hostname for h in site.hives] == ["s-hive0", "s-hive1", "s-hive2"]
    assert drbd_config.render_resource(site, only_volume(site)) == GOLDEN.read_text()


def test_resource_file_content(site: Site) -> None:
    text = drbd_config.render_resource(site, only_volume(site))
    assert "quorum majority;" in text and "on-no-quorum io-error;" in text
    for option in ("c-plan-ahead 1;", "c-max-rate 1024000;", "c-fill-target 1M;", "max-buffers 16000;"):
        assert option in text
    assert "sndbuf-size 1M;" in text
    assert "address 192.168.0.10:7012;" in text and "address 192.168.0.12:7012;" in text
    assert text.count("device minor 12;") == 3 and text.count("meta-disk internal;") == 3
    assert text.count("disk /dev/drbdvg/db_data;") == 2 and text.count("disk none;") == 1
    assert "hosts s-hive0 s-hive1 s-hive2;" in text
    assert "192.168.0.13" not in text, "the separate repository server is no DRBD node"


def test_minor_and_port_come_from_the_allocation(make_site: Callable[..., Site]) -> None:
    services = {"db": {"image": "mariadb:11", "volumes": [{"source": "d", "target": "/d", "drbd": {"size": "1G"}}]}}
    site = make_site(services, previous=Allocations({}, {"d": 42}))
    text = drbd_config.render_resource(site, only_volume(site))
    assert "device minor 42;" in text and ":7042;" in text


def test_hosts_sorted_by_name_node_id_is_the_host_index(make_site: Callable[..., Site]) -> None:
    addresses = [f"192.168.0.{10 + i}" for i in range(9)]  # 8 hives (DRBD's most) and the repository
    site = make_site(
        {"db": {"image": "x", "volumes": [{"source": "d", "target": "/d", "drbd": {"size": "1G"}}]}},
        **{"hive:number_of_hosts": 9, "hive:ip_address_list": addresses},
    )
    text = drbd_config.render_resource(site, only_volume(site))
    sections = [line.split()[1] for line in text.splitlines() if line.strip().startswith("on ")]
    assert sections == sorted(h.hostname for h in site.hives)
    assert "    on s-hive7 {\n        address 192.168.0.17:7001;\n        node-id 7;" in text


def test_no_mirrored_device_hosts_are_diskless(make_site: Callable[..., Site]) -> None:
    services = {"db": {"image": "x", "volumes": [{"source": "d", "target": "/d", "drbd": {"size": "1G"}}]}}
    site = make_site(services, **{"hive:no_mirrored_device": [0]})
    volume = only_volume(site)
    assert drbd_config.format_host(site, volume).hostname == "s-hive1"
    assert "on s-hive0 {\n        address 192.168.0.10:7001;\n        node-id 0;\n        disk none;" in (
        drbd_config.render_resource(site, volume)
    )


def test_volume_steps(site: Site) -> None:
    steps = drbd_config.volume_steps(site, only_volume(site))
    assert [s.host.hostname for s in steps] == ["s-hive1", "s-hive2", "s-hive0"], "the format host runs last"
    assert [s.formats for s in steps] == [False, False, True]
    by_host = {s.host.hostname: s.env for s in steps}
    assert by_host["s-hive0"] == {
        "HIVE_VOLUME": "db_data",
        "HIVE_MINOR": "12",
        "HIVE_SIZE": str(1 << 30),
        "HIVE_FSTYPE": "xfs",
        "HIVE_VG": "drbdvg",
        "HIVE_DISKLESS": "0",
        "HIVE_FORMAT": "1",
    }
    assert by_host["s-hive1"]["HIVE_DISKLESS"] == "1" and by_host["s-hive1"]["HIVE_FORMAT"] == "0"
    assert drbd_config.growfs_env(site, only_volume(site), site.hives[0])["HIVE_FORMAT"] == "1"
    assert drbd_config.growfs_env(site, only_volume(site), site.hives[2])["HIVE_FORMAT"] == "0"


def test_local_provider_has_no_drbd_volumes(make_site: Callable[..., Site]) -> None:
    site = make_site({"db": DB}, **{"hive:provider": "local", "hive:cidr": "192.168.56.0/24"})
    assert drbd_config.drbd_volumes(site) == ()
    with pytest.raises(ValueError, match="not a DRBD volume"):
        drbd_config.render_resource(site, site.volumes[0])


# -- drbd-utils' offline parser ---------------------------------------------------------------------------

DRBDADM = shutil.which("drbdadm") or ("/usr/sbin/drbdadm" if Path("/usr/sbin/drbdadm").exists() else None)
needs_drbdadm = pytest.mark.skipif(DRBDADM is None, reason="drbd-utils is not installed (apt-get install drbd-utils)")


def drbdadm(config: Path, host: str, *args: str) -> subprocess.CompletedProcess[str]:
    assert DRBDADM is not None
    env = {**os.environ, "__DRBD_NODE__": host, "PATH": "/usr/sbin:/usr/bin:/sbin:/bin"}
    return subprocess.run(
        [DRBDADM, "-c", str(config), *args], env=env, capture_output=True, text=True, timeout=30, check=False
    )


@needs_drbdadm
@pytest.mark.parametrize("host", ["s-hive0", "s-hive1", "s-hive2"])
def test_drbdadm_parses_the_golden_file_as_every_host(host: str) -> None:
    dump = drbdadm(GOLDEN, host, "dump", "db_data")
    assert dump.returncode == 0, dump.stderr
    assert f"on {host} {{" in dump.stdout
    plan = drbdadm(GOLDEN, host, "-d", "adjust", "db_data")
    assert plan.returncode == 0, plan.stderr
    plan.stdout = re.sub(r"(?m)^\S*/(drbd\w+)", r"\1", plan.stdout)  # drbdadm names its helpers by full path
    node_id = host[-1]
    assert f"drbdsetup new-resource db_data {node_id} --quorum=majority --on-no-quorum=io-error" in plan.stdout
    peers = [line for line in plan.stdout.splitlines() if line.startswith("drbdsetup new-peer")]
    assert len(peers) == 2 and all("--max-buffers=16000" in p and "--sndbuf-size=1M" in p for p in peers)
    if host == "s-hive1":
        assert "drbdsetup new-minor db_data 12 0 --diskless" in plan.stdout
        assert "attach" not in plan.stdout
    else:
        assert "drbdsetup attach 12 /dev/drbdvg/db_data /dev/drbdvg/db_data internal" in plan.stdout


@needs_drbdadm
def test_drbdadm_rejects_a_host_outside_the_resource() -> None:
    assert drbdadm(GOLDEN, "s-hive3", "dump", "db_data").returncode != 0


@needs_drbdadm
def test_drbdadm_parses_every_rendered_file_of_a_larger_site(make_site: Callable[..., Site], tmp_path: Path) -> None:
    addresses = [f"192.168.0.{10 + i}" for i in range(6)]
    services = {
        "a": {"image": "x", "volumes": [{"source": "va", "target": "/a", "drbd": {"size": "2G", "fstype": "ext4"}}]},
        "b": {"image": "x", "volumes": [{"source": "vb", "target": "/b", "drbd": {"size": "1G"}}]},
    }
    site = make_site(services, **{"hive:number_of_hosts": 6, "hive:ip_address_list": addresses})
    for volume in drbd_config.drbd_volumes(site):
        path = tmp_path / f"{volume.name}.res"
        path.write_text(drbd_config.render_resource(site, volume))
        for host in site.hives:
            result = drbdadm(path, host.hostname, "dump", volume.name)
            assert result.returncode == 0, (host.hostname, result.stderr)
