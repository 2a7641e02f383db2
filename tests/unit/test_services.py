"""The hive_services catalog: every attribute accepted and validated, stages, ports, images, volumes."""

from __future__ import annotations

import pytest

from components.inventory.errors import ConfigError
from components.inventory.services import ImageBuild, Port, parse_catalog, registry_tag
from tests.unit.conftest import catalog_of

FULL_SERVICE = {
    "image": "nginx:1.27",
    "available_on": ["staging", "production"],
    "backup_scripts": [{"name": "db", "directory": "/var/lib/db", "cleanup_days_before": 7}],
    "cap_add": ["NET_ADMIN"],
    "cap_drop": ["MKNOD"],
    "command": ["--port", "80"],
    "cpu_limit": 1.5,
    "dns": ["10.0.0.2"],
    "endpoint_mode": "vip",
    "entrypoint": "/docker-entrypoint.sh nginx",
    "environment": {"A": 1, "B": True, "C": "x"},
    "healthcheck": {"test": ["CMD", "true"], "interval": "10s", "timeout": 3, "retries": 2, "start_period": "5s"},
    "hosts": {"db.example": "10.0.0.9"},
    "ignore_error": ["harmless"],
    "initialize": {"command": "nginx -t"},
    "labels": {"published_fqdn": "www.example.com"},
    "logging": {"driver": "json-file", "options": {"max-size": "10m"}},
    "mem_limit": "512M",
    "mode": "replicated",
    "monitor_error": ["ERROR .*"],
    "networks": ["hive_default_network", "front"],
    "placement": {
        "constraints": ["node.labels.az == a"],
        "preferences": [{"spread": "node.labels.az"}, "spread=engine.labels.rack"],
        "max_replicas": 1,
    },
    "ports": ["80:80", "8443/tcp", {"target": 53, "published": 53, "protocol": "udp", "mode": "host"}],
    "replicas": 1,
    "restart_config": {"condition": "on-failure", "delay": "5s", "max_attempts": 3, "window": "60s"},
    "standalone": False,
    "stop_grace_period": "20s",
    "sysctls": {"net.core.somaxconn": 1024},
    "user": "101:101",
    "volumes": [
        {"source": "data", "target": "/data", "drbd": {"size": "1G", "fstype": "ext4", "diskless": ["s-hive2"]}},
        {"source": "/etc/localtime", "target": "/etc/localtime", "readonly": True},
        {"target": "/cache", "type": "tmpfs"},
    ],
    "working_dir": "/srv",
}


def test_every_reference_attribute_is_accepted_and_typed():
    service = catalog_of({"web": FULL_SERVICE}, networks={"front": {}}).services[0]
    assert service.command == ("--port", "80")
    assert service.entrypoint == ("/docker-entrypoint.sh", "nginx")
    assert service.environment == {"A": "1", "B": "true", "C": "x"}
    assert service.healthcheck is not None and service.healthcheck.timeout == "3s"
    assert service.mem_limit == 512 << 20
    assert service.placement is not None and service.placement.preferences == ("node.labels.az", "engine.labels.rack")
    assert service.ports == (
        Port(80, "tcp", "ingress", 80),
        Port(8443, "tcp", "ingress", None),
        Port(53, "udp", "host", 53),
    )
    assert [m.type for m in service.volumes] == ["volume", "bind", "tmpfs"]
    assert service.volumes[0].drbd is not None and service.volumes[0].drbd.size_bytes == 1 << 30
    assert service.sysctls == {"net.core.somaxconn": "1024"}
    assert service.backup_scripts[0]["cleanup_days_before"] == 7


def test_files_in_name_order_services_in_file_order():
    docs = [
        ("services/a.yml", {"plugin": "hive_services", "services": {"zeta": {"image": "x"}, "alpha": {"image": "y"}}}),
        ("services/b.yml", {"plugin": "hive_services", "services": {"mid": {"image": "z"}}}),
    ]
    assert [s.name for s in parse_catalog(docs).services] == ["zeta", "alpha", "mid"]


def test_available_on_filters_by_stage_with_file_default():
    catalog = catalog_of(
        {"a": {"image": "x"}, "b": {"image": "x", "available_on": ["production"]}},
        available_on=["staging", "production"],
    )
    assert [s.name for s in catalog.for_stage("staging").services] == ["a"]
    assert [s.name for s in catalog.for_stage("production").services] == ["a", "b"]
    assert catalog.for_stage("private").services == ()


def test_image_build_from_generates_a_dockerfile():
    image = (
        catalog_of(
            {
                "web": {
                    "image": {
                        "from": "debian:trixie",
                        "env": {"LANG": "C.UTF-8"},
                        "entrypoint": ["/init"],
                        "command": ["serve"],
                        "user": "www",
                        "working_dir": "/srv",
                        "stop_signal": "SIGQUIT",
                    }
                }
            }
        )
        .services[0]
        .image
    )
    assert isinstance(image, ImageBuild)
    assert image.generated_dockerfile() == (
        'FROM debian:trixie\nENV LANG="C.UTF-8"\nUSER www\nWORKDIR /srv\nSTOPSIGNAL SIGQUIT\n'
        'ENTRYPOINT ["/init"]\nCMD ["serve"]\n'
    )


def test_image_context_build_has_no_generated_dockerfile():
    image = catalog_of({"web": {"image": {"context": "web", "dockerfile": "Dockerfile.prod"}}}).services[0].image
    assert isinstance(image, ImageBuild) and image.generated_dockerfile() is None


