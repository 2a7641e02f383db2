"""Issue 15's trust boundaries, proven on real Debian 13 hosts (the ``rehearsal_site`` of conftest.py: four
bare lab hosts provisioned by the real program for a ``prepared`` stage, see tests/rehearsal/site.py).

* A host's identity is not a client identity: the docker APIs accept the program's client certificate and
  the backup agent's, never a host's certificate — not even from a host that holds one (components/pki.py,
  hostsetup/docker.sh).
* Hosts are who they claim: the prepared hosts' SSH host keys were scanned once and are pinned in every
  connection (components/infra/host_keys.py). A machine that answers at a host's address with another key is
  refused — with pulumi-command's own error, the rehearsal's SSH does what ``ssh.FixedHostKey`` does — until
  the operator marks the host replaced (``hive:host_generation``); then its key is scanned again and the
  new machine is provisioned.

The last test changes the site (a host replaced), so it comes last; each holds when run alone.
"""

from __future__ import annotations

import shlex

import pytest

from tests.rehearsal.engine import COMMAND
from tests.rehearsal.site import RehearsalSite

pytestmark = pytest.mark.rehearsal

DOCKER_API_PORT = 2376
CHANGED_HOST = "s-hive2"


@pytest.fixture(scope="module")
def site(rehearsal_site: RehearsalSite) -> RehearsalSite:
    return rehearsal_site


def api_status(site: RehearsalSite, source: str, target_ip: str, tls_dir: str) -> str:
    """``GET /version`` on ``target_ip``:2376 from ``source`` with the key and certificate in ``tls_dir``,
    the server verified against the hive's server CA: the HTTP status, or ``refused (curl exit N)``."""
    command = (
        f"d={shlex.quote(tls_dir)}; sudo curl -sS -o /dev/null -w '%{{http_code}}' --max-time 10 "
        f"--cacert /etc/docker/tls/ca.pem --cert $d/cert.pem --key $d/key.pem "
        f"https://{target_ip}:{DOCKER_API_PORT}/version"
    )
    rc, out, err = site.ssh(source, command, timeout=60)
    return out.strip() if rc == 0 else f"refused (curl exit {rc}: {err.strip()[-120:]})"


@pytest.mark.parametrize(("source", "target"), [("s-hive3", "s-hive0"), ("s-hive1", "s-hive0"), ("s-hive0", "s-hive2")])
def test_a_host_certificate_cannot_call_another_hosts_docker_api(site, source, target):
    """The repository's key (the registry's group can read it) and a hive's key are both refused."""
    status = api_status(site, source, site.host(target).ip, "/etc/docker/tls")
    assert status.startswith("refused"), status


def test_a_host_certificate_cannot_call_its_own_docker_api_over_tcp(site):
    status = api_status(site, "s-hive1", site.host("s-hive1").ip, "/etc/docker/tls")
    assert status.startswith("refused"), status


@pytest.mark.parametrize("target", ["s-hive0", "s-hive1", "s-hive2"])
def test_the_backup_agents_client_certificate_can(site, target):
    assert api_status(site, site.repository.hostname, site.host(target).ip, "/etc/hive/backup-tls") == "200"


def test_the_programs_client_certificate_can(site):
    """The program's identity, placed on a host only for this test (a 0600 temporary directory)."""
    setup = (
        'd=$(mktemp -d) && chmod 700 "$d" && cat > "$d/all.pem" && '
        'awk -v d="$d" \'/BEGIN/{n++} {print > (d "/" n ".pem")}\' "$d/all.pem" && '
        'mv "$d/1.pem" "$d/key.pem" && mv "$d/2.pem" "$d/cert.pem" && rm "$d/all.pem" && echo "$d"'
    )
    tls_dir = site.ok("s-hive1", setup, stdin=site.client_key_pem + site.client_cert_pem).strip()
    try:
        assert api_status(site, "s-hive1", site.first_hive.ip, tls_dir) == "200"
    finally:
        site.ok("s-hive1", f"rm -rf {shlex.quote(tls_dir)}")


def test_a_changed_host_key_is_refused_until_the_host_is_marked_replaced(site):
    """Another machine at s-hive2's address (new host keys), not marked replaced: a step that runs there (the
    firewall, after an ``admin_cidrs`` change) is refused with the provider's host key error, and nothing is
    sent to it. Marked replaced (``host_generation``), its key is scanned again and it is provisioned."""
    host = site.host(CHANGED_HOST)
    site.lab.replace_host(CHANGED_HOST)
    site.extra_config["hive:admin_cidrs"] = [f"{site.lab.gateway}/32", "192.0.2.0/24"]
    with pytest.raises(Exception, match=r"after \d+ failed attempts: ssh: handshake failed: ssh: host key mismatch"):
        site.up()
    refused = [
        e
        for e in site.mocks.executions
        if e.run == site.mocks.current.number and e.host == host.ip and e.type == COMMAND
    ]
    assert refused and not any(e.ok for e in refused)
    assert all("host key mismatch" in e.error for e in refused)
    # nothing reached the new machine: it has no hive files
    rc, _, _ = site.ssh(CHANGED_HOST, "test -e ~/.hive")
    assert rc == 1

    site.generations[CHANGED_HOST] = site.generations.get(CHANGED_HOST, 0) + 1
    site.up()
    scanned = {e.name for e in site.mocks.current.executions if e.type == "command:local:Command" and e.ok}
    assert f"{CHANGED_HOST}-host-key" in scanned  # scanned again: the replaced machine's key is pinned now
    assert not {f"{h.hostname}-host-key" for h in site.hosts if h.hostname != CHANGED_HOST} & scanned
    assert site.ok(CHANGED_HOST, "docker info -f '{{.Swarm.LocalNodeState}}'").strip() == "active"


def test_a_replaced_first_hive_joins_the_swarm_its_peers_run(site):
    """The first hive replaced (marked so): its key is scanned again, swarm-init finds a peer on the swarm port
    and founds no second swarm, and its swarm-join joins the peers' swarm with the token the program read —
    from a peer, the new first hive being no manager yet — with the program's client certificate."""
    first = site.first_hive.hostname
    site.lab.replace_host(first)
    site.generations[first] = site.generations.get(first, 0) + 1
    site.up()
    ran = {e.name: e for e in site.mocks.current.executions}
    assert ran[f"{first}-swarm-init"].ok and ran["provision-swarm-token"].ok
    assert "changed" in ran[f"{first}-swarm-join"].summary
    nodes = site.ok("s-hive1", "docker node ls --format '{{.Hostname}} {{.Status}} {{.ManagerStatus}}'").split("\n")
    assert sorted(line.split()[0] for line in nodes if line) == ["s-hive0", "s-hive1", "s-hive2"]  # one entry each
    assert all(line.split()[1] == "Ready" for line in nodes if line)
    cluster = {site.ok(h, "docker info -f '{{.Swarm.Cluster.ID}}'").strip() for h in ("s-hive0", "s-hive1", "s-hive2")}
    assert len(cluster) == 1  # one swarm, not a second one founded by the new first hive
