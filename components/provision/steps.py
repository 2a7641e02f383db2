"""The host step catalogue (hostsetup/README.md "hostsetup step scripts"). Pure: no Pulumi.

For a :class:`~components.inventory.site.Site` it answers: which steps run on which host, in which order,
with which environment, which secret each one reads on stdin, what each waits for (on its own host and on
other hosts), which files it needs shipped, and the exact command line.

Package work. Each catalogue entry lists the Debian packages its script installs (``packages``). A host's
``packages`` step — right after ``wait-ready`` — installs the union of its steps' packages with one
``apt-get update`` and one ``apt-get install`` (issue 13): the other steps find their packages installed and
never run apt, so no two steps queue on dpkg's lock and a step run by hand still installs what it needs. The
list is the ``packages`` step's command line: a changed list re-runs that step only. A package may carry a
condition, ``name@condition`` (``hostsetup/lib.sh`` ``pkg_wanted``): the host decides (e.g. ``chrony`` only
where no time client runs).

Ordering. On one host a step waits only for the steps it names in ``needs`` (those planned on that host);
steps that need nothing of each other run at the same time. Across hosts only the real dependencies are
ordered:

* ``swarm-join`` on every hive waits for ``swarm-init`` on the first hive and gets the manager join token on
  stdin: the program reads it with its own client certificate (``swarm-token``, components/provision/site.py)
  — a host's certificate is no docker client (components/pki.py);
* ``registry-login`` on every server other than the repository waits for ``registry`` on the repository.

Everything else on different hosts runs in parallel; the repository's own steps (registry, log-collector)
are on no hive's path except registry-login's.

Time limits (issue 9 defect 7). pulumi-command runs a remote command with ``session.Run(cmd)`` and no context
(pulumi/pulumi-command ``provider/pkg/provider/remote/commandOutputs.go``: ``err = session.Run(cmd)``), so a
custom timeout never stops a hung remote command. Every step therefore runs under coreutils ``timeout`` on
the host (``timeout_seconds``: TERM to the step's whole process group, KILL ``KILL_AFTER`` later), and every
wait inside the scripts is bounded on its own; the resource's custom timeout is the host limit plus a margin.

Extension point (for new steps, e.g. monitoring): append a :class:`StepDefinition` to ``CATALOGUE`` — its
``runs_on`` rule, ``env``, ``packages`` (they join the host's package step), ``needs`` (same-host steps) and
``after`` (other hosts' steps), ``timeout_seconds``; add ``hostsetup/<name>.sh`` and its row in
hostsetup/README.md.

Address pool (``HIVE_ADDRESS_POOL``, docker's ``default-address-pools`` for *local* networks). hive-builder
splits ``internal_cidr`` (reference §1.4) into the overlay default network ¼, ingress ¼, docker_gwbridge ⅛,
docker0 ⅛, the registry's compose network ⅛ and the monitoring compose network ⅛ — and configures no pool,
so any other local network docker makes (an operator's ``docker network create``, a compose project) falls
back to docker's built-in 172.17–31.x/192.168.x pools, outside ``internal_cidr``: exactly what setting
``internal_cidr`` is meant to prevent. The pool cannot overlap the explicitly placed networks: docker0 (bip)
and docker_gwbridge fill their eighths, and an auto-allocated local network inside the overlay/ingress ranges
would shadow those overlays on the host. The registry eighth stays reserved for the registry (hive-builder
ran it as a compose network there; a containerised or shared registry keeps that range). The pool is
therefore the **monitoring eighth**: hive-builder used it for the repository's local (compose) network, i.e.
precisely a daemon-local network, and local networks never cross hosts, so every host can use the same pool.
Consequence for whoever builds monitoring: create its local network *without* an explicit subnet (it is then
allocated from this eighth, as in hive-builder). Without ``internal_cidr`` the pool is empty (docker's
defaults), as in hive-builder.
"""

from __future__ import annotations

import enum
import heapq
import re
import shlex
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from components.backup.plan import needs_agent
from components.backup.plan import step_env as backup_step_env
from components.inventory.addressing import Host
from components.inventory.site import Site
from components.inventory.stage import PROVIDER_DEFAULTS
from components.monitoring.error_rules import error_rules, watched_names

LIB = "lib.sh"
# hostsetup scripts the swarm layer (components/swarm) runs on hives, shipped in the host's bundle
IMAGES_SCRIPT = "images.sh"  # pull a hive's image set before the services, prune after
DRBD_VOLUME_SCRIPT = "drbd-volume.sh"
DRBD_GROWFS_SCRIPT = "drbd-growfs.sh"
REGISTRY_PORT = 5000
SWARM_PORT = 2377


