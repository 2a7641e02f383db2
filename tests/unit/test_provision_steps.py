"""The host step catalogue (components/provision/steps.py): which steps, where, in which order, with what."""

from __future__ import annotations

import ipaddress
import re
import shlex
from pathlib import Path

import pytest

from components.provision import steps
from components.provision.steps import Stdin, StepRef, host_steps, render_command, site_steps

ROOT = Path(__file__).resolve().parents[2]
HOSTSETUP = ROOT / "hostsetup"
FOUR = ["192.168.0.10", "192.168.0.11", "192.168.0.12", "192.168.0.13"]
THREE = FOUR[:3]
SHARED = {"hive:separate_repository": False, "hive:ip_address_list": THREE}
COMMON = ["wait-ready", "packages", "base", "firewall", "monitoring-node", "docker"]
REPOSITORY = ["registry", "log-collector", "monitoring-errors", "monitoring-server"]


def names(site, index):
    return [s.name for s in host_steps(site, site.hosts[index])]


def spec(site, index, name):
    (found,) = [s for s in host_steps(site, site.hosts[index]) if s.name == name]
    return found


def test_steps_per_host_with_a_separate_repository(make_site):
    site = make_site()
    assert names(site, 0) == [*COMMON, "log-relay", "swarm-init", "swarm-join", "node-labels", "registry-login"]
    assert names(site, 1) == [*COMMON, "log-relay", "swarm-join", "node-labels", "registry-login"]
    assert names(site, 2) == [*COMMON, "log-relay", "swarm-join", "node-labels", "registry-login"]
    # the repository is no swarm member: no init/join/labels
    assert names(site, 3) == [*COMMON, *REPOSITORY, "registry-login"]


def test_repository_that_is_a_hive_joins_the_swarm(make_site):
    site = make_site(**SHARED)
    assert names(site, 2) == [
        *COMMON,
        "registry",
        "log-collector",
        "swarm-join",
        "node-labels",
        "monitoring-errors",
        "monitoring-server",
        "registry-login",
    ]
    assert spec(site, 2, "node-labels").env["HIVE_NODE_LABELS"] == "servers=true hives=true repository=true"


def test_first_hive_elsewhere(make_site):
    site = make_site(**{"hive:first_hive": 1})
    assert "swarm-init" in names(site, 1)
    assert "swarm-join" in names(site, 0)
    join = spec(site, 0, "swarm-join")
    assert join.env["HIVE_MANAGER_ADDRS"] == "192.168.0.11:2377 192.168.0.12:2377"
    assert join.after == (StepRef("s-hive1.pdns", "swarm-init"),)
    # the first hive joins too when replaced: through its peers
    assert spec(site, 1, "swarm-join").env["HIVE_MANAGER_ADDRS"] == "192.168.0.10:2377 192.168.0.12:2377"


def waits(site, index):
    return {s.name: set(s.depends_on) for s in host_steps(site, site.hosts[index])}


def test_steps_wait_only_for_what_they_need_on_their_host(make_site):
    site = make_site()
    common = {
        "wait-ready": set(),
        "packages": {"wait-ready"},
        "base": {"packages"},
        "firewall": {"packages"},
        "monitoring-node": {"packages"},
        "docker": {"packages", "base", "monitoring-node"},
        "registry-login": {"base", "docker"},
    }
    assert waits(site, 0) == {
        **common,
        "log-relay": {"packages"},
        "swarm-init": {"docker", "firewall"},
        "swarm-join": {"docker", "firewall", "swarm-init"},
        "node-labels": {"swarm-init", "swarm-join"},
    }
    assert waits(site, 1) == {
        **common,
        "log-relay": {"packages"},
        "swarm-join": {"docker", "firewall"},
        "node-labels": {"swarm-join"},
    }
    # the repository: log-collector is on nobody's path; its own registry-login waits for its registry only
    assert waits(site, 3) == {
        **common,
        "registry": {"docker"},
        "log-collector": {"packages"},
        "monitoring-errors": {"packages", "log-collector"},
        "monitoring-server": {"packages"},
        "registry-login": {"base", "docker", "registry"},
    }


