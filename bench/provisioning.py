"""How long the host provisioner takes on real hosts: bare Debian 13 hosts → a ready site, and a no-op re-run.

    sudo .venv/bin/python bench/provisioning.py [--project DIR] [--keep]

Starts a rehearsal lab (four host containers — three hives and a separate repository — plus an outsider, on
a local Docker engine; see tests/rehearsal/lab.py) and runs the real program against it as a ``prepared`` stage
under the rehearsal mocks (commands really run over SSH, tests/rehearsal/engine.py). Prints

* the time to start the bare hosts and the wall time of the first ``up`` (bare hosts → ready site);
* per host, each step's time (from the execution records; the copies, which run in parallel, summed) and the
  span from the host's first step's start to its last step's end;
* the wall time of a second ``up`` and how many resources it executed (a converged site: none).

It measures; it asserts nothing. Needs root and a Docker engine (``bash .ci/start-dockerd.sh``).
``--project`` runs another checkout of the project (default: this one); ``--keep`` leaves the lab running.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.rehearsal.engine import COMMAND, COPY, SKIP, Execution
from tests.rehearsal.lab import Lab, LabUnavailable, engine, host_image
from tests.rehearsal.site import PROJECT, RehearsalSite


def step_table(site: RehearsalSite, executions: list[Execution]) -> str:
    """Rows: steps in the order they started; columns: hosts; cells: seconds."""
    hosts = [h.hostname for h in site.hosts]
    cells: dict[str, dict[str, float]] = defaultdict(dict)
    first_start: dict[str, float] = {}
    for e in executions:
        host = site.hostname_of(e.host)
        if host is None:
            continue
        row = "copies (summed)" if e.type == COPY else (e.step or e.name) if e.type == COMMAND else e.name
        cells[row][host] = cells[row].get(host, 0.0) + e.duration
        first_start[row] = min(first_start.get(row, e.started), e.started)
    width = max([len(r) for r in cells] + [14])
    lines = [f"{'step':<{width}} " + " ".join(f"{h:>9}" for h in hosts)]
    for row in sorted(cells, key=lambda r: first_start[r]):
        values = [f"{cells[row][h]:9.1f}" if h in cells[row] else f"{'-':>9}" for h in hosts]
        lines.append(f"{row:<{width}} " + " ".join(values))
    spans = []
    for h in hosts:
        mine = [e for e in executions if site.hostname_of(e.host) == h]
        spans.append(max(e.finished for e in mine) - min(e.started for e in mine) if mine else 0.0)
    lines.append(f"{'first → last':<{width}} " + " ".join(f"{t:9.1f}" for t in spans))
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--project", type=Path, default=PROJECT, help="the project checkout to run")
    parser.add_argument("--keep", action="store_true", help="leave the lab running afterwards")
    args = parser.parse_args()
    try:
        client = engine()
        image = host_image(client)
    except LabUnavailable as exc:
        print(f"cannot run: {exc}", file=sys.stderr)
        return 2

    lab = Lab(f"bench-provisioning-{int(time.time())}", client=client, image=image)
    try:
        with tempfile.TemporaryDirectory(prefix="bench-provisioning-") as state_dir:
            site = RehearsalSite(lab, Path(state_dir), log=lambda message: None, project_dir=args.project)
            t0 = time.monotonic()
            site.start()
            started = time.monotonic() - t0
            t1 = time.monotonic()
            site.up()
            first = time.monotonic() - t1
            first_record = site.mocks.current
            t2 = time.monotonic()
            site.up()
            second = time.monotonic() - t2
            second_record = site.mocks.current

        print(f"project: {args.project}")
        print(f"lab {lab.name}: {lab.cidr}, image {image}")
        print(f"bare hosts started (4 + outsider, sshd answering): {started:6.1f} s")
        print(f"first up (bare hosts → ready site):               {first:6.1f} s")
        print(f"  total from nothing:                              {started + first:6.1f} s")
        print(f"  resources executed: {len(first_record.executions)}")
        skipped = [d for d in first_record.decisions if d.operation == SKIP]
        print(f"  not executed (outside the rehearsal's target — swarm layer, DRBD steps): {len(skipped)}")
        print()
        print("per-step time per host, first up (s):")
        print(step_table(site, first_record.executions))
        print()
        print(f"second up (no-op): {second:.1f} s, resources executed: {len(second_record.executions)}")
        for e in second_record.executions:
            changed = next((d.changed for d in second_record.decisions if d.urn == e.urn), ())
            print(f"  {e.name}: {e.operation} (changed inputs: {', '.join(changed) or '-'})")
    finally:
        if args.keep:
            print(f"keeping lab {lab.name} ({lab.cidr})")
        else:
            lab.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
