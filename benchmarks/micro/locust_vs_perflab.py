"""perflab's own engine against locust's runner (perflab.locust) with 1 and 2 workers.

Two parts, each on this machine (2 cores, shared: every generator competes with the server
for them, so the figures say what a generator costs, not what a cluster would do):

1. **The same study cell, three drivers**: fanout `async-concurrent` (500 users, the users
   model, simulated downstream calls) and notes `async-sqlite` (closed model, POST /notes/),
   each on one fresh server started by the bench's own code, driven by `perflab load`'s
   engine, by locust with 1 worker and with 2, in a rotated order. Printed: correct answers
   per second and the ratio to perflab's, the exact p99 (merged HdrHistograms) beside
   locust's own p99 for the same answers, and each generator's CPU per request (locust:
   workers + master).
2. **What one generator process sustains**: a trivial server (`_wrk_parts.py server raw`:
   uvloop + httptools, ~no work; on core 0 when taskset is there) driven by one `perflab load`
   process and by one locust worker (closed model, 32 connections). Printed: requests/s,
   CPU per request, and the rate one full core would sustain (1 s / CPU per request), hence
   how many locust workers a target rate needs.

    .venv/bin/python benchmarks/micro/locust_vs_perflab.py            # about 4 minutes
    .venv/bin/python benchmarks/micro/locust_vs_perflab.py --smoke    # a minute, tiny loads
    .venv/bin/python benchmarks/micro/locust_vs_perflab.py --only capacity
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from importlib.util import find_spec
from pathlib import Path
from typing import Any

from perflab.bench.launcher import free_port
from perflab.bench.study import load_study
from perflab.bench.target import cell_target
from perflab.bench.workload import cell_streams
from perflab.loadgen import Closed, Expectation, Recording, RequestSpec, Stream, run_streams
from perflab.locust.driver import LocustDriver
from perflab.results.exactness import exactness_rows

Driver = Callable[[list[Stream], Any], Recording]


@dataclasses.dataclass(frozen=True)
class Figures:
    """One driven run, reduced to what is printed."""

    ok_per_s: float
    exact_p99_ms: float
    locust_p99_ms: float | None
    cpu_us_per_request: float
    worker_cpu_us_per_request: float | None  # locust: the workers alone

    @classmethod
    def of(cls, recording: Recording) -> Figures:
        total = recording.total()
        ok = total.requests - total.failure_count
        rows = {row["name"]: row for row in exactness_rows(recording)}
        locust = recording.metadata.get("locust", {})
        workers_cpu_s = sum(float(w["cpu_s"]) for w in locust.get("workers", []))
        return cls(
            ok_per_s=ok / recording.duration_s if recording.duration_s else 0.0,
            exact_p99_ms=total.histogram.value_at_percentile(99.0) / 1000,
            locust_p99_ms=rows.get("Aggregated", {}).get("locust_p99_ms"),
            cpu_us_per_request=1e6 * recording.generator_cpu_s / max(total.requests, 1),
            worker_cpu_us_per_request=(
                1e6 * workers_cpu_s / max(total.requests, 1) if locust else None
            ),
        )


def _drivers(work_dir: Path) -> dict[str, Driver]:
    return {
        "perflab": run_streams,
        "locust x1": LocustDriver(1, work_dir=work_dir / "x1"),
        "locust x2": LocustDriver(2, work_dir=work_dir / "x2"),
    }


def _check(recording: Recording, what: str) -> Recording:
    failures = recording.total().failures
    if failures:
        raise SystemExit(f"{what}: failures {failures}: the drivers would not be comparable")
    return recording


def _cell(name: str, cell: str, overrides: dict[str, Any]) -> tuple[Any, Any]:
    study = load_study(name, "quick")
    plan = study.cell(cell)
    return study, dataclasses.replace(plan, settings={**plan.settings, **overrides})


def run_cells(smoke: bool, work_dir: Path) -> None:
    fanout_users, fanout_s, notes_n = (50, 3.0, 300) if smoke else (500, 15.0, 3000)
    cells: list[tuple[str, str, dict[str, Any]]] = [
        ("fanout", "async-concurrent", {
            "load": {"model": "users", "users": fanout_users,
                     "spawn_rate_per_s": float(fanout_users), "duration_s": fanout_s},
            "downstream_latency_s": 0.5,
        }),
        ("notes", "async-sqlite", {"load": {"model": "closed", "requests": notes_n,
                                            "connections": 10}}),
    ]  # fmt: skip
    print("part 1: one study cell, three drivers (rotated order, one fresh server per cell)")
    header = f"{'cell':<26}{'driver':<11}{'ok/s':>9}{'vs perflab':>11}{'p99 exact':>11}"
    print(header + f"{'p99 locust':>11}{'CPU us/req':>11}{'(workers)':>10}")
    for index, (study_name, cell_name, overrides) in enumerate(cells):
        study, plan = _cell(study_name, cell_name, overrides)
        drivers = _drivers(work_dir / cell_name)
        names = list(drivers)
        order = names[index % 3 :] + names[: index % 3]
        figures: dict[str, Figures] = {}
        with cell_target(study, plan, log_dir=work_dir / cell_name / "server") as target:
            streams = cell_streams(plan, target.base_url)
            warm = dataclasses.replace(streams[0], model=Closed(200, 10))
            run_streams([warm])  # the server's first requests are slower: not measured
            for name in order:
                figures[name] = Figures.of(_check(drivers[name](streams, None), name))
        for name in names:
            f = figures[name]
            ratio = f.ok_per_s / figures["perflab"].ok_per_s
            locust_p99 = f"{f.locust_p99_ms:.0f}" if f.locust_p99_ms is not None else "-"
            workers = f"{f.worker_cpu_us_per_request:.0f}" if f.worker_cpu_us_per_request else "-"
            print(
                f"{study_name + ' ' + cell_name:<26}{name:<11}{f.ok_per_s:>9.0f}{ratio:>11.2f}"
                f"{f.exact_p99_ms:>11.1f}{locust_p99:>11}{f.cpu_us_per_request:>11.0f}{workers:>10}"
            )


def _trivial_server(port: int) -> subprocess.Popen[bytes]:
    pin = ["taskset", "-c", "0"] if shutil.which("taskset") else []
    script = str(Path(__file__).resolve().parent / "_wrk_parts.py")
    server = subprocess.Popen([*pin, sys.executable, script, "server", "raw", str(port)])
    time.sleep(1.0)  # it binds at once; a second covers a busy box
    return server


def run_capacity(smoke: bool, work_dir: Path) -> None:
    requests = 3000 if smoke else 30_000
    print(f"\npart 2: one generator process, closed model, {requests} requests, 32 connections")
    print(f"{'driver':<16}{'req/s':>9}{'CPU us/req':>12}{'req/s at 1 core':>17}")
    port = free_port()
    server = _trivial_server(port)
    try:
        spec = RequestSpec(f"http://127.0.0.1:{port}/", expect=Expectation(status=(200,)))
        stream = Stream([spec], Closed(requests, 32))
        capacity: dict[str, float] = {}
        drivers: Sequence[tuple[str, Driver]] = [
            ("perflab load", run_streams),
            ("locust worker", LocustDriver(1, work_dir=work_dir / "capacity")),
        ]
        for name, driver in drivers:
            f = Figures.of(_check(driver([stream], None), name))
            cpu_us = f.worker_cpu_us_per_request or f.cpu_us_per_request
            capacity[name] = 1e6 / cpu_us
            print(f"{name:<16}{f.ok_per_s:>9.0f}{cpu_us:>12.1f}{capacity[name]:>17.0f}")
    finally:
        server.terminate()
        server.wait()
    per_worker = capacity["locust worker"]
    print(
        f"one locust worker sustains about {per_worker:,.0f} req/s per core here "
        f"({capacity['perflab load'] / per_worker:.1f}x less than one perflab process); "
        f"10,000 req/s needs {math.ceil(10_000 / per_worker)} worker cores"
    )


def main() -> None:
    if find_spec("locust") is None:  # tests/benchmarks skips a script that exits 77
        print("skipped: locust not installed (pip install 'perflab[locust]')", file=sys.stderr)
        sys.exit(77)
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--smoke", action="store_true", help="tiny loads: about a minute")
    parser.add_argument("--only", choices=("cells", "capacity"), default=None)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="perflab-locust-bench-") as folder:
        work_dir = Path(folder)
        if args.only in (None, "cells"):
            run_cells(args.smoke, work_dir)
        if args.only in (None, "capacity"):
            run_capacity(args.smoke, work_dir)


if __name__ == "__main__":
    main()