def test_every_step_but_the_first_two_waits_for_the_package_step(make_site):
    site = make_site(**SHARED)

    def before(graph, step):
        seen, todo = set(), [step]
        while todo:
            for need in graph[todo.pop()] - seen:
                seen.add(need)
                todo.append(need)
        return seen

    for host in site.hosts:
        graph = {s.name: set(s.depends_on) for s in host_steps(site, host)}
        assert all("packages" in before(graph, step) for step in graph if step not in ("wait-ready", "packages"))


def test_the_package_step_installs_what_the_hosts_steps_install(make_site):
    site = make_site()
    hive, repository = spec(site, 0, "packages"), spec(site, 3, "packages")
    hive_packages = hive.env["HIVE_PACKAGES"].split()
    assert hive_packages == list(dict.fromkeys(hive_packages)), "each package once"
    assert set(hive_packages) == {p for d in steps.CATALOGUE if d.runs_on(site, site.hosts[0]) for p in d.packages}
    assert {"docker.io", "docker-cli", "chrony@time_client", "apparmor@apparmor"} <= set(hive_packages)
    assert "docker-registry" not in hive_packages
    assert {"docker-registry", "apache2-utils", "rsyslog", "logrotate"} <= set(repository.env["HIVE_PACKAGES"].split())


def test_a_bad_package_entry_is_refused():
    with pytest.raises(ValueError, match="bad package entries"):
        steps.StepDefinition("x", steps._all, packages=("docker.io@sometimes",))
    with pytest.raises(ValueError, match="bad package entries"):
        steps.StepDefinition("x", steps._all, packages=("Bad Name",))


def test_scripts_install_exactly_their_catalogue_packages():
    """What a step's script passes to apt_install is what its catalogue entry declares (so the package step
    installs all of it and the step itself never runs apt)."""
    for d in steps.CATALOGUE:
        text = (HOSTSETUP / d.script).read_text()
        installed = {w for line in re.findall(r"^\s*apt_install (.*)$", text, re.M) for w in line.split("#")[0].split()}
        if d.name in ("packages",) or d.name.startswith("drbd-"):
            continue  # packages.sh installs its environment; the drbd steps install their own (helper drbd)
        assert installed == set(d.packages), d.name


def test_cross_host_waits_are_exactly_the_real_ones(make_site):
    for site in (make_site(), make_site(**SHARED)):
        first, repo = site.first_hive.fqdn, site.repository.fqdn
        cross = {(s.host, s.name): set(s.after) for s in site_steps(site) if s.after}
        expected = {}
        for h in site.hosts:
            if h.is_hive:
                expected[(h.fqdn, "swarm-join")] = {StepRef(first, "swarm-init")}
            if h.fqdn != repo:
                expected[(h.fqdn, "registry-login")] = {StepRef(repo, "registry")}
        assert cross == expected


def test_site_order_puts_every_step_after_what_it_waits_for(make_site):
    for site in (make_site(), make_site(**SHARED), make_site(**{"hive:first_hive": 2})):
        ordered = site_steps(site)
        position = {s.ref: i for i, s in enumerate(ordered)}
        assert len(position) == len(ordered) == sum(len(host_steps(site, h)) for h in site.hosts)
        for s in ordered:
            for name in s.depends_on:
                assert position[StepRef(s.host, name)] < position[s.ref]
            for ref in s.after:
                assert position[ref] < position[s.ref]
        assert [s.ref for s in site_steps(site)] == [s.ref for s in ordered]  # deterministic


def test_unplanned_dependency_is_an_error(make_site, monkeypatch):
    bogus = steps.StepDefinition("bogus", steps._all, after=lambda site, host: (StepRef("nowhere", "x"),))
    monkeypatch.setattr(steps, "CATALOGUE", (*steps.CATALOGUE, bogus))
    monkeypatch.setattr(steps, "_POSITION", {**steps._POSITION, "bogus": len(steps.CATALOGUE)})
    with pytest.raises(ValueError, match="waits for steps that are not planned"):
        site_steps(make_site())


