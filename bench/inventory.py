"""How long validation + allocation take: 3/10/30 hosts × 10/100/500 services.

    .venv/bin/python bench/inventory.py

Prints the median of several runs per cell (parse the stage, parse the catalog, resolve hosts, networks,
volumes, allocate ports and minors against a previous allocation). It measures; it asserts nothing.
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from components.inventory.allocation import Allocations
from components.inventory.feasibility import DRBD_MAX_PEERS
from components.inventory.services import parse_catalog
from components.inventory.site import resolve_site
from components.inventory.stage import ConfigValue, parse_stage

RUNS = 7


def stage_config(hosts: int) -> dict[str, ConfigValue]:
    values: dict[str, Any] = {
        "hive:name": "bench",
        "hive:provider": "aws",
        "hive:region": "ap-northeast-1",
        "hive:cidr": "10.1.0.0/16",
        "hive:number_of_hosts": hosts,
        "hive:internal_cidr": "10.254.0.0/16",
        "hive:mirrored_disk_size": 256,  # GiB: room for catalog_document's up to 200 DRBD volumes of 1 GiB
        "hive:subnets": [
            {"cidr": f"10.1.{i}.0/24", "name": f"subnet-{i}", "available_zone": f"ap-northeast-1{'acd'[i]}"}
            for i in range(3)
        ],
    }
    return {key: ConfigValue(value, "Pulumi.staging.yaml") for key, value in values.items()}


def catalog_document(services: int, hosts: int) -> dict[str, Any]:
    """``services`` services; every fourth (up to 200) with a DRBD volume where the stage allows DRBD (at most 8
    hives: components/inventory/feasibility.py DRBD_MAX_PEERS)."""
    drbd = hosts <= DRBD_MAX_PEERS + 1
    spec: dict[str, Any] = {}
    for i in range(services):
        service: dict[str, Any] = {
            "image": {"from": "debian:trixie", "env": {"N": i}} if i % 3 == 0 else f"registry/app{i}:1",
            "ports": [f"{8000 + i % 50}", f"{20000 + i}:{80}"],
            "environment": {"INDEX": i},
            "placement": {"constraints": ["node.labels.hives == true"]},
        }
        if drbd and i % 4 == 0 and i // 4 < 200:
            service["volumes"] = [{"source": f"vol{i}", "target": "/data", "drbd": {"size": "1G"}}]
        spec[f"svc{i}"] = service
    return {"plugin": "hive_services", "services": spec}


def measure(hosts: int, services: int) -> float:
    config = stage_config(hosts)
    document = catalog_document(services, hosts)
    previous = Allocations.empty()
    timings = []
    for _ in range(RUNS):
        start = time.perf_counter()
        stage = parse_stage(config, "staging")
        catalog = parse_catalog([("services/bench.yml", document)])
        site = resolve_site(stage, catalog, previous)
        timings.append(time.perf_counter() - start)
        previous = site.allocations
    return statistics.median(timings)


def main() -> None:
    print(f"{'hosts':>5} {'services':>8} {'median ms':>10}")
    for hosts in (3, 10, 30):
        for services in (10, 100, 500):
            print(f"{hosts:>5} {services:>8} {measure(hosts, services) * 1000:>10.2f}")


if __name__ == "__main__":
    main()
