"""The rehearsal lab itself: real Debian 13 hosts answer ssh, run systemd, can be replaced, and run Docker."""

from __future__ import annotations

import shutil
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import urlsplit

import paramiko
import pytest

from tests.rehearsal import lab as hivelab

SITE = [("p0", 10), ("p1", 11), ("p2", 12), ("p3", 13)]


def ip_in(lab: hivelab.Lab, host_number: int) -> str:
    return str(next(iter(__import__("ipaddress").ip_network(lab.cidr).hosts())) + host_number - 1)


def ok(lab: hivelab.Lab, ip: str, command: str, stdin: str | None = None, timeout: float = 300) -> str:
    rc, out, err = lab.ssh(ip, command, stdin=stdin, timeout=timeout)
    assert rc == 0, f"{ip}: {command!r} failed rc={rc}\nstdout:\n{out}\nstderr:\n{err}"
    return out


def test_lab_key_is_openssh_format_usable_by_paramiko_and_openssh(tmp_path: Path) -> None:
    private, public = hivelab.generate_ssh_key("t")
    assert private.startswith("-----BEGIN OPENSSH PRIVATE KEY-----")
    assert public.startswith("ssh-ed25519 ")
    key = paramiko.Ed25519Key.from_private_key(__import__("io").StringIO(private))
    assert public.split()[1] == key.get_base64()
    if shutil.which("ssh-keygen") is None:
        pytest.skip("ssh-keygen not installed")
    # OpenSSH reads the same openssh-key-v1 encoding as Go's x/crypto/ssh ParseRawPrivateKey.
    path = tmp_path / "id"
    path.write_text(private)
    path.chmod(0o600)
    derived = subprocess.run(["ssh-keygen", "-y", "-f", str(path)], capture_output=True, text=True, check=True)
    assert derived.stdout.split()[:2] == public.split()[:2]


@pytest.mark.rehearsal
def test_site_of_four_hosts_and_an_outsider(lab) -> None:
    site = lab()
    started = time.monotonic()
    hosts = site.start_hosts([(name, ip_in(site, n)) for name, n in SITE])
    outsider = site.start_outsider("x9", ip_in(site, 99))
    elapsed = time.monotonic() - started
    print(f"4 hosts + outsider ready in {elapsed:.1f}s; per host {[round(h.started_in, 1) for h in hosts]}")
    mirror_host = urlsplit(hivelab.apt_mirrors()[0]).hostname

    host_keys, machine_ids = set(), set()
    for host in [*hosts, outsider]:
        assert ok(site, host.ip, "id -un").strip() == "admin"
        assert ok(site, host.ip, "hostname").strip() == host.name
        assert ok(site, host.ip, "sudo -n id -u").strip() == "0"
        rc, state, _ = site.ssh(host.ip, "systemctl is-system-running --wait")
        failed = ok(site, host.ip, "systemctl --failed --no-legend --plain")
        assert state.strip() == "running", f"{host.name}: {state.strip()}; failed units:\n{failed}"
        assert host.ip in ok(site, host.ip, "ip -4 -o addr show")
        assert ok(site, host.ip, "findmnt -n -o FSTYPE --target /run").strip() == "tmpfs"
        # /var/lib/docker is its own volume (not the container's overlay root), so a nested dockerd uses overlay2.
        assert ok(site, host.ip, "findmnt -n -o FSTYPE --target /var/lib/docker").strip() not in ("overlay", "")
        assert ok(site, host.ip, f"getent hosts {mirror_host}").strip()
        assert "trixie" in ok(site, host.ip, "cat /etc/os-release")
        for other in [*hosts, outsider]:
            ok(site, host.ip, f"ping -c1 -W2 {other.ip}")
        host_keys.add(ok(site, host.ip, "cat /etc/ssh/ssh_host_ed25519_key.pub").split()[1])
        machine_ids.add(ok(site, host.ip, "cat /etc/machine-id").strip())
    assert len(host_keys) == 5, "every host generates its own ssh host key at boot"
    assert len(machine_ids) == 5

    # ssh_run semantics (those of pulumi-command's remote.Command): stdin is fed and closed, stdout and
    # stderr are separate, rc is returned, env that sshd's AcceptEnv refuses is silently dropped.
    rc, out, err = hivelab.ssh_run(
        hosts[0].ip,
        22,
        "admin",
        site.private_key_pem,
        'cat; echo "FOO=${FOO-unset}"; echo to-stderr >&2; exit 3',
        stdin="line1\nline2\n",
        env={"FOO": "bar"},
    )
    assert (rc, out, err) == (3, "line1\nline2\nFOO=unset\n", "to-stderr\n")
    big = "x" * 1_000_000
    rc, out, _ = site.ssh(hosts[0].ip, "wc -c", stdin=big)
    assert (rc, out.strip()) == (0, str(len(big)))
    with pytest.raises(TimeoutError):
        site.ssh(hosts[0].ip, "sleep 30", timeout=2)