def test_base_and_firewall_environment(make_site):
    site = make_site(**{"hive:admin_cidrs": ["203.0.113.0/24", "198.51.100.7/32"]})
    assert spec(site, 1, "base").env == {
        "HIVE_HOSTNAME": "s-hive1",
        "HIVE_FQDN": "s-hive1.pdns",
        "HIVE_HOSTS": "192.168.0.10 s-hive0.pdns s-hive0;192.168.0.11 s-hive1.pdns s-hive1;"
        "192.168.0.12 s-hive2.pdns s-hive2;192.168.0.13 s-hive3.pdns s-hive3",
        "HIVE_ADMIN_USER": "admin",
    }
    assert spec(site, 3, "firewall").env == {
        "HIVE_SITE_IPS": " ".join(FOUR),
        "HIVE_ADMIN_CIDRS": "203.0.113.0/24 198.51.100.7/32",
    }


def test_docker_and_swarm_networks_from_internal_cidr(make_site):
    site = make_site(**{"hive:internal_cidr": "10.254.0.0/16"})
    assert spec(site, 0, "docker").env == {
        "HIVE_FQDN": "s-hive0.pdns",
        "HIVE_BIP": "10.254.160.1/19",
        "HIVE_ADDRESS_POOL": "10.254.224.0/19",  # the monitoring eighth (see steps.py)
        "HIVE_ADMIN_USER": "admin",
    }
    assert spec(site, 0, "swarm-init").env == {
        "HIVE_ADVERTISE_ADDR": "192.168.0.10",
        "HIVE_INGRESS_SUBNET": "10.254.64.0/18",
        "HIVE_GWBRIDGE_SUBNET": "10.254.128.0/19",
        "HIVE_OVERLAY_MTU": "1450",
        "HIVE_PEER_MANAGERS": "192.168.0.11 192.168.0.12",
    }
    assert spec(site, 2, "swarm-join").env == {
        "HIVE_ADVERTISE_ADDR": "192.168.0.12",
        "HIVE_MANAGER_ADDRS": "192.168.0.10:2377 192.168.0.11:2377",
        "HIVE_GWBRIDGE_SUBNET": "10.254.128.0/19",
    }


def test_address_pool_avoids_every_placed_network(make_site):
    site = make_site(**{"hive:internal_cidr": "172.30.0.0/20"})
    pool = ipaddress.ip_network(steps.local_address_pool(site))
    nets = site.networks
    placed = [nets.default_network, nets.ingress, nets.docker_gwbridge, nets.registry]
    placed.append(str(ipaddress.ip_interface(nets.bip).network))
    assert pool.subnet_of(ipaddress.ip_network("172.30.0.0/20"))
    assert not any(pool.overlaps(ipaddress.ip_network(n)) for n in placed)


def test_docker_defaults_without_internal_cidr(make_site):
    site = make_site(**{"hive:underlay_mtu": 1460})
    assert spec(site, 0, "docker").env["HIVE_BIP"] == "172.17.128.1/16"  # hive-builder's fixed docker0
    assert spec(site, 0, "docker").env["HIVE_ADDRESS_POOL"] == ""
    init = spec(site, 0, "swarm-init").env
    assert (init["HIVE_INGRESS_SUBNET"], init["HIVE_GWBRIDGE_SUBNET"], init["HIVE_OVERLAY_MTU"]) == ("", "", "1410")
    assert spec(site, 1, "swarm-join").env["HIVE_GWBRIDGE_SUBNET"] == ""