KILL_AFTER = 30  # seconds between the time limit's TERM and KILL
TIMEOUT_MARGIN = 120  # seconds the resource's custom timeout adds to the host-side limit
PACKAGE_RE = re.compile(r"^[a-z0-9][a-z0-9+.-]+(@[a-z_]+)?$")
PACKAGE_CONDITIONS = frozenset({"time_client", "apparmor"})  # lib.sh pkg_wanted knows these


class Stdin(enum.Enum):
    """The secret a step reads on stdin (hostsetup/README.md). Secrets never go on the command line."""

    TLS = "tls"  # the host key PEM, the host certificate PEM, the server CA PEM, the client CA PEM, in this order
    REGISTRY_PASSWORD = "registry_password"  # the registry password of user hive
    DRBD_URL = "drbd_url"  # hive:drbd_download_url when it is a Pulumi secret (HIVE_DRBD_URL is then "-")
    BACKUP = "backup"  # the backup agent's key, certificate, CA certificate; then the off-site NAME=value lines
    ALERTMANAGER = "alertmanager"  # Alertmanager's configuration with the receivers' credentials
    JOIN_TOKEN = (
        "join_token"  # the swarm's manager join token (read by the program: components/provision/join_token.py)
    )


@dataclass(frozen=True, order=True)
class StepRef:
    """One step on one host: ``StepRef("s-hive0.pdns", "swarm-init")``."""

    host: str  # fqdn
    step: str


@dataclass(frozen=True)
class StepSpec:
    """One step as it runs on one host."""

    host: str  # fqdn of the host it runs on
    name: str
    env: Mapping[str, str]
    stdin: Stdin | None
    files: tuple[str, ...]  # every file under hostsetup/ it needs on the host, lib.sh and the script included
    depends_on: tuple[str, ...]  # steps on the same host that must have run
    after: tuple[StepRef, ...]  # steps on other hosts that must have run
    timeout_seconds: int  # the host-side hard limit (coreutils timeout)

    @property
    def script(self) -> str:
        return f"{self.name}.sh"

    @property
    def ref(self) -> StepRef:
        return StepRef(self.host, self.name)

    @property
    def needs_stdin_secret(self) -> bool:
        return self.stdin is not None

    @property
    def handles_secrets(self) -> bool:
        """Its stdin is secret: no logging, stdout/stderr secret in state (no script prints a secret, but a
        failed command's error text carries its output: keep it out of logs anyway)."""
        return self.stdin is not None

    @property
    def custom_timeout(self) -> str:
        """The resource's custom timeout: the host-side limit, its KILL grace and a margin for SSH."""
        return f"{self.timeout_seconds + KILL_AFTER + TIMEOUT_MARGIN}s"


HostPredicate = Callable[[Site, Host], bool]
EnvBuilder = Callable[[Site, Host], dict[str, str]]
CrossHost = Callable[[Site, Host], tuple[StepRef, ...]]


def _no_env(site: Site, host: Host) -> dict[str, str]:
    return {}


def _no_cross(site: Site, host: Host) -> tuple[StepRef, ...]:
    return ()


@dataclass(frozen=True)
class StepDefinition:
    """A catalogue entry: a step and the rule of where and how it runs."""

    name: str
    runs_on: HostPredicate
    env: EnvBuilder = _no_env
    stdin: Stdin | Callable[[Site], Stdin | None] | None = None  # a callable decides per site
    assets: tuple[str, ...] = ()  # files besides lib.sh and the script that the script reads from $HERE
    after: CrossHost = _no_cross
    timeout_seconds: int = 300  # host-side hard limit; every wait in the script is bounded below it
    packages: tuple[str, ...] = ()  # what the script's apt_install installs (`name` or `name@condition`)
    needs: tuple[str, ...] = ("packages",)  # same-host steps it waits for (when planned on the host)

    def __post_init__(self) -> None:
        bad = [p for p in self.packages if not _valid_package(p)]
        if bad:
            raise ValueError(
                f"step {self.name}: bad package entries {bad} (name or name@condition, "
                f"conditions: {sorted(PACKAGE_CONDITIONS)})"
            )

    @property
    def script(self) -> str:
        return f"{self.name}.sh"

    @property
    def files(self) -> tuple[str, ...]:
        return (LIB, self.script, *self.assets)


