"""Static checks of the host provisioner scripts (hostsetup/) and behaviour tests of lib.sh's pure helpers.

No root, network or Debian host needed: the steps themselves are exercised on real hosts by the rehearsal.
"""

from __future__ import annotations

import hashlib
import os
import re
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
HOSTSETUP = ROOT / "hostsetup"
LIB = HOSTSETUP / "lib.sh"
STEPS = sorted(p for p in HOSTSETUP.glob("*.sh") if p.name != "lib.sh")
SHELL_FILES = [*STEPS, LIB, HOSTSETUP / "hive-firewall", HOSTSETUP / "hive-service-log-writer"]
SOURCE_LINE = '. "$(dirname "$(readlink -f "$0")")/lib.sh"'
EXPECTED_STEPS = {
    "ship",
    "wait-ready",
    "packages",
    "base",
    "firewall",
    "docker",
    "swarm-init",
    "swarm-join",
    "node-labels",
    "registry",
    "registry-login",
    "log-collector",
    "backup",
    "log-relay",
    "drbd-install",
    "drbd-pool",
    "drbd-volume",
    "drbd-growfs",
    "images",
    "monitoring-node",
    "monitoring-server",
    "monitoring-errors",
}
# HIVE_* names that are not step inputs
INTERNAL_ENV = {"HIVE_FIREWALL_ENV"}


def bash(script: str, tmp_path: Path, stdin: str = "") -> subprocess.CompletedProcess[str]:
    """Run SCRIPT (which may source lib.sh) as the file <tmp>/demo-step.sh under plain bash."""
    path = tmp_path / "demo-step.sh"
    path.write_text(f"set -Eeuo pipefail\n. {LIB}\nT={tmp_path}\nout() {{ printf '%s\\n' \"$*\" >&3; }}\n{script}\n")
    return subprocess.run(["bash", str(path)], input=stdin, capture_output=True, text=True, timeout=60, check=False)


def test_every_step_exists() -> None:
    assert {p.stem for p in STEPS} >= EXPECTED_STEPS