def test_node_labels_with_zones(make_site):
    subnets = [
        {"cidr": "192.168.0.0/26", "name": "a", "available_zone": "zone-a"},
        {"cidr": "192.168.0.64/26", "name": "b", "available_zone": "zone-b"},
    ]
    site = make_site(
        **{
            "hive:subnets": subnets,
            "hive:ip_address_list": ["192.168.0.5", "192.168.0.69", "192.168.0.6", "192.168.0.70"],
        }
    )
    assert spec(site, 0, "node-labels").env == {"HIVE_NODE_LABELS": "servers=true hives=true first_hive=true az=zone-a"}
    assert spec(site, 1, "node-labels").env == {"HIVE_NODE_LABELS": "servers=true hives=true az=zone-b"}


def test_registry_steps(make_site):
    site = make_site(**{"hive:ssh_user": "ops"})
    assert spec(site, 3, "registry").env == {"HIVE_FQDN": "s-hive3.pdns"}
    for index in range(4):
        assert spec(site, index, "registry-login").env == {
            "HIVE_REGISTRY": "s-hive3.pdns:5000",
            "HIVE_ADMIN_USER": "ops",
        }
    assert spec(site, 3, "log-collector").env == {}
    assert spec(site, 0, "log-relay").env == {"HIVE_LOG_COLLECTOR": "192.168.0.13"}


def test_secrets_are_on_stdin_and_marked(make_site):
    site = make_site(**SHARED)
    by_name = {s.name: s for s in site_steps(site)}
    assert {n: s.stdin for n, s in by_name.items() if s.stdin} == {
        "docker": Stdin.TLS,
        "registry": Stdin.REGISTRY_PASSWORD,
        "registry-login": Stdin.REGISTRY_PASSWORD,
        "monitoring-server": Stdin.ALERTMANAGER,
        "swarm-join": Stdin.JOIN_TOKEN,  # read by the program: a host's certificate is no docker client
    }
    assert {n for n, s in by_name.items() if s.handles_secrets} == {
        "docker",
        "registry",
        "registry-login",
        "monitoring-server",
        "swarm-join",
    }


def test_command_line(make_site):
    site = make_site()
    base = spec(site, 0, "base")
    line = render_command(base, "admin")
    assert line.startswith(
        "sudo timeout -k 30 300 env HIVE_ADMIN_USER=admin HIVE_FQDN=s-hive0.pdns HIVE_HOSTNAME=s-hive0 HIVE_HOSTS="
    )
    words = shlex.split(line)
    assert words[:6] == ["sudo", "timeout", "-k", "30", "300", "env"]
    assert words[-2:] == ["bash", "/home/admin/.hive/hostsetup/base.sh"]
    assert dict(w.split("=", 1) for w in words[6:-2]) == base.env
    assert (
        render_command(spec(site, 0, "wait-ready"), "admin")
        == "sudo timeout -k 30 1860 bash /home/admin/.hive/hostsetup/wait-ready.sh"
    )
    assert (
        render_command(spec(site, 3, "log-collector"), "root")
        == "timeout -k 30 300 bash /root/.hive/hostsetup/log-collector.sh"
    )


def test_every_step_has_a_host_side_limit_below_its_custom_timeout(make_site):
    site = make_site(
        services={"db": {"image": "x", "volumes": [{"source": "d", "target": "/d", "drbd": {"size": "1G"}}]}}
    )
    for s in site_steps(site):
        words = shlex.split(render_command(s, "admin"))
        limit = int(words[words.index("timeout") + 3])
        assert limit == s.timeout_seconds
        assert int(s.custom_timeout.removesuffix("s")) > limit + steps.KILL_AFTER


def test_every_value_is_quoted():
    nasty = steps.StepSpec(
        host="h",
        name="base",
        env={"HIVE_B": "a b;$(rm -rf /)'\"", "HIVE_A": ""},
        stdin=None,
        files=(),
        depends_on=(),
        after=(),
        timeout_seconds=60,
    )
    line = render_command(nasty, "admin")
    assert shlex.split(line) == [
        "sudo",
        "timeout",
        "-k",
        "30",
        "60",
        "env",
        "HIVE_A=",
        "HIVE_B=a b;$(rm -rf /)'\"",
        "bash",
        "/home/admin/.hive/hostsetup/base.sh",
    ]
    bad = steps.StepSpec(**{**nasty.__dict__, "env": {"X; rm": "v"}})
    with pytest.raises(ValueError, match="no environment variable name"):
        render_command(bad, "admin")