def test_pull_on_swaps_in_the_external_image():
    service = catalog_of(
        {"web": {"image": {"from": "debian:trixie", "pull_on": ["private"], "pull_from": "nginx:1.27"}}}
    ).services[0]
    assert service.image_reference("private", "p-hive2.pdns") == "nginx:1.27"
    assert not service.builds_image("private")
    assert service.image_reference("staging", "s-hive2.pdns") == "s-hive2.pdns:5000/image_web"
    assert service.builds_image("staging")


def test_registry_tag():
    assert registry_tag("s-hive3.pdns", "powerdns") == "s-hive3.pdns:5000/image_powerdns"


def test_port_short_syntax_defaults():
    service = catalog_of({"dns": {"image": "x", "ports": ["53/udp", 8081, "10053:53"]}}).services[0]
    assert service.ports == (
        Port(53, "udp", "ingress", None),
        Port(8081, "tcp", "ingress", None),
        Port(53, "tcp", "ingress", 10053),
    )


BAD_SERVICES = [
    ({"web": {"image": "x", "replica": 2}}, "services.web.replica: unknown key"),
    ({"web": {"image": "x", "ports": ["80:80/icmp"]}}, "services.web.ports[0]: 80:80/icmp is invalid"),
    ({"web": {"image": "x", "ports": ["eighty"]}}, "services.web.ports[0]: eighty is invalid"),
    ({"web": {"image": "x", "ports": ["70000:80"]}}, "services.web.ports[0]: 70000:80 is invalid (port numbers"),
    ({"web": {"image": "x", "ports": [{"target": 80, "protocol": "icmp"}]}}, "services.web.ports[0].protocol"),
    (
        {
            "web": {
                "image": "x",
                "volumes": [{"source": "d", "target": "/d", "drbd": {"size": "1G"}, "driver": "local"}],
            }
        },
        "services.web.volumes[0].driver: is set together with drbd",
    ),
    (
        {"web": {"image": "x", "volumes": [{"source": "d", "target": "/d", "drbd": {"size": "lots"}}]}},
        "services.web.volumes[0].drbd.size: lots is invalid (a size like 512M",
    ),
    ({"web": {"image": "x", "mem_limit": "1Q"}}, "services.web.mem_limit: 1Q is invalid"),
    (
        {"web": {"image": {"from": "debian", "pull_from": "nginx"}}},
        "services.web.image.pull_from: is set without pull_on",
    ),
    ({"web": {"image": {"from": "a", "context": "b"}}}, "services.web.image: needs exactly one of 'from'"),
    ({"web": {"image": {"from": "a", "roles": ["x"]}}}, "services.web.image.roles: Ansible roles cannot run here"),
    ({"web": {"image": "x", "mode": "daemon"}}, "services.web.mode: daemon is invalid (allowed: replicated, global)"),
    ({"web": {"image": "x", "mode": "global", "replicas": 2}}, "services.web.replicas: is set for a global service"),
    ({"web": {"image": "x", "available_on": ["qa"]}}, "services.web.available_on[0]: qa is invalid"),
    ({"web": {"image": "x", "networks": ["nowhere"]}}, "services.web.networks[0]: network nowhere is not defined"),
    ({"hive-web": {"image": "x"}}, "services.hive-web: name 'hive-web' is reserved"),
    ({"web": {}}, "services.web.image: is required"),
    ({"web": {"image": "x", "stop_grace_period": "soon"}}, "services.web.stop_grace_period: soon is invalid"),
    ({"web": {"image": "x", "volumes": [{"source": "d", "target": "/d", "nfs": {}}]}}, "NFS volumes are not supported"),
    ({"web": {"image": "x", "volumes": [{"source": "rel/path", "target": "/d", "type": "bind"}]}}, "an absolute host"),
]


@pytest.mark.parametrize(("services", "message"), BAD_SERVICES)
def test_bad_service(services, message):
    with pytest.raises(ConfigError) as err:
        catalog_of(services)
    assert str(err.value).startswith("services/site.yml: ")
    assert message in str(err.value)


def test_plugin_must_be_hive_services():
    with pytest.raises(ConfigError, match=r"services/x.yml: plugin: hive_inventory is invalid \(hive_services\)"):
        parse_catalog([("services/x.yml", {"plugin": "hive_inventory", "services": {}})])


def test_unknown_top_level_key():
    with pytest.raises(ConfigError, match=r"services/x.yml: service: unknown key"):
        parse_catalog([("services/x.yml", {"plugin": "hive_services", "service": {}})])


def test_duplicate_service_across_files():
    docs = [
        ("services/a.yml", {"plugin": "hive_services", "services": {"web": {"image": "x"}}}),
        ("services/b.yml", {"plugin": "hive_services", "services": {"web": {"image": "y"}}}),
    ]
    with pytest.raises(
        ConfigError, match=r"services/b.yml: services.web: service web is also defined in services/a.yml"
    ):
        parse_catalog(docs)


def test_network_definition():
    catalog = catalog_of(
        {"web": {"image": "x", "networks": ["front"]}},
        networks={"front": {"driver": "overlay", "ipam": {"config": [{"subnet": "10.10.0.0/24"}]}, "internal": True}},
    )
    front = catalog.networks[0]
    assert (front.name, front.subnets, front.attachable, front.internal) == (
        "front",
        ({"subnet": "10.10.0.0/24"},),
        True,
        True,
    )


def test_network_driver_must_be_overlay():
    with pytest.raises(ConfigError, match=r"networks.front.driver: bridge is invalid"):
        catalog_of({}, networks={"front": {"driver": "bridge"}})