def _valid_package(package: str) -> bool:
    condition = package.partition("@")[2]
    return bool(PACKAGE_RE.match(package)) and (not condition or condition in PACKAGE_CONDITIONS)


# --- values derived from the site -------------------------------------------------------------------------


def hosts_line(site: Site) -> str:
    """``HIVE_HOSTS``: every server as ``ip fqdn short``, ``;``-separated, in index order."""
    return ";".join(f"{h.private_ip} {h.fqdn} {h.hostname}" for h in site.hosts)


def site_ips(site: Site) -> str:
    return " ".join(h.private_ip for h in site.hosts)


def local_address_pool(site: Site) -> str:
    """``HIVE_ADDRESS_POOL``: the monitoring eighth of internal_cidr, or empty (see the module docstring)."""
    return site.networks.monitoring if site.stage.internal_cidr is not None else ""


def ingress_subnet(site: Site) -> str:
    if site.stage.internal_cidr is None or site.networks.ingress is None:
        return ""
    return site.networks.ingress


def gwbridge_subnet(site: Site) -> str:
    return site.networks.docker_gwbridge if site.stage.internal_cidr is not None else ""


def node_labels(host: Host) -> str:
    """``HIVE_NODE_LABELS``: every inventory group of the host ``=true``, plus ``az=<zone>`` when known."""
    labels = [f"{group}=true" for group in host.groups]
    if host.az:
        labels.append(f"az={host.az}")
    return " ".join(labels)


def registry_address(site: Site) -> str:
    return f"{site.repository.fqdn}:{REGISTRY_PORT}"


def manager_address(site: Site) -> str:
    return f"{site.first_hive.private_ip}:{SWARM_PORT}"


def manager_addresses(site: Site, host: Host) -> list[str]:
    """The managers ``host`` may join through, the first hive first (a replaced first hive: its peers)."""
    hives = [site.first_hive, *(h for h in site.hives if h != site.first_hive)]
    return [f"{h.private_ip}:{SWARM_PORT}" for h in hives if h != host]


# --- the catalogue ----------------------------------------------------------------------------------------


def _all(site: Site, host: Host) -> bool:
    return True


def _is_first_hive(site: Site, host: Host) -> bool:
    return host.is_hive and host.fqdn == site.first_hive.fqdn


def _is_hive(site: Site, host: Host) -> bool:
    return host.is_hive


def _is_repository(site: Site, host: Host) -> bool:
    return host.is_repository


def _is_not_repository(site: Site, host: Host) -> bool:
    return not host.is_repository


def _base_env(site: Site, host: Host) -> dict[str, str]:
    return {
        "HIVE_HOSTNAME": host.hostname,
        "HIVE_FQDN": host.fqdn,
        "HIVE_HOSTS": hosts_line(site),
        "HIVE_ADMIN_USER": site.stage.ssh_user,
    }


def _firewall_env(site: Site, host: Host) -> dict[str, str]:
    return {"HIVE_SITE_IPS": site_ips(site), "HIVE_ADMIN_CIDRS": " ".join(site.stage.admin_cidrs)}


def _docker_env(site: Site, host: Host) -> dict[str, str]:
    return {
        "HIVE_FQDN": host.fqdn,
        "HIVE_BIP": site.networks.bip,
        "HIVE_ADDRESS_POOL": local_address_pool(site),
        "HIVE_ADMIN_USER": site.stage.ssh_user,
    }


def _swarm_init_env(site: Site, host: Host) -> dict[str, str]:
    return {
        "HIVE_ADVERTISE_ADDR": host.private_ip,
        "HIVE_INGRESS_SUBNET": ingress_subnet(site),
        "HIVE_GWBRIDGE_SUBNET": gwbridge_subnet(site),
        "HIVE_OVERLAY_MTU": str(site.overlay_mtu),
        # A replaced first hive joins the swarm its peers still run instead of founding a second one.
        "HIVE_PEER_MANAGERS": " ".join(h.private_ip for h in site.hives if h != host),
    }


def _swarm_join_env(site: Site, host: Host) -> dict[str, str]:
    return {
        "HIVE_ADVERTISE_ADDR": host.private_ip,
        "HIVE_MANAGER_ADDRS": " ".join(manager_addresses(site, host)),
        "HIVE_GWBRIDGE_SUBNET": gwbridge_subnet(site),
    }


def _after_swarm_init(site: Site, host: Host) -> tuple[StepRef, ...]:
    return (StepRef(site.first_hive.fqdn, "swarm-init"),)


