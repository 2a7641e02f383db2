"""How long the host provisioner takes on real hosts: bare Debian 13 hosts → a ready site, and a no-op re-run;
the floor (the hosts' own package work) measured in the same run; the program's evaluation time.

    sudo .venv/bin/python bench/provisioning.py [--project DIR] [--keep] [--rounds N]
    .venv/bin/python bench/provisioning.py --evaluation [--sizes 3x10,30x500]

Starts a rehearsal lab (four host containers — three hives and a separate repository — plus an outsider, on
a local Docker engine; see tests/rehearsal/lab.py) and runs the real program against it as a ``prepared`` stage
under the rehearsal mocks (commands really run over SSH, tests/rehearsal/engine.py). Prints

* the time to start the bare hosts and the wall time of the first ``up`` (bare hosts → ready site);
* per host, each step's time (from the execution records; the copies, which run in parallel, summed) and the
  span from the host's first step's start to its last step's end;
* the wall time of a second ``up`` and how many resources it executed (a converged site: none);
* the floor, measured at the same time as the first ``up`` (so both see the same load on a shared machine) on
  four more fresh hosts of the same image, in parallel: exactly the package work of the site's ``packages``
  steps (each host's ``HIVE_PACKAGES`` from a preview, conditions resolved by lib.sh on the host) as
  ``apt-get update`` + ``apt-get install --no-install-recommends`` with daemon starts denied (as the packages
  step installs); and the ratio first ``up`` / floor. ``--plain-floor`` also measures, afterwards and alone,
  the plain install (daemons start in their postinst, issue 13's first definition). ``--rounds N`` repeats
  on fresh hosts; the medians.

``--evaluation``: the real program under the harness's plain mocks (no hosts) for 3/10/30 hosts × 10/100/500
services (bench/inventory.py's generated catalog): resources registered, wall seconds and CPU seconds (this
process, all its threads: on a shared machine the wall time also counts other processes' load) per size.

It measures; it asserts nothing. Needs root and a Docker engine (``bash .ci/start-dockerd.sh``).
``--project`` runs another checkout of the project (default: this one); ``--keep`` leaves the lab running.
"""

from __future__ import annotations

import argparse
import shlex
import shutil
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.inventory import catalog_document, stage_config
from tests.harness import BaseMocks, ProgramRun, run_program
from tests.rehearsal.engine import COMMAND, COPY, SKIP, Execution
from tests.rehearsal.lab import Host, Lab, LabUnavailable, engine, host_image
from tests.rehearsal.site import PROJECT, RehearsalSite, site_hosts

EVALUATION_SIZES = [(h, s) for h in (3, 10, 30) for s in (10, 100, 500)]
# lib.sh's own pkg_wanted resolves the package conditions on the host (lib.sh arrives on stdin)
RESOLVE = 'sudo bash -c \'. /dev/stdin; pkg_wanted "$@"; printf "%s\\n" "${PKG_WANTED[@]}" >&3\' resolve'
FLOOR = (
    "sudo env DEBIAN_FRONTEND=noninteractive bash -c '{deny}apt-get -q update >/dev/null && "
    'apt-get -q -y install --no-install-recommends "$@" >/dev/null; '
    "rc=$?; rm -f /usr/sbin/policy-rc.d; exit $rc' floor"
)
DENY_STARTS = 'printf "#!/bin/sh\\nexit 101\\n" >/usr/sbin/policy-rc.d && chmod 755 /usr/sbin/policy-rc.d && '


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


def package_sets(site: RehearsalSite, run: ProgramRun) -> list[list[str]]:
    """Each site host's ``HIVE_PACKAGES`` entries, from the packages commands of ``run``."""
    sets = []
    for r in site.targeted(run):
        if r.type == COMMAND and r.name.endswith("-packages"):
            words = shlex.split(r.inputs["create"])
            (value,) = [w.split("=", 1)[1] for w in words if w.startswith("HIVE_PACKAGES=")]
            sets.append(value.split())
    return sets


def measure_floor(lab: Lab, sets: list[list[str]], deny_starts: bool) -> float:
    """Wall time of the package work of ``sets`` on fresh hosts of ``lab``, one set per host, in parallel."""
    lib = (PROJECT / "hostsetup" / "lib.sh").read_text()
    hosts = list(lab.hosts.values())[: len(sets)]

    def resolve(host: Host, entries: list[str]) -> list[str]:
        rc, out, err = lab.ssh(host.ip, f"{RESOLVE} {' '.join(map(shlex.quote, entries))}", stdin=lib, timeout=120)
        if rc != 0:
            raise RuntimeError(f"resolving packages on {host.ip}: {err}")
        return out.split()

    with ThreadPoolExecutor(len(hosts)) as pool:
        resolved = list(pool.map(resolve, hosts, sets))
        command = FLOOR.format(deny=DENY_STARTS if deny_starts else "")

        def install(host: Host, packages: list[str]) -> None:
            rc, _, err = lab.ssh(host.ip, f"{command} {' '.join(packages)}", timeout=1800)
            if rc != 0:
                raise RuntimeError(f"floor install on {host.ip} failed: {err[-500:]}")

        t0 = time.monotonic()
        list(pool.map(install, hosts, resolved))
        return time.monotonic() - t0


