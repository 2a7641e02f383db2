"""ssh_config text and the DNS delegation of the site's zone."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from components.inventory.exports import Endpoint, dns_delegation, known_hosts, ssh_config

KEY0 = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJdD7y3aLq454yWBdwLWbieU1ebz9/cu7/QEXn9OIeZJ"
KEY1 = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl"
HIVES = [Endpoint("s-hive0.pdns", "203.0.113.10", 22, KEY0), Endpoint("s-hive1.pdns", "203.0.113.11", 22, KEY1)]


def test_ssh_config_has_one_block_per_host():
    text = ssh_config(HIVES, "admin", "~/.ssh/hive_staging", "~/.ssh/hive_staging_known_hosts")
    assert text.count("Host ") == 2
    assert "Host s-hive0.pdns s-hive0\n  HostName 203.0.113.10\n  Port 22\n  User admin\n" in text
    assert "  IdentityFile ~/.ssh/hive_staging\n  IdentitiesOnly yes\n" in text


def test_ssh_config_checks_host_keys_strictly_against_the_pinned_ones():
    text = ssh_config(HIVES, "admin", "~/.ssh/hive_staging", "~/.ssh/hive_staging_known_hosts")
    assert "accept-new" not in text
    assert text.count("  StrictHostKeyChecking yes\n") == 2
    assert "  HostKeyAlias s-hive1.pdns\n  UserKnownHostsFile ~/.ssh/hive_staging_known_hosts\n" in text


def test_known_hosts_names_each_key_by_its_fqdn():
    assert known_hosts(HIVES) == f"s-hive0.pdns {KEY0}\ns-hive1.pdns {KEY1}\n"


@pytest.mark.skipif(shutil.which("ssh") is None or shutil.which("ssh-keygen") is None, reason="no OpenSSH client")
def test_openssh_reads_the_config_and_finds_the_pinned_key(tmp_path):
    known = tmp_path / "known_hosts"
    known.write_text(known_hosts(HIVES))
    config = tmp_path / "config"
    config.write_text(ssh_config(HIVES, "admin", str(tmp_path / "key"), str(known)))
    effective = subprocess.run(
        ["ssh", "-G", "-F", str(config), "s-hive1"], capture_output=True, text=True, check=True
    ).stdout.lower()
    assert "hostkeyalias s-hive1.pdns" in effective and "stricthostkeychecking true" in effective
    found = subprocess.run(
        ["ssh-keygen", "-F", "s-hive1.pdns", "-f", str(known)], capture_output=True, text=True, check=True
    ).stdout
    assert KEY1 in found and KEY0 not in found


def test_dns_delegation_matches_the_hive_builder_sample():
    delegation = dns_delegation("pdns.example.com", "example.com", HIVES)
    assert delegation["zone"] == "pdns.example.com."
    assert delegation["name_servers"] == ["s-hive0.pdns.example.com.", "s-hive1.pdns.example.com."]
    assert delegation["glue_records"][0] == {"name": "s-hive0.pdns.example.com.", "ipv4": "203.0.113.10"}
    assert delegation["zone_file_lines"] == [
        "pdns.example.com. IN NS s-hive0.pdns.example.com.",
        "pdns.example.com. IN NS s-hive1.pdns.example.com.",
        "s-hive0.pdns.example.com. IN A 203.0.113.10",
        "s-hive1.pdns.example.com. IN A 203.0.113.11",
    ]
