"""Service definition → docker.Service inputs, networks and image builds (components/swarm/*), without mocks."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from components.inventory.allocation import Allocations
from components.inventory.services import RestartConfig
from components.inventory.site import Site, resolve_site
from components.inventory.stage import StageConfig
from components.swarm import commands, images, networks
from components.swarm.service_spec import (
    RegistryAuth,
    ServiceRefs,
    SiteNumbers,
    is_zero_duration,
    restart_policy,
    service_inputs,
    udp_ports,
)

from .conftest import catalog_of

VXLAN = networks.VXLAN_OPTION
NETWORK_IDS = {"hive_default_network": "net-default", "front": "net-front", "back": "net-back"}
FULL: dict[str, Any] = {
    "image": "nginx:1.27",
    "command": ["nginx", "-g", "daemon off;"],
    "entrypoint": ["/docker-entrypoint.sh"],
    "environment": {"A": "1", "B": "two"},
    "dns": ["10.0.0.2", "10.0.0.3"],
    "endpoint_mode": "vip",
    "healthcheck": {
        "test": ["CMD", "curl", "-f", "http://localhost/"],
        "interval": "10s",
        "timeout": "5s",
        "retries": 3,
        "start_period": "30s",
    },
    "hosts": {"extra.example": "10.9.9.9", "s-hive0": "10.1.1.1"},
    "labels": {"tier": "web"},
    "logging": {"driver": "json-file", "options": {"max-size": "10m"}},
    "replicas": 1,  # one task: it mounts a DRBD volume (single primary)
    "networks": ["front"],
    "placement": {
        "constraints": ["node.labels.hives == true"],
        "preferences": [{"spread": "node.labels.az"}],
        "max_replicas": 1,
    },
    "restart_config": {"condition": "on-failure", "delay": "3s", "max_attempts": 5, "window": "2m"},
    "stop_grace_period": "20s",
    "user": "www-data",
    "working_dir": "/srv",
    "cap_add": ["NET_ADMIN"],
    "cap_drop": ["MKNOD"],
    "sysctls": {"net.core.somaxconn": "1024"},
    "cpu_limit": 1.5,
    "mem_limit": "512M",
    "ports": ["80:80", "8443/udp", {"target": 9000, "published": 9000, "protocol": "tcp", "mode": "host"}],
    "volumes": [
        {"source": "data", "target": "/data", "drbd": {"size": "1G"}},
        {"source": "cache", "target": "/cache", "driver": "local", "driver_opts": {"type": "tmpfs", "device": "tmpfs"}},
        {"source": "/etc/localtime", "target": "/etc/localtime", "readonly": True},
        {"target": "/scratch", "type": "tmpfs"},
        {"source": "shared", "target": "/shared"},
    ],
}
SERVERS = [
    {"host": "s-hive0.pdns", "ip": "192.168.0.10"},
    {"host": "s-hive0", "ip": "192.168.0.10"},
    {"host": "s-hive1.pdns", "ip": "192.168.0.11"},
    {"host": "s-hive1", "ip": "192.168.0.11"},
    {"host": "s-hive2.pdns", "ip": "192.168.0.12"},
    {"host": "s-hive2", "ip": "192.168.0.12"},
    {"host": "s-hive3.pdns", "ip": "192.168.0.13"},
    {"host": "s-hive3", "ip": "192.168.0.13"},
]


NETWORKS = {"front": {}, "back": {"internal": True}}


@pytest.fixture
def site_of(make_stage: Callable[..., StageConfig]) -> Callable[..., Site]:
    """``site_of(services, networks=NETWORKS, **stage)``: a resolved site (no previous allocations)."""

    def build(services: dict[str, Any], networks: dict[str, Any] | None = None, **stage: Any) -> Site:
        catalog = catalog_of(services, networks=NETWORKS if networks is None else networks)
        return resolve_site(make_stage(**stage), catalog, Allocations.empty())

    return build


@pytest.fixture
def site(site_of: Callable[..., Site]) -> Site:
    return site_of({"web": FULL, "plain": {"image": "busybox:1.36"}})


def inputs(site: Site, name: str, **refs: Any) -> Any:
    service = next(s for s in site.catalog.services if s.name == name)
    return service_inputs(
        site,
        service,
        ServiceRefs(
            image=refs.get("image", "IMAGE"),
            network_ids=NETWORK_IDS,
            numbers=SiteNumbers(site),
            registry_auth=refs.get("registry_auth"),
        ),
    )


def test_every_attribute_maps(site: Site) -> None:
    result = inputs(site, "web")
    assert result.ignore_changes == []
    assert result.kwargs == {
        "name": "web",
        "mode": {"replicated": {"replicas": 1}},
        "endpoint_spec": {
            "mode": "vip",
            "ports": [
                {"target_port": 80, "published_port": 80, "protocol": "tcp", "publish_mode": "ingress"},
                {"target_port": 8443, "published_port": 61001, "protocol": "udp", "publish_mode": "ingress"},
                {"target_port": 9000, "published_port": 9000, "protocol": "tcp", "publish_mode": "host"},
            ],
        },
        "labels": [{"label": "HIVE_STANDALONE", "value": "False"}, {"label": "tier", "value": "web"}],
        "update_config": {
            "parallelism": 1,
            "delay": "5s",
            "failure_action": "rollback",
            "monitor": "15s",
            "max_failure_ratio": "0.0",
            "order": "stop-first",
        },
        "rollback_config": {
            "parallelism": 1,
            "delay": "0s",
            "failure_action": "pause",
            "monitor": "15s",
            "max_failure_ratio": "0.0",
            "order": "stop-first",
        },
        "task_spec": {
            "container_spec": {
                "image": "IMAGE",
                "hostname": "web",
                "args": ["nginx", "-g", "daemon off;"],
                "commands": ["/docker-entrypoint.sh"],
                "env": {"A": "1", "B": "two"},
                "hosts": [
                    {"host": "s-hive0.pdns", "ip": "192.168.0.10"},
                    {"host": "s-hive0", "ip": "10.1.1.1"},
                    *SERVERS[2:],
                    {"host": "extra.example", "ip": "10.9.9.9"},
                ],
                "dns_config": {"nameservers": ["10.0.0.2", "10.0.0.3"]},
                "user": "www-data",
                "dir": "/srv",
                "stop_grace_period": "20s",
                "healthcheck": {
                    "tests": ["CMD", "curl", "-f", "http://localhost/"],
                    "interval": "10s",
                    "timeout": "5s",
                    "start_period": "30s",
                    "retries": 3,
                },
                "cap_adds": ["NET_ADMIN"],
                "cap_drops": ["MKNOD"],
                "sysctl": {"net.core.somaxconn": "1024"},
                "mounts": [
                    {
                        "type": "volume",
                        "source": "data",
                        "target": "/data",
                        "volume_options": {
                            "driver_name": "local",
                            "driver_options": {"type": "xfs", "device": "/dev/drbd1"},
                        },
                    },
                    {
                        "type": "volume",
                        "source": "cache",
                        "target": "/cache",
                        "volume_options": {
                            "driver_name": "local",
                            "driver_options": {"device": "tmpfs", "type": "tmpfs"},
                        },
                    },
                    {"type": "bind", "source": "/etc/localtime", "target": "/etc/localtime", "read_only": True},
                    {"type": "tmpfs", "target": "/scratch"},
                    {"type": "volume", "source": "shared", "target": "/shared"},
                ],
            },
            "log_driver": {"name": "json-file", "options": {"max-size": "10m"}},
            "networks_advanceds": [{"id": "net-front"}],
            "placement": {
                "constraints": ["node.labels.hives == true"],
                "prefs": ["node.labels.az"],
                "max_replicas": 1,
            },
            "restart_policy": {"condition": "on-failure", "delay": "3s", "max_attempts": 5, "window": "2m"},
            "resources": {"limits": {"nano_cpus": 1_500_000_000, "memory_bytes": 512 << 20}},
        },
    }


def test_defaults_of_a_minimal_service(site: Site) -> None:
    kwargs = inputs(site, "plain").kwargs
    assert kwargs["mode"] == {"replicated": {"replicas": 1}}
    assert "endpoint_spec" not in kwargs and "auth" not in kwargs
    assert kwargs["labels"] == [{"label": "HIVE_STANDALONE", "value": "False"}]
    task = kwargs["task_spec"]
    assert task["container_spec"] == {"image": "IMAGE", "hostname": "plain", "hosts": SERVERS}
    assert task["networks_advanceds"] == [{"id": "net-default"}, {"id": "net-front"}, {"id": "net-back"}]
    assert "restart_policy" not in task and "placement" not in task and "resources" not in task


def test_default_logging_is_syslog_to_the_repository(site: Site) -> None:
    assert inputs(site, "plain").kwargs["task_spec"]["log_driver"] == {
        "name": "syslog",
        "options": {"syslog-address": "udp://127.0.0.1:10514", "syslog-facility": "local0", "tag": "plain"},
    }


def test_services_join_every_network_unless_they_list_their_own(site_of: Callable[..., Site]) -> None:
    site = site_of({"a": {"image": "x"}, "b": {"image": "x", "networks": ["back"]}})
    assert inputs(site, "a").kwargs["task_spec"]["networks_advanceds"] == [
        {"id": "net-default"},
        {"id": "net-front"},
        {"id": "net-back"},
    ]
    assert inputs(site, "b").kwargs["task_spec"]["networks_advanceds"] == [{"id": "net-back"}]


def test_global_mode(make_site: Callable[..., Site]) -> None:
    site = make_site({"g": {"image": "x", "mode": "global"}})
    assert inputs(site, "g").kwargs["mode"] == {"global_": True}


def test_standalone(make_site: Callable[..., Site]) -> None:
    site = make_site({"s": {"image": "x", "standalone": True, "cap_add": ["SYS_ADMIN", "CHOWN"]}})
    kwargs = inputs(site, "s").kwargs
    spec = kwargs["task_spec"]["container_spec"]
    assert spec["args"] == ["sh", "-c", "mount -t cgroup2 cgroup2 /sys/fs/cgroup && exec /sbin/init"]
    assert spec["cap_adds"] == ["SYS_ADMIN", "CHOWN", "NET_ADMIN", "SYSLOG", "SYS_PTRACE", "AUDIT_CONTROL"]
    assert spec["mounts"] == [{"type": "tmpfs", "target": p} for p in ("/run", "/tmp", "/sys/fs/cgroup")]
    assert {"label": "HIVE_STANDALONE", "value": "True"} in kwargs["labels"]
    with_command = make_site({"s": {"image": "x", "standalone": True, "command": ["/sbin/init", "--log"]}})
    assert inputs(with_command, "s").kwargs["task_spec"]["container_spec"]["args"] == ["/sbin/init", "--log"]


def test_registry_auth_for_built_images(site: Site) -> None:
    auth = RegistryAuth("s-hive3.pdns:5000", "pw")
    kwargs = inputs(site, "plain", image="s-hive3.pdns:5000/image_plain@sha256:ab", registry_auth=auth).kwargs
    assert kwargs["auth"] == {"server_address": "s-hive3.pdns:5000", "username": "hive", "password": "pw"}
    assert kwargs["task_spec"]["container_spec"]["image"] == "s-hive3.pdns:5000/image_plain@sha256:ab"


@pytest.mark.parametrize(
    ("config", "policy", "ignored"),
    [
        (RestartConfig("any", "5s", None, "60s"), {"condition": "any", "delay": "5s", "window": "60s"}, []),
        (RestartConfig(None, None, None, None), {"condition": "any", "delay": "5s"}, ["taskSpec.restartPolicy.window"]),
        (
            RestartConfig("on-failure", "0s", 3, "0s"),
            {"condition": "on-failure", "max_attempts": 3},
            ["taskSpec.restartPolicy.delay", "taskSpec.restartPolicy.window"],
        ),
    ],
)
def test_restart_policy_never_sends_zero_durations(
    config: RestartConfig, policy: dict[str, Any], ignored: list[str]
) -> None:
    assert restart_policy(config) == (policy, ignored)


def test_zero_durations() -> None:
    assert all(is_zero_duration(v) for v in ("0", "0s", "0ms", "0m0s", "0.0s"))
    assert not any(is_zero_duration(v) for v in (None, "1s", "10ms", "0m1s"))


def test_sample_site_restart_config_ignores_window(make_site: Callable[..., Site]) -> None:
    site = make_site({"p": {"image": "x", "restart_config": {"condition": "any", "delay": "5s"}}})
    result = inputs(site, "p")
    assert result.kwargs["task_spec"]["restart_policy"] == {"condition": "any", "delay": "5s"}
    assert result.ignore_changes == ["taskSpec.restartPolicy.window"]


def test_udp_ports(site: Site) -> None:
    web = next(s for s in site.catalog.services if s.name == "web")
    plain = next(s for s in site.catalog.services if s.name == "plain")
    assert udp_ports(web) == [1] and udp_ports(plain) == []


# -- networks ---------------------------------------------------------------------------------------------


def test_networks(site_of: Callable[..., Site]) -> None:
    site = site_of({"a": {"image": "x"}})
    plans = {p.name: p.kwargs for p in networks.network_plans(site)}
    assert plans["hive_default_network"] == {
        "name": "hive_default_network",
        "driver": "overlay",
        "attachable": True,
        "options": {
            "com.docker.network.driver.mtu": "1450",
            VXLAN: str(networks.site_vxlan_ids(site)["hive_default_network"][0]),
        },
    }
    assert plans["back"]["internal"] is True and plans["front"]["attachable"] is True


def test_default_network_subnet_from_internal_cidr(make_site: Callable[..., Site]) -> None:
    site = make_site({}, **{"hive:internal_cidr": "10.254.0.0/16", "hive:underlay_mtu": 1460})
    plan = networks.default_network(site)
    assert plan.kwargs["ipam_configs"] == [{"subnet": "10.254.0.0/18", "gateway": "10.254.0.1"}]
    assert plan.kwargs["options"]["com.docker.network.driver.mtu"] == "1410"


def test_defined_network_ipam(site_of: Callable[..., Site]) -> None:
    nets = {
        "n": {
            "ipam": {"driver": "default", "config": [{"subnet": "10.9.0.0/24", "gateway": "10.9.0.1"}]},
            "driver_opts": {"encrypted": "true"},
        }
    }
    site = site_of({}, networks=nets)
    kwargs = networks.defined_network(site, site.catalog.networks[0]).kwargs
    assert kwargs == {
        "name": "n",
        "driver": "overlay",
        "attachable": True,
        "options": {
            "com.docker.network.driver.mtu": "1450",
            VXLAN: str(networks.site_vxlan_ids(site)["n"][0]),
            "encrypted": "true",
        },
        "ipam_configs": [{"subnet": "10.9.0.0/24", "gateway": "10.9.0.1"}],
        "ipam_driver": "default",
    }


# -- images ---------------------------------------------------------------------------------------------------

BUILDS = {
    "gen": {"image": {"from": "alpine:3.20", "env": {"X": "1"}, "command": ["sleep", "1d"]}},
    "ctx": {"image": {"context": "proxy", "dockerfile": "Dockerfile.prod", "args": {"V": "2"}, "target": "run"}},
    "pulled": {"image": {"from": "alpine:3.20", "pull_on": ["staging"], "pull_from": "alpine:3.20"}},
    "str": {"image": "redis:7"},
}


def test_image_plans_and_stage_filtering(make_site: Callable[..., Site]) -> None:
    site = make_site(BUILDS)
    plans = {p.service: p for p in images.image_plans(site)}
    assert set(plans) == {"gen", "ctx"}, "pull_on stages and string images build nothing"
    gen, ctx = plans["gen"], plans["ctx"]
    assert gen.image_name == "s-hive3.pdns:5000/image_gen:latest"
    assert gen.build_args("machine-7") == {
        "context": ".hive/build/gen",
        "dockerfile": ".hive/build/gen/Dockerfile",
        "platform": "linux/amd64",
        "args": {"HIVE_REPOSITORY_MACHINE": "machine-7"},
    }
    assert gen.generated_dockerfile == 'FROM alpine:3.20\nENV X="1"\nCMD ["sleep", "1d"]\n'
    assert ctx.build_args("machine-7") == {
        "context": "services/proxy",
        "dockerfile": "services/proxy/Dockerfile.prod",
        "platform": "linux/amd64",
        "args": {"V": "2", "HIVE_REPOSITORY_MACHINE": "machine-7"},
        "target": "run",
    }
    assert images.registry_server(site) == "s-hive3.pdns:5000"
    production = make_site(BUILDS, stack="production")
    assert {p.service for p in images.image_plans(production)} == {"gen", "ctx", "pulled"}


def test_generated_context_is_written_once(make_site: Callable[..., Site], tmp_path: Path) -> None:
    plan = next(p for p in images.image_plans(make_site(BUILDS)) if p.service == "gen")
    images.write_generated_context(tmp_path, plan)
    path = tmp_path / ".hive/build/gen/Dockerfile"
    assert path.read_text() == plan.generated_dockerfile
    mtime = path.stat().st_mtime_ns
    images.write_generated_context(tmp_path, plan)
    assert path.stat().st_mtime_ns == mtime
    assert images.missing_context(tmp_path, plan) is None


def test_missing_context(make_site: Callable[..., Site], tmp_path: Path) -> None:
    plan = next(p for p in images.image_plans(make_site(BUILDS)) if p.service == "ctx")
    assert images.missing_context(tmp_path, plan) == "service ctx: build context services/proxy/ does not exist"
    (tmp_path / "services/proxy").mkdir(parents=True)
    assert images.missing_context(tmp_path, plan) == "service ctx: services/proxy/Dockerfile.prod does not exist"


# -- command lines ----------------------------------------------------------------------------------------------


def test_script_command() -> None:
    line = commands.script_command("admin", "drbd-volume.sh", {"HIVE_VOLUME": "db", "HIVE_A": "x y"})
    assert line == "sudo env HIVE_A='x y' HIVE_VOLUME=db bash /home/admin/.hive/hostsetup/drbd-volume.sh"
    assert commands.script_command("root", "drbd-growfs.sh", {}) == "bash /root/.hive/hostsetup/drbd-growfs.sh"


def test_conntrack_command(tmp_path: Path) -> None:
    line = commands.conntrack_command("admin", [5353, 53, 53])
    assert line.startswith("for port in 53 5353; do ")
    assert "sudo conntrack -D -p udp --dport" in line
    # run it against a fake conntrack: "0 flow entries" (exit 1) is fine, any other failure is not
    fake = tmp_path / "conntrack"
    fake.write_text(
        '#!/bin/sh\nif [ "$5" = 53 ]; then echo "conntrack v1.4.8 (conntrack-tools): 0 flow entries have been'
        ' deleted." >&2; exit 1; fi\necho "conntrack v1.4.8 (conntrack-tools): 2 flow entries have been deleted."'
        " >&2\n"
    )
    fake.chmod(0o755)
    import subprocess

    root_line = commands.conntrack_command("root", [53, 5353])
    env = {"PATH": f"{tmp_path}:/usr/bin:/bin"}
    result = subprocess.run(["sh", "-c", root_line], env=env, capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
    assert "udp/5353: 2 flow entries have been deleted." in result.stdout
    fake.write_text("#!/bin/sh\necho 'conntrack: Operation not permitted' >&2; exit 1\n")
    result = subprocess.run(["sh", "-c", root_line], env=env, capture_output=True, text=True, check=False)
    assert result.returncode == 1 and "Operation not permitted" in result.stderr