def evaluation(sizes: list[tuple[int, int]], source: Path = PROJECT) -> None:
    """The program of ``source`` under plain mocks: resources and seconds per (hosts, services)."""
    print(f"{'hosts':>5} {'services':>8} {'resources':>9} {'seconds':>8} {'CPU s':>6} {'ms/resource':>11}")
    for hosts, services in sizes:
        with tempfile.TemporaryDirectory(prefix="bench-evaluation-") as tmp:
            project = Path(tmp)
            shutil.copy(source / "__main__.py", project / "__main__.py")  # its own directory is the project's
            for name in ("components", "hostsetup", "Pulumi.yaml"):
                (project / name).symlink_to(source / name)
            (project / "services").mkdir()
            (project / "services" / "bench.yml").write_text(yaml.safe_dump(catalog_document(services, hosts)))
            config = {key: value.value for key, value in stage_config(hosts).items()}
            t0, c0 = time.perf_counter(), time.process_time()
            run = run_program(project, "staging", config, preview=False, mocks=BaseMocks())
            seconds, cpu = time.perf_counter() - t0, time.process_time() - c0
        n = len(run.resources)
        print(f"{hosts:>5} {services:>8} {n:>9} {seconds:8.1f} {cpu:6.1f} {seconds / n * 1000:11.1f}", flush=True)


def one_round(client: Any, image: str, args: argparse.Namespace, number: int) -> dict[str, float]:
    stamp = f"{int(time.time())}-{number}"
    lab = Lab(f"bench-provisioning-{stamp}", client=client, image=image)
    floor_lab = Lab(f"bench-floor-{stamp}", client=client, image=image)
    try:
        floor_lab.start_hosts([(f"floor{h.index}", h.ip) for h in site_hosts(floor_lab.cidr)])
        with tempfile.TemporaryDirectory(prefix="bench-provisioning-") as state_dir:
            site = RehearsalSite(lab, Path(state_dir), log=lambda message: None, project_dir=args.project)
            t0 = time.monotonic()
            site.start()
            started = time.monotonic() - t0
            sets = package_sets(site, site.preview())
            with ThreadPoolExecutor(1) as pool:
                floor_job = pool.submit(measure_floor, floor_lab, sets, True)
                t1 = time.monotonic()
                site.up()
                first = time.monotonic() - t1
                floor_no_starts = floor_job.result()
            first_record = site.mocks.current
            floor = float("nan")
            if args.plain_floor:
                floor_lab.close()
                floor_lab = Lab(f"bench-floor2-{stamp}", client=client, image=image)
                floor_lab.start_hosts([(f"floor{h.index}", h.ip) for h in site_hosts(floor_lab.cidr)])
                floor = measure_floor(floor_lab, sets, deny_starts=False)
            t2 = time.monotonic()
            site.up()
            second = time.monotonic() - t2
            second_record = site.mocks.current

        print(f"round {number + 1} — project: {args.project}")
        print(f"lab {lab.name}: {lab.cidr}, image {image}")
        print(f"bare hosts started (4 + outsider, sshd answering): {started:6.1f} s")
        print(f"first up (bare hosts → ready site):               {first:6.1f} s")
        print(f"  total from nothing:                              {started + first:6.1f} s")
        print(f"  resources executed: {len(first_record.executions)}")
        skipped = [d for d in first_record.decisions if d.operation == SKIP]
        print(f"  not executed (outside the rehearsal's target — swarm layer, DRBD steps): {len(skipped)}")
        print(
            f"floor (same packages, 4 fresh hosts, during the up): {floor_no_starts:6.1f} s  "
            f"→ first up / floor = {first / floor_no_starts:.2f}"
        )
        if args.plain_floor:
            print(f"plain floor (daemons start), alone afterwards:      {floor:6.1f} s")
        print()
        print("per-step time per host, first up (s):")
        print(step_table(site, first_record.executions))
        print()
        print(f"second up (no-op): {second:.1f} s, resources executed: {len(second_record.executions)}")
        for e in second_record.executions:
            changed = next((d.changed for d in second_record.decisions if d.urn == e.urn), ())
            print(f"  {e.name}: {e.operation} (changed inputs: {', '.join(changed) or '-'})")
        print(flush=True)
        return {"first": first, "floor": floor, "floor_no_starts": floor_no_starts, "second": second}
    finally:
        floor_lab.close()
        if args.keep:
            print(f"keeping lab {lab.name} ({lab.cidr})")
        else:
            lab.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--project", type=Path, default=PROJECT, help="the project checkout to run")
    parser.add_argument("--keep", action="store_true", help="leave the lab running afterwards")
    parser.add_argument("--rounds", type=int, default=1, help="rounds on fresh hosts (medians printed)")
    parser.add_argument("--plain-floor", action="store_true", help="also measure the plain install afterwards")
    parser.add_argument("--evaluation", action="store_true", help="measure the program's evaluation time only")
    parser.add_argument("--sizes", default="", help="evaluation sizes, e.g. 3x10,30x500 (default: the 3×3 grid)")
    args = parser.parse_args()
    if args.evaluation:
        sizes = [tuple(map(int, s.split("x"))) for s in args.sizes.split(",") if s] or EVALUATION_SIZES
        evaluation(sizes, args.project)  # type: ignore[arg-type]
        return 0
    try:
        client = engine()
        image = host_image(client)
    except LabUnavailable as exc:
        print(f"cannot run: {exc}", file=sys.stderr)
        return 2

    results = [one_round(client, image, args, n) for n in range(args.rounds)]
    if args.rounds > 1:
        print()
        print(f"medians of {args.rounds} rounds:")
        for key in ("first", "floor_no_starts", "second"):
            print(f"  {key:<16} {statistics.median(r[key] for r in results):6.1f} s")
        ratios = [r["first"] / r["floor_no_starts"] for r in results]
        print(
            f"  first up / floor: {statistics.median(ratios):.2f} (per round: {', '.join(f'{x:.2f}' for x in ratios)})"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