def _is_drbd_hive(site: Site, host: Host) -> bool:
    """DRBD runs on the hives of a site that has DRBD volumes (never in the local provider's containers)."""
    return host.is_hive and site.drbd_supported and any(v.kind == "drbd" for v in site.volumes)


def _drbd_url_is_secret(site: Site) -> bool:
    return "drbd_download_url" in site.stage.secret_keys


def _drbd_install_env(site: Site, host: Host) -> dict[str, str]:
    """A secret download URL (it may carry a token) goes on stdin, never on the command line; a prebuilt
    module package (hive:drbd_module_url) replaces the DKMS build."""
    url = "-" if _drbd_url_is_secret(site) else site.stage.drbd_download_url
    env = {"HIVE_DRBD_VERSION": site.stage.drbd_version, "HIVE_DRBD_URL": url}
    if site.stage.drbd_module_url:
        env["HIVE_DRBD_MODULE_URL"] = site.stage.drbd_module_url
    if site.stage.drbd_sha256 is not None:  # the host checks the tarball against it before use
        env["HIVE_DRBD_SHA256"] = site.stage.drbd_sha256
    return env


def _drbd_install_stdin(site: Site) -> Stdin | None:
    return Stdin.DRBD_URL if _drbd_url_is_secret(site) else None


def _drbd_pool_env(site: Site, host: Host) -> dict[str, str]:
    return {
        "HIVE_MIRRORED_DEVICE": PROVIDER_DEFAULTS[site.stage.provider].mirrored_device or "",
        "HIVE_DISKLESS": "0" if host.mirrored_device else "1",
    }


def _runs_backup_agent(site: Site, host: Host) -> bool:
    return host.is_repository and needs_agent(site)


def _monitor_targets(site: Site, host: Host) -> dict[str, str]:
    return {
        "HIVE_MONITOR_TARGETS": " ".join(f"{h.fqdn}={h.private_ip}" for h in site.hosts),
        "HIVE_RECEIVERS": "1",  # the Alertmanager configuration comes on stdin
    }


def _error_rules_env(site: Site, host: Host) -> dict[str, str]:
    services = site.catalog.services
    return {"HIVE_ERROR_RULES": error_rules(services), "HIVE_ERROR_SERVICES": watched_names(services)}


MONITORING_RULES = tuple(f"monitoring-{area}.rules.yml" for area in ("host", "volumes", "swarm", "services"))


def _after_registry(site: Site, host: Host) -> tuple[StepRef, ...]:
    return () if host.is_repository else (StepRef(site.repository.fqdn, "registry"),)


BASE_PACKAGES = ("ca-certificates", "curl", "iproute2", "iptables", "conntrack", "jq", "sudo", "chrony@time_client")
BACKUP_PACKAGES = ("python3-minimal", "docker-cli", "bsdutils", "restic")  # restic: off-site copies
DOCKER_PACKAGES = ("ca-certificates", "jq", "openssl", "docker.io", "docker-cli", "apparmor@apparmor")

