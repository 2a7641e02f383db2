"""How long ``pulumi up -s private`` takes, from nothing to the running sample site, and the no-op re-run.

    sudo .venv/bin/python bench/site.py [--keep]

Runs the real program with the project's ``Pulumi.private.yaml`` and the real services/ under the rehearsal's
:class:`~tests.rehearsal.swarm_engine.SwarmRehearsalMocks` — the local provider's host containers on this
machine's engine, the host commands over SSH, the images/networks/services through the hosts' TLS Docker APIs
(see tests/rehearsal/test_private_stage.py) — and prints

* the wall time of the first ``up`` (nothing → the four sample services running);
* per executed resource, its time, grouped as the engine recorded them (the host steps per host, the docker
  resources per daemon), in the order they started;
* the wall time of a second ``up`` and how many resources it executed (a converged site: none).

It measures; it asserts nothing. Needs root and a Docker engine (``bash .ci/start-dockerd.sh``).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.rehearsal.docker_apply import DockerApplier, provide_base_image
from tests.rehearsal.engine import Execution
from tests.rehearsal.lab import LabUnavailable, engine, host_image
from tests.rehearsal.site import PROJECT
from tests.rehearsal.swarm_engine import SwarmRehearsalMocks, seed_base_image, swarm_targets
from tests.rehearsal.test_private_stage import private_config, up


def step_table(executions: list[Execution], t0: float) -> str:
    rows = defaultdict(list)
    for e in executions:
        rows[(e.step or e.name, e.type.rsplit(":", 1)[-1])].append(e)
    lines = [f"{'step':<28} {'type':<14} {'n':>3} {'sum s':>8} {'max s':>7} {'start+s':>8} {'end+s':>7}"]
    for (step, kind), items in sorted(rows.items(), key=lambda kv: min(e.started for e in kv[1])):
        lines.append(
            f"{step:<28} {kind:<14} {len(items):>3} {sum(e.duration for e in items):8.1f} "
            f"{max(e.duration for e in items):7.1f} {min(e.started for e in items) - t0:8.1f} "
            f"{max(e.finished for e in items) - t0:7.1f}"
        )
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--keep", action="store_true", help="leave the site running")
    options = parser.parse_args()
    try:
        client = engine()
        image = host_image(client)
    except LabUnavailable as exc:
        print(f"unavailable: {exc}")
        return 2
    provide_base_image(client, image)
    name = f"pb{os.getpid():x}"
    config = private_config(client, name)
    applier = DockerApplier(client, PROJECT, log=lambda message: None)
    with tempfile.TemporaryDirectory(prefix="hive-bench-") as state_dir:
        mocks = SwarmRehearsalMocks(
            Path(state_dir) / "state.json",
            base_dir=PROJECT,
            targets=swarm_targets(),
            local_applier=applier,
            base_image_seed=seed_base_image(client, image, log=lambda message: None),
            log=None,
        )
        try:
            started = time.time()
            t0 = time.monotonic()
            up(config, mocks)
            first = time.monotonic() - t0
            record = mocks.current
            print(f"private stage {name} ({config['hive:cidr']})")
            print(f"first up (nothing → running sample site): {first:.1f}s, {len(record.executions)} executions")
            print(step_table(record.executions, started))
            t1 = time.monotonic()
            up(config, mocks)
            second = time.monotonic() - t1
            print(f"second up (no-op): {second:.1f}s, {len(mocks.current.executions)} executions")
        finally:
            mocks.close()
            if not options.keep:
                applier.destroy_all(remove_images=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