@pytest.mark.rehearsal
def test_replaced_host_comes_back_empty_at_the_same_address(lab) -> None:
    site = lab()
    p0, p1 = site.start_hosts([("p0", ip_in(site, 10)), ("p1", ip_in(site, 11))])
    ok(site, p1.ip, "sudo sh -c 'echo old > /var/lib/docker/marker; echo old > /etc/marker'")
    old_key = ok(site, p1.ip, "cat /etc/ssh/ssh_host_ed25519_key.pub").split()[1]

    started = time.monotonic()
    new = site.replace_host("p1")
    print(f"replaced p1 in {time.monotonic() - started:.1f}s")

    assert new.ip == p1.ip and new.name == "p1"
    assert ok(site, new.ip, "hostname").strip() == "p1"
    assert ok(site, new.ip, "sudo ls -A /var/lib/docker").strip() == ""
    assert ok(site, new.ip, "test -e /etc/marker && echo present || echo absent").strip() == "absent"
    assert ok(site, new.ip, "cat /etc/ssh/ssh_host_ed25519_key.pub").split()[1] != old_key
    assert ok(site, new.ip, "systemctl is-system-running --wait").strip() == "running"
    ok(site, p0.ip, f"ping -c1 -W2 {new.ip}")
    ok(site, new.ip, f"ping -c1 -W2 {p0.ip}")


FETCH = "import urllib.request as u; print(u.urlopen({url!r}, timeout=3).read().decode())"

BUSYBOX_IMAGE = r"""
set -e
rm -rf /tmp/bb && mkdir -p /tmp/bb/bin /tmp/bb/www
cp /bin/busybox /tmp/bb/bin/ && ln -s busybox /tmp/bb/bin/sh
hostname > /tmp/bb/www/index.html
tar -C /tmp/bb -c . | docker import --change 'CMD ["/bin/sh"]' - local/busybox:1 >/dev/null
"""


@pytest.mark.rehearsal
def test_nested_docker_swarm_and_iptables(lab) -> None:
    """docker.io from Debian 13 inside hosts: overlay2, nested containers, a two-node swarm, iptables (nft)."""
    site = lab()
    p0, p1 = site.start_hosts([("p0", ip_in(site, 10)), ("p1", ip_in(site, 11))])
    install = (
        "sudo DEBIAN_FRONTEND=noninteractive sh -c "
        "'apt-get update -q && apt-get install -y -q docker.io docker-cli busybox-static'"
    )

    def timed_install(ip: str) -> float:
        t = time.monotonic()
        ok(site, ip, install, timeout=600)
        return time.monotonic() - t

    with ThreadPoolExecutor(2) as pool:
        durations = list(pool.map(timed_install, [p0.ip, p1.ip]))
    print(f"apt-get update + install docker.io docker-cli busybox-static: {[round(d, 1) for d in durations]}s")

    for host in (p0, p1):
        info = ok(site, host.ip, "sudo docker info --format '{{.Driver}} {{.CgroupVersion}} {{.ServerVersion}}'")
        assert info.split()[0] == "overlay2", info
        assert ok(site, host.ip, "systemctl is-active docker containerd").split() == ["active", "active"]
        assert ok(site, host.ip, "systemctl is-system-running --wait").strip() == "running"
        ok(site, host.ip, "sudo sh -s", stdin=BUSYBOX_IMAGE)
        out = ok(site, host.ip, "sudo docker run --rm local/busybox:1 sh -c 'echo nested-ok; cat /www/index.html'")
        assert out.split() == ["nested-ok", host.name]
        # The firewall step needs iptables (nft backend) in the host's own network namespace.
        assert "nf_tables" in ok(site, host.ip, "sudo iptables -V")
        ok(
            site,
            host.ip,
            "sudo sh -c 'iptables -N HIVE-LAB-TEST && iptables -A HIVE-LAB-TEST -s 10.0.0.0/8 -p tcp --dport 22 "
            "-j ACCEPT && iptables -S HIVE-LAB-TEST | grep -q dport && iptables -F HIVE-LAB-TEST && "
            "iptables -X HIVE-LAB-TEST'",
        )

    out = ok(site, p0.ip, f"sudo docker swarm init --advertise-addr {p0.ip}")
    assert "Swarm initialized" in out
    token = ok(site, p0.ip, "sudo docker swarm join-token -q manager").strip()
    ok(site, p1.ip, f"sudo docker swarm join --token {token} {p0.ip}:2377")
    nodes = ok(site, p0.ip, "sudo docker node ls --format '{{.Hostname}} {{.Status}} {{.ManagerStatus}}'")
    assert sorted(nodes.splitlines()) == ["p0 Ready Leader", "p1 Ready Reachable"], nodes

    # Overlay (VXLAN) between the hosts, a DNS-round-robin service and a host-mode published port. The ingress
    # routing mesh and VIP endpoints need IPVS, which this kernel lacks: services use dnsrr + mode=host here.
    ok(site, p0.ip, "sudo docker network create -d overlay --attachable lab-ov")
    ok(
        site,
        p0.ip,
        "sudo docker service create -q --detach --name web --network lab-ov --endpoint-mode dnsrr "
        "--constraint node.hostname==p1 --publish mode=host,target=8080,published=8080 "
        "local/busybox:1 busybox httpd -f -p 8080 -h /www",
    )
    deadline = time.monotonic() + 90
    while True:
        rc, body, _ = site.ssh(p0.ip, "python3 -", stdin=FETCH.format(url=f"http://{p1.ip}:8080/"))
        if rc == 0 or time.monotonic() > deadline:
            break
        time.sleep(2)
    assert body.strip() == "p1", ok(site, p0.ip, "sudo docker service ps --no-trunc web")
    out = ok(
        site,
        p0.ip,
        "sudo docker run --rm --network lab-ov local/busybox:1 busybox wget -qO- -T 5 http://web:8080/",
    )
    assert out.strip() == "p1"