CATALOGUE: tuple[StepDefinition, ...] = (
    # cloud-init, boot and other apt runs: 3 waits of HIVE_WAIT_TIMEOUT (600 s) at most
    StepDefinition("wait-ready", _all, timeout_seconds=1860, needs=()),
    # one apt-get update + one install of every package the host's steps need (env: _packages_env)
    StepDefinition(
        "packages", _all, lambda site, host: _packages_env(site, host), timeout_seconds=1200, needs=("wait-ready",)
    ),
    StepDefinition("base", _all, _base_env, packages=BASE_PACKAGES),
    StepDefinition("firewall", _all, _firewall_env, assets=("hive-firewall",), packages=("iptables",)),
    # before docker: dockerd then starts with its metrics endpoint (/etc/default/docker), no restart
    StepDefinition(
        "monitoring-node",
        _all,
        lambda site, host: {"HIVE_LISTEN_ADDR": host.private_ip},
        assets=("hive-metrics",),
        packages=("prometheus-node-exporter", "jq", "curl"),
    ),
    # docker's node name is the hostname at its start: after base
    StepDefinition(
        "docker",
        _all,
        _docker_env,
        stdin=Stdin.TLS,
        timeout_seconds=600,
        packages=DOCKER_PACKAGES,
        needs=("packages", "base", "monitoring-node"),
    ),
    StepDefinition(
        "registry",
        _is_repository,
        lambda site, host: {"HIVE_FQDN": host.fqdn},
        stdin=Stdin.REGISTRY_PASSWORD,
        packages=("docker-registry", "apache2-utils", "curl"),
        needs=("docker",),
    ),
    # hive-service-log-writer: the collector's omprog writer that writes each relayed line once (issue 16)
    StepDefinition(
        "log-collector",
        _is_repository,
        assets=("hive-service-log-writer",),
        packages=("rsyslog", "logrotate", "mawk"),
    ),
    # the services' local syslog endpoint (udp 127.0.0.1:10514) with a disk queue to the collector (issue 16)
    StepDefinition(
        "log-relay",
        _is_not_repository,
        lambda site, host: {"HIVE_LOG_COLLECTOR": site.repository.private_ip},
        packages=("rsyslog",),
    ),
    StepDefinition(
        "swarm-init",
        _is_first_hive,
        _swarm_init_env,
        timeout_seconds=600,
        packages=("jq", "curl"),
        needs=("docker", "firewall"),
    ),
    # every hive, the first one too: a replaced first hive joins the swarm its peers still run
    StepDefinition(
        "swarm-join",
        _is_hive,
        _swarm_join_env,
        stdin=Stdin.JOIN_TOKEN,
        after=_after_swarm_init,
        timeout_seconds=600,
        packages=("jq", "curl"),
        needs=("docker", "firewall", "swarm-init"),
    ),
    StepDefinition(
        "node-labels",
        _is_hive,
        lambda site, host: {"HIVE_NODE_LABELS": node_labels(host)},
        needs=("swarm-init", "swarm-join"),
    ),
    StepDefinition(
        "backup",
        _runs_backup_agent,
        lambda site, host: backup_step_env(site),
        stdin=Stdin.BACKUP,
        assets=("hive-backup",),
        packages=BACKUP_PACKAGES,
    ),
    StepDefinition(
        "monitoring-errors",
        _is_repository,
        _error_rules_env,
        packages=("rsyslog", "logrotate"),
        needs=("packages", "log-collector"),
    ),  # its rules live inside the collector's ruleset
    StepDefinition(
        "monitoring-server",
        _is_repository,
        _monitor_targets,
        stdin=Stdin.ALERTMANAGER,
        assets=MONITORING_RULES,
        packages=("prometheus", "prometheus-alertmanager"),
    ),
    StepDefinition(
        "registry-login",
        _all,
        lambda site, host: {"HIVE_REGISTRY": registry_address(site), "HIVE_ADMIN_USER": site.stage.ssh_user},
        stdin=Stdin.REGISTRY_PASSWORD,
        after=_after_registry,
        packages=("jq",),
        needs=("base", "docker", "registry"),  # base: /etc/hosts names the repository
    ),
    # Building the module takes minutes and nothing of the swarm waits for it.
    StepDefinition(
        "drbd-install",
        _is_drbd_hive,
        _drbd_install_env,
        stdin=_drbd_install_stdin,
        timeout_seconds=1800,
        needs=("packages", "base"),
    ),
    StepDefinition("drbd-pool", _is_drbd_hive, _drbd_pool_env, timeout_seconds=600, needs=("drbd-install",)),
)
STEP_NAMES: tuple[str, ...] = tuple(d.name for d in CATALOGUE)
_POSITION = {name: i for i, name in enumerate(STEP_NAMES)}


def definition(name: str) -> StepDefinition:
    return CATALOGUE[_POSITION[name]]


def all_files() -> tuple[str, ...]:
    """Every file under hostsetup/ some step needs (lib.sh first)."""
    seen: dict[str, None] = {}
    for d in CATALOGUE:
        seen.update(dict.fromkeys(d.files))
    return tuple(seen)


# --- plans ------------------------------------------------------------------------------------------------


def host_packages(site: Site, host: Host) -> tuple[str, ...]:
    """Every package the host's steps install, in catalogue order, each once."""
    wanted = [p for d in CATALOGUE if d.runs_on(site, host) for p in d.packages]
    return tuple(dict.fromkeys(wanted))


def _packages_env(site: Site, host: Host) -> dict[str, str]:
    return {"HIVE_PACKAGES": " ".join(host_packages(site, host))}


