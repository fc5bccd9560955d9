"""Does `perflab compare` cry wolf, and does it see a real slowdown? Issue 16's numbers.

Runs `perflab bench STUDY...` 2N times, alternating a plain run and a run with a CPU hog (a
`while True: pass` process pinned to the last CPU, where a split study puts its server), each
with the options given (the defaults when none: what users run). Then judges, with the same
calibration `perflab compare` would find:

- **A/A**: each plain run against the next plain run (N-1 pairs, the same code twice): every
  metric called is a false alarm (goal: at most 1 in 100, no pair exits 1);
- **hog**: each plain run against the hog run right after it (N pairs): called when compare
  would exit 1 (goal: at least 8 in 10);

and prints, for the plain runs, each cell's run-to-run spread of throughput and p50 (the
standard deviation of the logs over every plain repeat, about the CV; goal <= 5%) and the
host's steal during each run. Printed pair by pair as they finish, totals at the end. The
runs stay in --out (results.json each) for `perflab compare` or `perflab history`.

This is a script and not a study because it is about the lab itself: it runs studies.

Usage:
    .venv/bin/python benchmarks/micro/compare_pairs.py notes --runs 6          # defaults, 12 runs
    .venv/bin/python benchmarks/micro/compare_pairs.py faceblur notes --runs 4 -- --repeat 3
    .venv/bin/python benchmarks/micro/compare_pairs.py notes --runs 6 --out pairs --reuse
                                                       # judge stored runs again (compare changed)
    .venv/bin/python benchmarks/micro/compare_pairs.py faceblur notes --runs 6 --no-hog
                                                       # A/A only: pairings and run levels
    .venv/bin/python benchmarks/micro/compare_pairs.py --smoke                 # seconds
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

from perflab.compare import Comparison, Verdict, compare_results
from perflab.compare.verdicts import P50, P99, THROUGHPUT
from perflab.results.calibration import MIN_SESSIONS, calibration_from_runs, find_calibration
from perflab.results.document import read_run
from perflab.results.model import RunResults
from perflab.results.run_values import metric_value, steal_pct

CALLED = (Verdict.REGRESSION, Verdict.IMPROVED)


@contextlib.contextmanager
def cpu_hog() -> Iterator[int]:
    """A process spinning on the last CPU this one may use, for the duration. Yields the CPU."""
    cpu = max(os.sched_getaffinity(0))
    hog = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        os.sched_setaffinity(hog.pid, {cpu})
        yield cpu
    finally:
        hog.kill()
        hog.wait()


def bench(studies: Sequence[str], options: Sequence[str], out: Path, reuse: bool) -> RunResults:
    """One `perflab bench` run in its own process, as a user runs it; its results. With
    `reuse`, a run already stored at `out` is read instead."""
    if reuse and (out / "results.json").exists():
        return read_run(out)
    command = [sys.executable, "-m", "perflab", "bench", *studies, *options, "--no-progress"]
    command += ["--out", str(out)]
    with (out.parent / f"{out.name}.log").open("w", encoding="utf-8") as log:
        done = subprocess.run(command, stdout=log, stderr=subprocess.STDOUT, check=False)
    if not (out / "results.json").exists():
        raise SystemExit(f"{' '.join(command)} exited {done.returncode} with no results")
    return read_run(out)


def judged(old: RunResults, new: RunResults) -> Comparison:
    """What `perflab compare OLD NEW` decides, with the calibration it would find."""
    return compare_results(old, new, calibration=find_calibration(new.machine))


def called(comparison: Comparison) -> list[str]:
    """'cell metric +12.3% regression' for every metric called."""
    return [
        f"{cell.cell} {m.metric.key} {m.change:+.1%} {m.verdict}"
        for cell in comparison.cells
        for m in cell.metrics
        if m.verdict in CALLED
    ]


def verdicts(comparison: Comparison) -> str:
    """'exit 1, 2 of 16 called: cell p50 +40.1% regression; ...' (the exit compare gives)."""
    calls = called(comparison)
    listed = f": {'; '.join(calls)}" if calls else ""
    exit_status = 1 if comparison.has_regression else 0
    return f"exit {exit_status}, {len(calls)} of {metrics_of(comparison)} called{listed}"


def metrics_of(comparison: Comparison) -> int:
    return sum(len(cell.metrics) for cell in comparison.cells)


def spreads(runs: Sequence[RunResults]) -> Iterator[tuple[str, str, int, float, float]]:
    """(study, cell, repeats, throughput spread, p50 spread) over every repeat of `runs`."""
    cells: dict[tuple[str, str], list[tuple[float, float]]] = {}
    for run in runs:
        for study in run.studies:
            for cell in study.cells:
                for repeat in cell.repeats:
                    rate, p50 = metric_value(repeat, "throughput"), metric_value(repeat, "p50")
                    if rate and p50:
                        cells.setdefault((study.name, cell.name), []).append((rate, p50))
    for (study_name, cell_name), values in cells.items():
        if len(values) >= 2:
            logs = [(math.log(rate), math.log(p50)) for rate, p50 in values]
            rate_sd = statistics.stdev(r for r, _ in logs)
            p50_sd = statistics.stdev(p for _, p in logs)
            yield study_name, cell_name, len(values), rate_sd, p50_sd


def steal_range(run: RunResults) -> str:
    values = [
        value
        for study in run.studies
        for cell in study.cells
        for repeat in cell.repeats
        if (value := steal_pct(repeat)) is not None
    ]
    return f"{min(values):.1f}-{max(values):.1f}%" if values else "not counted"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0], epilog="Options after -- go to every bench run."
    )
    parser.add_argument("studies", nargs="*", default=["notes"])
    parser.add_argument("--runs", type=int, default=6, help="plain runs (and as many with a hog)")
    parser.add_argument("--out", type=Path, help="where the runs go (default: a temporary folder)")
    parser.add_argument("--smoke", action="store_true", help="faceblur's smoke profile, 2 runs")
    parser.add_argument(
        "--reuse", action="store_true", help="read runs already in --out instead of running them"
    )
    parser.add_argument(
        "--no-hog", action="store_true", help="plain runs only: A/A pairs and run levels"
    )
    given = list(sys.argv[1:] if argv is None else argv)
    # After "--": options for every `perflab bench` run (e.g. -- --repeat 3 --profile full).
    options = given[given.index("--") + 1 :] if "--" in given else []
    args = parser.parse_args(given[: given.index("--")] if "--" in given else given)
    studies, runs = args.studies, args.runs
    if args.smoke:
        studies, runs, options = ["faceblur"], 2, ["--profile", "smoke"]
    out = args.out or Path(tempfile.mkdtemp(prefix="compare-pairs-"))
    out.mkdir(parents=True, exist_ok=True)
    hogs = "no hog runs" if args.no_hog else f"{runs} with a hog"
    print(f"perflab bench {' '.join([*studies, *options])}: {runs} plain runs, {hogs}")
    print(f"runs in {out}", flush=True)

    plain: list[RunResults] = []
    hogged_runs: list[RunResults] = []
    false_calls, aa_metrics, aa_exit_1, hog_exit_1 = 0, 0, 0, 0
    started_s = time.monotonic()
    for index in range(1, runs + 1):
        plain.append(bench(studies, options, out / f"plain-{index}", args.reuse))
        print(f"plain {index}: steal {steal_range(plain[-1])}", flush=True)
        if index > 1:
            aa = judged(plain[-2], plain[-1])
            calls = called(aa)
            false_calls += len(calls)
            aa_metrics += metrics_of(aa)
            aa_exit_1 += aa.has_regression
            print(f"  A/A plain {index - 1} vs {index}: {verdicts(aa)}", flush=True)
        if args.no_hog:
            continue
        with cpu_hog() as cpu:
            hogged = bench(studies, options, out / f"hog-{index}", args.reuse)
        hogged_runs.append(hogged)
        hog = judged(plain[-1], hogged)
        hog_exit_1 += hog.has_regression
        print(f"  hog on CPU {cpu}, plain {index} vs hog {index}: {verdicts(hog)}", flush=True)

    minutes = (time.monotonic() - started_s) / 60
    print(f"\n{len(plain) + len(hogged_runs)} runs in {minutes:.1f} min")
    if aa_metrics:
        print(f"A/A: {runs - 1} pairs, {false_calls} of {aa_metrics} metrics called "
              f"({100 * false_calls / aa_metrics:.1f} in 100; goal <= 1), "
              f"{aa_exit_1} pairs exit 1 (goal 0)")  # fmt: skip
    if hogged_runs:
        print(f"hog: {hog_exit_1} of {runs} pairs exit 1 (a regression called; goal >= 8 in 10)")
    print("run-to-run spread over every plain repeat (goal <= 5% for throughput and p50):")
    for study_name, cell_name, count, rate_sd, p50_sd in spreads(plain):
        print(f"  {study_name}/{cell_name}: {count} repeats, "
              f"throughput {rate_sd:.1%}, p50 {p50_sd:.1%}")  # fmt: skip
    every_pairing(plain, hogged_runs)
    print_run_levels(plain)
    return 0


def every_pairing(plain: Sequence[RunResults], hogged: Sequence[RunResults]) -> None:
    """Consecutive pairs are few; every pairing of the stored runs uses them all (not
    independent, but each is a compare a user could have run): A/A among the plain runs and
    among the hog runs, and every plain run against every hog run."""
    groups = {
        "A/A, every pairing of the plain runs": list(itertools.combinations(plain, 2)),
        "A/A, every pairing of the hog runs": list(itertools.combinations(hogged, 2)),
        "every plain run vs every hog run": list(itertools.product(plain, hogged)),
    }
    print("every pairing:")
    for title, pairs in groups.items():
        if not pairs:
            continue
        comparisons = [judged(old, new) for old, new in pairs]
        calls = sum(len(called(c)) for c in comparisons)
        metrics = sum(metrics_of(c) for c in comparisons)
        exit_1 = sum(c.has_regression for c in comparisons)
        print(f"  {title}: {len(pairs)} pairs, {calls} of {metrics} metrics called, "
              f"{exit_1} exit 1")  # fmt: skip


def print_run_levels(plain: Sequence[RunResults]) -> None:
    """Each cell's run level over the plain runs (what `perflab calibrate --from` of them
    stores): what two separate runs of unchanged code differ by beyond their repeats'
    scatter, against the defaults compare assumes (docs/compare.md, "the rule")."""
    if len(plain) < MIN_SESSIONS:
        return
    calibration = calibration_from_runs(list(plain))
    metrics = (THROUGHPUT, P50, P99)
    defaults = ", ".join(f"{m.key} {m.run_level:.1%}" for m in metrics)
    print(f"run level over the {len(plain)} plain runs (defaults: {defaults}):")
    for cell in calibration.cells:
        if cell.route is not None:
            continue
        levels = []
        for metric in metrics:
            spread = cell.spreads.get(metric.key)
            if spread is not None and spread.run_level is not None:
                levels.append(f"{metric.key} {spread.run_level:.1%} (inside {spread.spread:.1%})")
        print(f"  {cell.study}/{cell.cell}: {', '.join(levels)}")


if __name__ == "__main__":
    sys.exit(main())
