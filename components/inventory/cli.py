"""The offline inventory command: resolve a stage from the project's files, no cloud, no Pulumi CLI.

python -m components inventory --stack staging [--project-dir DIR] [--previous-allocations FILE]
python -m components list-hosts|list-services|list-volumes --stack staging
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from components.inventory.errors import ConfigError
from components.inventory.site import Site
from components.inventory.sources import load_site, read_previous_allocations

COMMANDS = ("inventory", "list-hosts", "list-services", "list-volumes")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m components", description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=COMMANDS)
    parser.add_argument("--stack", "-s", required=True, help="the Pulumi stack (private, staging, production, …)")
    parser.add_argument("--project-dir", type=Path, default=Path.cwd(), help="directory holding Pulumi.yaml")
    parser.add_argument(
        "--previous-allocations",
        type=Path,
        help="a JSON/YAML file with a previous 'allocations' (e.g. `pulumi stack output allocations --json`)",
    )
    return parser


def _table(rows: list[list[str]], header: list[str]) -> str:
    widths = [max(len(str(cell)) for cell in column) for column in zip(header, *rows, strict=False)]
    lines = [header, *rows]
    return "\n".join(
        "  ".join(str(cell).ljust(w) for cell, w in zip(line, widths, strict=False)).rstrip() for line in lines
    )


def render(site: Site, command: str) -> str:
    doc = site.to_json()
    if command == "inventory":
        return json.dumps(doc, indent=2)
    if command == "list-hosts":
        rows = [
            [h["name"], h["role"] + (" (hive)" if h["role"] == "repository" and h["is_hive"] else ""),
             h["private_ip"], h["subnet"], h["az"] or "-", "yes" if h["first_hive"] else ""]
            for h in doc["hosts"]
        ]  # fmt: skip
        return _table(rows, ["HOST", "ROLE", "PRIVATE IP", "SUBNET", "AZ", "FIRST HIVE"])
    if command == "list-services":
        rows = [
            [s["name"], s["image"],
             " ".join(f"{p['published']}:{p['target']}/{p['protocol']}" + ("(host)" if p["mode"] == "host" else "")
                      for p in s["ports"]) or "-"]
            for s in doc["services"]
        ]  # fmt: skip
        return _table(rows, ["SERVICE", "IMAGE", "PORTS"])
    rows = [
        [v["name"], v["kind"], str(v["drbd"]["minor"]) if "drbd" in v else "-",
         str(v["drbd"]["port"]) if "drbd" in v else "-", v["drbd"]["size"] if "drbd" in v else "-",
         ",".join(v["drbd"]["diskless"]) if "drbd" in v else "-"]
        for v in doc["volumes"]
    ]  # fmt: skip
    return _table(rows, ["VOLUME", "KIND", "MINOR", "PORT", "SIZE", "DISKLESS"])


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        previous = read_previous_allocations(args.previous_allocations) if args.previous_allocations else None
        site = load_site(args.project_dir, args.stack, previous)
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return 2
    for warning in site.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    print(render(site, args.command))
    return 0
