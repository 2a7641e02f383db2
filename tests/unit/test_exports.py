"""ssh_config text and the DNS delegation of the site's zone."""

from __future__ import annotations

from components.inventory.exports import Endpoint, dns_delegation, ssh_config

HIVES = [Endpoint("s-hive0.pdns", "203.0.113.10"), Endpoint("s-hive1.pdns", "203.0.113.11")]


def test_ssh_config_has_one_block_per_host():
    text = ssh_config(HIVES, "admin", "~/.ssh/hive_staging")
    assert text.count("Host ") == 2
    assert "Host s-hive0.pdns s-hive0\n  HostName 203.0.113.10\n  Port 22\n  User admin\n" in text
    assert "  IdentityFile ~/.ssh/hive_staging\n  IdentitiesOnly yes\n" in text


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