@pytest.mark.parametrize("path", SHELL_FILES, ids=lambda p: p.name)
def test_bash_parses(path: Path) -> None:
    result = subprocess.run(["bash", "-n", str(path)], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("path", SHELL_FILES, ids=lambda p: p.name)
def test_shellcheck_clean(path: Path) -> None:
    if shutil.which("shellcheck") is None:
        pytest.skip("shellcheck is not installed (apt-get install shellcheck)")
    result = subprocess.run(["shellcheck", "-x", path.name], cwd=HOSTSETUP, capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("path", [*STEPS, HOSTSETUP / "hive-firewall"], ids=lambda p: p.name)
def test_script_conventions(path: Path) -> None:
    text = path.read_text()
    lines = text.splitlines()
    assert lines[0] == "#!/usr/bin/env bash"
    assert "set -Eeuo pipefail" in lines[:30]
    header = "\n".join(line for line in lines[1:30] if line.startswith("#"))
    assert "Usage:" in header
    if path.suffix == ".sh":
        assert SOURCE_LINE in lines, "every step sources lib.sh from its own directory"
        assert "Env:" in header
        assert "Stdin:" in header
        if path.name != "ship.sh":  # it puts the ssh user's own files in place
            assert "require_root" in text


@pytest.mark.parametrize("path", STEPS, ids=lambda p: p.name)
def test_no_secret_on_a_command_line(path: Path) -> None:
    text = path.read_text()
    # secrets are read from stdin into variables, and handed on through pipes only
    for name in ("password", "token", "key"):
        for line in text.splitlines():
            if line.lstrip().startswith("#"):
                continue
            assert not re.search(rf"\becho\b.*\${{?{name}\b", line), line
    assert "--password " not in text and '-p "$password' not in text
    assert "swarm join --token" not in text.replace("`docker swarm join --token …`", "")


def contract_rows() -> dict[str, str]:
    rows: dict[str, str] = {}
    for line in (ROOT / "hostsetup" / "README.md").read_text().splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) >= 4 and cells[0] in EXPECTED_STEPS:
            rows[cells[0]] = cells[2]
    return rows


@pytest.mark.parametrize("path", STEPS, ids=lambda p: p.name)
def test_env_matches_contract(path: Path) -> None:
    rows = contract_rows()
    assert path.stem in rows, f"{path.stem} is missing from the hostsetup/README.md table"
    used = set(re.findall(r"\bHIVE_[A-Z_]+\b", path.read_text())) - INTERNAL_ENV
    if "ensure_gwbridge" in path.read_text():
        used.add("HIVE_GWBRIDGE_SUBNET")
    documented = set(re.findall(r"\bHIVE_[A-Z_]+\b", rows[path.stem]))
    assert used <= documented, f"{path.stem} uses {sorted(used - documented)} not in hostsetup/README.md"


def test_require_env_exits_2(tmp_path: Path) -> None:
    result = bash("unset HIVE_X HIVE_Y; HIVE_Z=1 require_env HIVE_X HIVE_Z HIVE_Y", tmp_path)
    assert result.returncode == 2
    assert "missing environment: HIVE_X HIVE_Y" in result.stderr


def test_final_line_and_clean_stdout(tmp_path: Path) -> None:
    result = bash("echo noise; log hello; echo machine >&3", tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "machine\n"
    assert "[demo-step] hello" in result.stderr
    assert result.stderr.splitlines()[-1] == "unchanged: demo-step"

    result = bash("changed one; changed two", tmp_path)
    assert result.stderr.splitlines()[-1] == "changed: 2 item(s)"
    assert "[demo-step] changed: one" in result.stderr


def test_err_trap_names_the_line(tmp_path: Path) -> None:
    result = bash('s=topsecret\nfalse "$s"', tmp_path)
    assert result.returncode == 1
    assert 'demo-step.sh:6: command failed (exit 1): false "$s"' in result.stderr
    assert "topsecret" not in result.stderr
    assert "unchanged" not in result.stderr


def test_managed_block_in_place_and_idempotent(tmp_path: Path) -> None:
    hosts = tmp_path / "hosts"
    hosts.write_text("127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost\n")
    script = r"""
f=$T/hosts
inode=$(stat -c %i "$f")
managed_block "$f" hosts $'10.0.0.5\ta.pdns a\n10.0.0.6\tb.pdns b' && out first=changed || out first=unchanged
managed_block "$f" hosts $'10.0.0.5\ta.pdns a\n10.0.0.6\tb.pdns b\n' && out second=changed || out second=unchanged
printf 'tail line\n' >>"$f"
managed_block "$f" hosts $'10.0.0.7\tc.pdns c' && out third=changed || out third=unchanged
managed_block "$f" other 'x' && out fourth=changed || out fourth=unchanged
[[ $(stat -c %i "$f") == "$inode" ]] && out inode=same
"""
    result = bash(script, tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == [
        "first=changed",
        "second=unchanged",
        "third=changed",
        "fourth=changed",
        "inode=same",
    ]
    assert hosts.read_text() == (
        "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost\n"
        "# BEGIN hive hosts\n10.0.0.7\tc.pdns c\n# END hive hosts\n"
        "tail line\n"
        "# BEGIN hive other\nx\n# END hive other\n"
    )
    assert result.stderr.splitlines()[-1] == "changed: 3 item(s)"


def test_managed_block_refuses_an_unterminated_block(tmp_path: Path) -> None:
    (tmp_path / "hosts").write_text("a\n# BEGIN hive hosts\nb\n")
    result = bash('managed_block "$T/hosts" hosts x || true', tmp_path)
    assert result.returncode == 1
    assert "without '# END hive hosts'" in result.stderr
    assert (tmp_path / "hosts").read_text() == "a\n# BEGIN hive hosts\nb\n"


def test_install_file_if_changed(tmp_path: Path) -> None:
    script = r"""
owner=$(id -un):$(id -gn)
f=$T/sub/file.conf
mkdir -p "$T/sub"
install_file_if_changed $'a = 1\nb = 2' "$f" 0640 "$owner" && out 1=changed || out 1=unchanged
install_file_if_changed $'a = 1\nb = 2\n' "$f" 0640 "$owner" && out 2=changed || out 2=unchanged
chmod 0644 "$f"
install_file_if_changed $'a = 1\nb = 2' "$f" 0640 "$owner" && out 3=changed || out 3=unchanged
install_file_if_changed 'a = 3' "$f" 0640 "$owner" && out 4=changed || out 4=unchanged
install_file_if_changed 'a = 3' "$f" 640 "$owner" && out 5=changed || out 5=unchanged
stat -c 'mode=%a' "$f" >&3
ls -A "$T/sub" >&3
"""
    result = bash(script, tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == [
        "1=changed",
        "2=unchanged",
        "3=changed",
        "4=changed",
        "5=unchanged",
        "mode=640",
        "file.conf",
    ]
    assert (tmp_path / "sub" / "file.conf").read_text() == "a = 3\n"


PEM_KEY = "-----BEGIN PRIVATE KEY-----\nMIIEv\nQIBAD\n-----END PRIVATE KEY-----\n"
PEM_CERT = "-----BEGIN CERTIFICATE-----\nMIIDd\n-----END CERTIFICATE-----\n"
PEM_CA = "-----BEGIN CERTIFICATE-----\nMIIBc\nAAAA\n-----END CERTIFICATE-----\n"


def test_read_pem_blocks(tmp_path: Path) -> None:
    script = r"""
read_pem_blocks
out "count=${#PEM_BLOCKS[@]}"
for i in "${!PEM_BLOCKS[@]}"; do printf '%s' "${PEM_BLOCKS[i]}" >"$T/block$i"; done
"""
    stdin = "junk before\n" + PEM_KEY + PEM_CERT.replace("\n", "\r\n") + "between\n" + PEM_CA.rstrip("\n")
    result = bash(script, tmp_path, stdin)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "count=3\n"
    assert [(tmp_path / f"block{i}").read_text() for i in range(3)] == [PEM_KEY, PEM_CERT, PEM_CA]


def test_read_pem_blocks_truncated(tmp_path: Path) -> None:
    result = bash("read_pem_blocks", tmp_path, PEM_KEY + "-----BEGIN CERTIFICATE-----\nMII\n")
    assert result.returncode == 1
    assert "inside a PEM block" in result.stderr


def test_read_secret(tmp_path: Path) -> None:
    result = bash('s=\nread_secret s\n[[ $s == "pa ss" ]] && echo ok >&3', tmp_path, "pa ss\r\n\n")
    assert result.stdout == "ok\n", result.stderr
    result = bash("s=\nread_secret s", tmp_path, "\n")
    assert result.returncode == 1
    assert "expected a secret on stdin" in result.stderr


def test_hive_firewall_rules() -> None:
    env = {"PATH": "/usr/bin:/bin", "HIVE_SITE_IPS": "10.0.0.5 10.0.0.6", "HIVE_ADMIN_CIDRS": "203.0.113.0/24"}
    result = subprocess.run(
        ["bash", str(HOSTSETUP / "hive-firewall"), "--print"], env=env, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    ipv4, _, ipv6 = result.stdout.partition("# IPv6\n")  # the IPv6 part appears where this kernel has IPv6
    rules = ipv4.splitlines()
    assert rules[0] == "*filter" and rules[-1] == "COMMIT"
    tcp = "2376,2377,7946,5000,2514,9100,9323,7000:7999"
    for ip in ("10.0.0.5", "10.0.0.6"):
        assert f"-A HIVE-SERVICE -s {ip} -p tcp -m multiport --dports {tcp} -j ACCEPT" in rules
        assert f"-A HIVE-SERVICE -s {ip} -p udp -m multiport --dports 7946,4789,10514 -j ACCEPT" in rules
    assert "-A HIVE-SERVICE -s 203.0.113.0/24 -p tcp -m multiport --dports 22,2376 -j ACCEPT" in rules
    accepts = [i for i, r in enumerate(rules) if r.endswith("-j ACCEPT")]
    drops = [i for i, r in enumerate(rules) if r.endswith("-j DROP")]
    assert len(drops) == 2 and max(accepts) < min(drops)
    assert rules[-2] == "-A HIVE-SERVICE -j RETURN"
    assert not any("--dport 22 " in r or ",22," in r for r in rules if r.endswith("-j DROP"))
    if ipv6:  # the site is IPv4 only: over IPv6 the hive ports are open to this host alone
        v6 = ipv6.splitlines()
        assert [r for r in v6 if r.endswith("-j ACCEPT")] == [
            "-A HIVE-SERVICE -i lo -j ACCEPT",
            "-A HIVE-SERVICE -i docker_gwbridge -j ACCEPT",
        ]
        assert f"-A HIVE-SERVICE -p tcp -m multiport --dports {tcp} -j DROP" in v6


def test_hive_firewall_needs_site_ips(tmp_path: Path) -> None:
    env = {"PATH": "/usr/bin:/bin", "HIVE_FIREWALL_ENV": str(tmp_path / "none.env")}
    result = subprocess.run(
        ["bash", str(HOSTSETUP / "hive-firewall"), "--print"], env=env, capture_output=True, text=True, check=False
    )
    assert result.returncode == 2
    assert "HIVE_SITE_IPS is empty" in result.stderr


# --- package entries, time limits ----------------------------------------------------------------------------


def test_pkg_wanted_applies_conditions(tmp_path: Path) -> None:
    script = r"""
pkg_condition() { [[ $1 == yes ]]; }
pkg_wanted docker.io chrony@yes apparmor@no docker-cli
out "${PKG_WANTED[*]}"
"""
    result = bash(script, tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "docker.io chrony docker-cli\n"


@pytest.mark.parametrize("entry", ["Docker.io", "x@", "chrony@sometimes", "a b"])
def test_pkg_wanted_refuses_a_bad_entry(tmp_path: Path, entry: str) -> None:
    result = bash(f"pkg_wanted {shlex.quote(entry)}", tmp_path)
    assert result.returncode == 1
    assert "ERROR" in result.stderr


def test_dpkg_broken_lists_unfinished_packages(tmp_path: Path) -> None:
    """The states a killed dpkg leaves (dpkg-query's Status-Abbrev): half-installed, unpacked, half-configured,
    triggers, reinstall-required; installed and config-files-only packages are fine."""
    states = {
        "ok": "ii ",
        "gone": "rc ",
        "unpack": "iU ",
        "halfconf": "iF ",
        "halfinst": "iHR",
        "trig": "it ",
        "await": "iW ",
        "reinst": "iiR",
    }
    listing = "".join(f"{abbrev}|{name}\\n" for name, abbrev in states.items())
    result = bash(f"dpkg-query() {{ printf '{listing}'; }}\ndpkg_broken >&3", tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["unpack", "halfconf", "halfinst", "trig", "await", "reinst"]


def test_a_step_stopped_by_its_time_limit_says_so(tmp_path: Path) -> None:
    """The program's command line wraps every step in `timeout -k 30 <limit>`: TERM reaches the whole step (its
    children too) and the step reports it; the command's status is timeout's 124."""
    step = tmp_path / "slow-step.sh"
    step.write_text(f"set -Eeuo pipefail\n. {LIB}\nsleep 30 & wait\nchanged never\n")
    result = subprocess.run(
        ["timeout", "-k", "5", "1", "bash", str(step)], capture_output=True, text=True, timeout=20, check=False
    )
    assert result.returncode == 124
    assert "[slow-step] ERROR: stopped by SIGTERM" in result.stderr
    assert "FAILED" in result.stderr.splitlines()[-1]


# --- the swarm join token is never printed ---------------------------------------------------------------------

TOKEN = "SWMTKN-1-0123456789abcdefghijklmnopqrstuvwxyz0123456789abcd-secretpart0123456789"

# A docker API and CLI that answer like a manager with TOKEN, and a daemon whose /swarm/join fails (JOIN=fail)
# by echoing what it was sent — the worst case for an error text.
FAKE_CURL = f"""#!/bin/bash
for a in "$@"; do url=$a; done
case $url in
*:2376/swarm) printf '%s' '{{"ID":"x","JoinTokens":{{"Worker":"SWMTKN-1-worker","Manager":"{TOKEN}"}}}}' ;;
*/swarm/join)
    body=$(cat)
    if [[ $JOIN == ok ]]; then echo active >"$STATE"; printf '\\n200'
    else printf '%s\\n500' "bad request: $body"; fi ;;
*) exit 7 ;;
esac
"""
FAKE_DOCKER = f"""#!/bin/bash
case "$*" in
*LocalNodeState*) cat "$STATE" ;;
*ControlAvailable*) echo true ;;
*NodeID*) echo node-1 ;;
"node inspect"*) echo s-hive1 ;;
"node ls"*) echo 'node-1|s-hive1|Ready|Reachable' ;;
"swarm join-token"*) echo {TOKEN} ;;
"network ls"*) ;;
*) exit 1 ;;
esac
"""
FAKE_DPKG_QUERY = """#!/bin/bash
[[ ${@: -1} == -* || $# -lt 3 ]] && exit 0
printf 'ii '
"""


@pytest.fixture
def fake_swarm(tmp_path: Path) -> dict[str, str]:
    if os.geteuid() != 0:
        pytest.skip("the step scripts require root")
    if shutil.which("jq") is None:
        pytest.skip("jq is not installed (apt-get install jq)")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name, text in (("curl", FAKE_CURL), ("docker", FAKE_DOCKER), ("dpkg-query", FAKE_DPKG_QUERY)):
        (bin_dir / name).write_text(text)
        (bin_dir / name).chmod(0o755)
    state = tmp_path / "state"
    state.write_text("inactive\n")
    return {"PATH": f"{bin_dir}:/usr/sbin:/usr/bin:/sbin:/bin", "STATE": str(state), "HOME": str(tmp_path)}


@pytest.fixture
def staged(tmp_path: Path, fake_swarm: dict[str, str]) -> Path:
    """hostsetup/ copied with a lib.sh whose PATH puts the fakes first."""
    directory = tmp_path / "hostsetup"
    shutil.copytree(HOSTSETUP, directory)
    lib = directory / "lib.sh"
    lib.write_text(lib.read_text().replace("export LC_ALL=C PATH=", f"export LC_ALL=C PATH={tmp_path / 'bin'}:"))
    return directory


@pytest.mark.parametrize("outcome", ["ok", "fail"])
def test_swarm_join_never_prints_the_join_token(staged: Path, fake_swarm: dict[str, str], outcome: str) -> None:
    env = {**fake_swarm, "JOIN": outcome, "HIVE_ADVERTISE_ADDR": "10.0.0.6", "HIVE_MANAGER_ADDRS": "10.0.0.5"}
    result = subprocess.run(
        ["bash", str(staged / "swarm-join.sh")],
        env=env,
        input=TOKEN + "\n",
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert (result.returncode == 0) == (outcome == "ok"), result.stderr
    if outcome == "fail":
        assert "swarm join through 10.0.0.5:2377 failed (HTTP 500)" in result.stderr
        assert "<join token>" in result.stderr  # the daemon's echo, with the token cut out
    else:
        assert "joined the swarm through 10.0.0.5:2377" in result.stderr
    assert TOKEN not in result.stdout + result.stderr
    assert "secretpart" not in result.stdout + result.stderr


def test_swarm_join_wants_a_join_token_on_stdin(staged: Path, fake_swarm: dict[str, str]) -> None:
    env = {**fake_swarm, "JOIN": "ok", "HIVE_ADVERTISE_ADDR": "10.0.0.6", "HIVE_MANAGER_ADDRS": "10.0.0.5"}
    result = subprocess.run(
        ["bash", str(staged / "swarm-join.sh")],
        env=env,
        input="not-a-token\n",
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 1
    assert "stdin holds no swarm join token" in result.stderr
    assert "not-a-token" not in result.stderr


def test_swarm_init_prints_nothing_on_stdout(staged: Path, fake_swarm: dict[str, str]) -> None:
    Path(fake_swarm["STATE"]).write_text("active\n")
    env = {**fake_swarm, "HIVE_ADVERTISE_ADDR": "10.0.0.5"}
    result = subprocess.run(
        ["bash", str(staged / "swarm-init.sh")], env=env, capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == ""
    assert TOKEN not in result.stderr
    assert result.stderr.splitlines()[-1] == "unchanged: swarm-init"


def test_ship_puts_the_bundle_in_place_and_converges(tmp_path: Path) -> None:
    """The program's files command, run twice: the files arrive, the staging directory goes, the second run
    changes nothing; a file of another owner (the swarm layer's drbd-volume.sh) is left alone."""
    from components.provision.host import bundle, ship_command

    home = tmp_path / "home"
    target = home / ".hive" / "hostsetup"
    target.mkdir(parents=True)
    (target / "drbd-volume.sh").write_text("keep me\n")
    stdin = bundle(HOSTSETUP, ["ship.sh", "lib.sh", "base.sh"])
    command = ship_command("root").replace("/root/", f"{home}/")
    runs = [
        subprocess.run(["bash", "-c", command], input=stdin, capture_output=True, text=True, timeout=60, check=False)
        for _ in range(2)
    ]
    assert runs[0].returncode == 0, runs[0].stderr
    assert runs[0].stderr.splitlines()[-1] == "changed: 3 item(s)"
    assert runs[1].returncode == 0, runs[1].stderr
    assert runs[1].stderr.splitlines()[-1] == "unchanged: ship"
    assert sorted(p.name for p in target.iterdir()) == ["base.sh", "drbd-volume.sh", "lib.sh", "ship.sh"]
    assert (target / "base.sh").read_text() == (HOSTSETUP / "base.sh").read_text()
    assert (target / "drbd-volume.sh").read_text() == "keep me\n"


def test_bundle_is_deterministic() -> None:
    from components.provision.host import bundle

    assert bundle(HOSTSETUP, ["lib.sh", "base.sh"]) == bundle(HOSTSETUP, ["base.sh", "lib.sh", "base.sh"])
    assert bundle(HOSTSETUP, ["lib.sh"]) != bundle(HOSTSETUP, ["lib.sh", "base.sh"])


# --- download_https: what a host downloads is what was meant --------------------------------------------------


def test_download_https_refuses_a_plain_http_url(tmp_path: Path) -> None:
    result = bash('download_https "http://example.invalid/drbd.tar.gz" "$T/cache/drbd.tar.gz"', tmp_path)
    assert result.returncode == 1
    assert "http://example.invalid/drbd.tar.gz is not an https URL" in result.stderr
    assert not (tmp_path / "cache").exists()


def test_download_https_accepts_a_cached_file_with_the_configured_digest(tmp_path: Path) -> None:
    cached = tmp_path / "drbd.tar.gz"
    cached.write_bytes(b"the tarball")
    digest = hashlib.sha256(b"the tarball").hexdigest()
    result = bash(f'download_https "https://example.invalid/x" "$T/drbd.tar.gz" "" {digest}', tmp_path)
    assert result.returncode == 0, result.stderr
    assert "drbd.tar.gz: SHA-256 checked" in result.stderr
    assert cached.exists()


def test_download_https_removes_and_refuses_a_file_with_another_digest(tmp_path: Path) -> None:
    cached = tmp_path / "drbd.tar.gz"
    cached.write_bytes(b"a tampered tarball")
    actual = hashlib.sha256(b"a tampered tarball").hexdigest()
    result = bash(f'download_https "https://example.invalid/x" "$T/drbd.tar.gz" "the source" {"0" * 64}', tmp_path)
    assert result.returncode == 1
    assert f"drbd.tar.gz from the source has SHA-256 {actual}, expected {'0' * 64}" in result.stderr
    assert not cached.exists()