def swarm_files(site: Site, host: Host) -> tuple[str, ...]:
    """The hostsetup files the swarm layer runs on ``host`` beside its steps' (components/swarm/component.py):
    images.sh on every hive, the DRBD volume scripts on every hive of a site with DRBD volumes. They travel in
    the host's one bundle (components/provision/host.py), not as a copy of their own per host (issue 13)."""
    if not host.is_hive:
        return ()
    drbd = any(v.kind == "drbd" for v in site.volumes)
    return (LIB, IMAGES_SCRIPT, *((DRBD_VOLUME_SCRIPT, DRBD_GROWFS_SCRIPT) if drbd else ()))


def host_steps(site: Site, host: Host) -> list[StepSpec]:
    """The steps of one host, in catalogue order (each after every step it needs)."""
    planned = [d for d in CATALOGUE if d.runs_on(site, host)]
    names = {d.name for d in planned}
    specs: list[StepSpec] = []
    for d in planned:
        depends_on = tuple(n for n in d.needs if n in names)
        earlier = {s.name for s in specs}
        late = [n for n in depends_on if n not in earlier]
        if late:
            raise ValueError(f"step {d.name} needs {late}, which come after it in the catalogue")
        specs.append(
            StepSpec(
                host=host.fqdn,
                name=d.name,
                env=d.env(site, host),
                stdin=d.stdin(site) if callable(d.stdin) else d.stdin,
                files=d.files,
                depends_on=depends_on,
                after=d.after(site, host),
                timeout_seconds=d.timeout_seconds,
            )
        )
    return specs


def site_steps(site: Site) -> list[StepSpec]:
    """Every step of every host, in an order where each step comes after everything it waits for.

    Ties are broken by catalogue position, then host index, so the order is deterministic. Raises
    ``ValueError`` on a dependency that names no planned step or on a cycle.
    """
    index = {h.fqdn: h.index for h in site.hosts}
    specs = {s.ref: s for h in site.hosts for s in host_steps(site, h)}
    waits: dict[StepRef, set[StepRef]] = {}
    for ref, spec in specs.items():
        needs = {StepRef(spec.host, name) for name in spec.depends_on} | set(spec.after)
        missing = sorted(n for n in needs if n not in specs)
        if missing:
            raise ValueError(f"step {ref.step} on {ref.host} waits for steps that are not planned: {missing}")
        waits[ref] = needs
    users: dict[StepRef, list[StepRef]] = {ref: [] for ref in specs}
    for ref, needs in waits.items():
        for need in needs:
            users[need].append(ref)

    def key(ref: StepRef) -> tuple[int, int, str]:
        return (_POSITION[ref.step], index[ref.host], ref.host)

    ready = [(key(ref), ref) for ref, needs in waits.items() if not needs]
    heapq.heapify(ready)
    remaining = {ref: len(needs) for ref, needs in waits.items()}
    ordered: list[StepSpec] = []
    while ready:
        _, ref = heapq.heappop(ready)
        ordered.append(specs[ref])
        for user in users[ref]:
            remaining[user] -= 1
            if remaining[user] == 0:
                heapq.heappush(ready, (key(user), user))
    if len(ordered) != len(specs):
        stuck = sorted(ref for ref, n in remaining.items() if n)
        raise ValueError(f"the host steps wait for each other in a cycle: {stuck}")
    return ordered


# --- command lines ----------------------------------------------------------------------------------------


def remote_dir(user: str) -> str:
    """Where the scripts live on a host: the ssh user's ``~/.hive/hostsetup``."""
    home = "/root" if user == "root" else f"/home/{user}"
    return f"{home}/.hive/hostsetup"


def remote_path(user: str, file: str) -> str:
    return f"{remote_dir(user)}/{file}"


def render_command(spec: StepSpec, user: str) -> str:
    """``sudo timeout -k 30 <limit> env HIVE_A=… HIVE_B=… bash ~/.hive/hostsetup/<step>.sh``, values quoted.

    ``timeout`` is the step's hard limit on the host (see the module docstring): it signals the step's whole
    process group and exits 124 (137 after KILL). The environment is sorted by name so the command text (an
    input: a change re-runs the step) is stable. Root needs no sudo. Secrets are never part of it (stdin).
    """
    words = [] if user == "root" else ["sudo"]
    words += ["timeout", "-k", str(KILL_AFTER), str(spec.timeout_seconds)]
    if spec.env:
        words.append("env")
        for name in sorted(spec.env):
            if not name.isidentifier():
                raise ValueError(f"step {spec.name}: {name!r} is no environment variable name")
            words.append(f"{name}={shlex.quote(spec.env[name])}")
    words += ["bash", shlex.quote(remote_path(user, spec.script))]
    return " ".join(words)
