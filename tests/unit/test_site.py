"""The resolved site: volumes, diskless hosts, the local-provider DRBD fallback, published ports."""

from __future__ import annotations

import pytest

from components.inventory.allocation import Allocations
from components.inventory.errors import ConfigError

DB = {
    "image": "mariadb",
    "ports": ["3306"],
    "volumes": [{"source": "dbdata", "target": "/var/lib/mysql", "drbd": {"size": "2G", "diskless": ["s-hive2"]}}],
}
SHARED = {"hive:separate_repository": False, "hive:ip_address_list": ["192.168.0.10", "192.168.0.11", "192.168.0.12"]}


def test_drbd_volume_gets_minor_port_and_diskless_fqdns(make_site):
    site = make_site({"db": DB}, **SHARED)
    (volume,) = site.volumes
    assert (volume.kind, volume.minor, volume.port, volume.device) == ("drbd", 1, 7001, "/dev/drbd1")
    assert volume.diskless == ("s-hive2.pdns",)


def test_hosts_without_mirrored_device_are_diskless(make_site):
    site = make_site({"db": DB}, **SHARED, **{"hive:no_mirrored_device": [1]})
    assert site.volumes[0].diskless == ("s-hive2.pdns", "s-hive1.pdns")


def test_unknown_diskless_host(make_site):
    bad = {**DB, "volumes": [{**DB["volumes"][0], "drbd": {"size": "1G", "diskless": ["s-hive9"]}}]}
    with pytest.raises(ConfigError, match=r"services.db.volumes\[0\].drbd.diskless\[0\]: s-hive9 is not a hive"):
        make_site({"db": bad}, **SHARED)


def test_every_hive_diskless_is_an_error(make_site):
    bad = {**DB, "volumes": [{**DB["volumes"][0], "drbd": {"size": "1G", "diskless": ["s-hive0", "s-hive1"]}}]}
    with pytest.raises(ConfigError, match="every hive is diskless"):
        make_site({"db": bad}, **SHARED, **{"hive:no_mirrored_device": [2]})


def test_local_provider_turns_drbd_into_local_volumes_with_a_warning(make_site):
    site = make_site({"db": DB}, **{"hive:provider": "local", "hive:separate_repository": False})
    assert site.volumes[0].kind == "local"
    assert site.warnings and "DRBD cannot run" in site.warnings[0]
    assert not site.drbd_supported


def test_a_volume_mounted_by_two_services_is_defined_once(make_site):
    reader = {"image": "x", "volumes": [{"source": "dbdata", "target": "/backup", "readonly": True}]}
    site = make_site({"db": DB, "backup": reader}, **SHARED)
    assert [v.name for v in site.volumes] == ["dbdata"]


def test_conflicting_volume_definitions(make_site):
    other = {"image": "x", "volumes": [{"source": "dbdata", "target": "/d", "driver": "local"}]}
    with pytest.raises(ConfigError, match="volume dbdata is defined differently by service db"):
        make_site({"db": DB, "other": other}, **SHARED)


def test_services_of_other_stages_are_left_out(make_site):
    site = make_site({"db": DB, "prod_only": {"image": "x", "available_on": ["production"]}}, **SHARED)
    assert [s.name for s in site.catalog.services] == ["db"]


def test_published_port_uses_the_allocation(make_site):
    site = make_site({"db": DB}, previous=Allocations({"db3306": 62000}, {"dbdata": 9}), **SHARED)
    assert site.published_port(site.catalog.services[0], 0) == 62000
    assert site.volumes[0].minor == 9


def test_inventory_document_shape(make_site):
    doc = make_site({"db": DB}, **SHARED).to_json()
    assert doc["stage"] == "staging" and doc["name"] == "pdns"
    assert {k: doc["hosts"][2][k] for k in ("name", "role", "index", "is_hive", "first_hive")} == {
        "name": "s-hive2.pdns",
        "role": "repository",
        "index": 2,
        "is_hive": True,
        "first_hive": False,
    }
    assert doc["services"][0]["ports"] == [{"published": 61001, "target": 3306, "protocol": "tcp", "mode": "ingress"}]
    assert doc["volumes"][0]["drbd"] == {
        "minor": 1,
        "port": 7001,
        "device": "/dev/drbd1",
        "fstype": "xfs",
        "size": "2G",
        "diskless": ["s-hive2.pdns"],
    }
    assert doc["allocations"] == {"ports": {"db3306": 61001}, "drbd_minors": {"dbdata": 1}}