def test_shipped_files_exist_and_cover_what_the_scripts_read():
    shipped = set(steps.all_files())
    on_disk = {p.name for p in HOSTSETUP.iterdir() if p.is_file()}
    assert shipped <= on_disk
    # a step script not in the catalogue yet is not shipped (it is not run either); any other file must be
    # claimed by the step that reads it, or it would never reach a host
    unclaimed = {f for f in on_disk - shipped if not f.endswith((".sh", ".md"))}  # the contract doc stays home
    assert unclaimed == set(), "a file in hostsetup/ is used by no step (add it to its step's assets)"
    for d in steps.CATALOGUE:
        text = (HOSTSETUP / d.script).read_text()
        read = set(re.findall(r"\$HERE/([A-Za-z0-9._-]+)", text)) | set(
            re.findall(r"\$\{HERE\}/([A-Za-z0-9._-]+)", text)
        )
        assert read <= set(d.files), f"{d.script} reads {read - set(d.files)} from its directory"
        assert d.files[:2] == ("lib.sh", d.script)


def test_remote_dir():
    assert steps.remote_dir("admin") == "/home/admin/.hive/hostsetup"
    assert steps.remote_dir("root") == "/root/.hive/hostsetup"


def test_drbd_steps_run_on_hives_of_a_site_with_drbd_volumes(make_site):
    site = make_site(
        services={"db": {"image": "x", "volumes": [{"source": "d", "target": "/d", "drbd": {"size": "1G"}}]}},
        **{"hive:no_mirrored_device": [1]},
    )
    assert names(site, 0)[-2:] == ["drbd-install", "drbd-pool"]
    assert waits(site, 0)["drbd-install"] == {"packages", "base"}  # off the swarm's path
    assert "drbd-install" not in names(site, 3)  # the separate repository holds no DRBD data
    assert spec(site, 0, "drbd-pool").env == {"HIVE_MIRRORED_DEVICE": "", "HIVE_DISKLESS": "0"}
    assert spec(site, 1, "drbd-pool").env["HIVE_DISKLESS"] == "1"


DRBD_SITE = {"db": {"image": "x", "volumes": [{"source": "d", "target": "/d", "drbd": {"size": "1G"}}]}}


def test_drbd_install_builds_with_dkms_without_a_module_url(make_site):
    env = spec(make_site(services=DRBD_SITE), 0, "drbd-install").env
    assert "HIVE_DRBD_MODULE_URL" not in env


def test_drbd_install_gets_the_stages_prebuilt_module_url(make_site):
    url = "https://repo.example/drbd-modules-{kernel}_{version}_amd64.deb"
    env = spec(make_site(services=DRBD_SITE, **{"hive:drbd_module_url": url}), 0, "drbd-install").env
    assert env["HIVE_DRBD_MODULE_URL"] == url


def test_no_drbd_steps_without_drbd_volumes(make_site):
    assert not {"drbd-install", "drbd-pool"} & set(names(make_site(), 0))


DRBD_SERVICE = {"db": {"image": "x", "volumes": [{"source": "d", "target": "/d", "drbd": {"size": "1G"}}]}}


def test_drbd_install_checks_the_configured_sha256(make_site):
    digest = "ab" * 32
    site = make_site(services=DRBD_SERVICE, **{"hive:drbd_sha256": digest.upper()})
    assert spec(site, 0, "drbd-install").env["HIVE_DRBD_SHA256"] == digest


def test_drbd_install_without_a_digest_gets_none(make_site):
    assert "HIVE_DRBD_SHA256" not in spec(make_site(services=DRBD_SERVICE), 0, "drbd-install").env
