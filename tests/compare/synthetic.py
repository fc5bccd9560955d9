"""Synthetic bench runs with known run-level values, for compare, calibrate and history tests.

Each repeat is built from a throughput and a latency scale: its latencies are a fixed
lognormal shape times the scale (so p50 and p99 move together with it), its duration
chosen so ok answers per second is the throughput asked for.

Usage::

    run = synthetic_run({("s", "c"): [(100.0, 1.0), (102.0, 1.01)]})
"""

from __future__ import annotations

from typing import Any

import numpy as np

from perflab.loadgen.histogram import LatencyHistogram
from perflab.loadgen.recording import NameStats, Recording
from perflab.results.calibration import Calibration, CellCalibration, MetricSpread
from perflab.results.model import CellResults, RepeatResult, RunResults, StudyResults

MACHINE: dict[str, Any] = {"cpu": "Test CPU @ 2.0GHz", "cores": 2, "usable_cores": 2}
SETTINGS: dict[str, Any] = {"server": {"workers": 1}, "load": {"model": "closed"}}
_SHAPE_US = np.exp(np.random.default_rng(7).normal(np.log(10_000.0), 0.4, 400))

Repeat = tuple[float, float] | tuple[float, float, float]  # throughput, latency scale, errors


def repeat_result(
    index: int, throughput_per_s: float, scale: float, errors: float = 0.0
) -> RepeatResult:
    """One repeat: `throughput_per_s` ok answers/s, latencies times `scale`, a failed fraction."""
    latencies = np.round(_SHAPE_US * scale).astype(np.int64)
    requests = len(latencies)
    failed = round(requests * errors)
    duration_s = (requests - failed) / throughput_per_s if throughput_per_s > 0 else 10.0
    stats = NameStats(
        "req",
        requests=requests,
        failures={"timeout": failed} if failed else {},
        histogram=LatencyHistogram.of(latencies.tolist()),
    )
    start = 1_800_000_000.0 + 1000 * index
    recording = Recording("http://test", {}, start, start + duration_s, {"req": stats})
    if throughput_per_s <= 0:  # nothing answered correctly
        stats.failures = {"timeout": requests}
    return RepeatResult(index, start, recording)


def synthetic_run(
    cells: dict[tuple[str, str], list[Repeat]],
    machine: dict[str, Any] | None = None,
    created_at_unix_s: float = 1_800_000_000.0,
    revision: str | None = None,
) -> RunResults:
    """A run whose cells (study, cell) have these repeats. Usage: see module."""
    studies: dict[str, StudyResults] = {}
    for (study, cell), repeats in cells.items():
        results = studies.setdefault(study, StudyResults(study, study.title(), "?"))
        made = [repeat_result(i, *values) for i, values in enumerate(repeats)]
        results.cells.append(CellResults(cell, cell, "variant", dict(SETTINGS), repeats=made))
    found = max(len(r) for r in cells.values())
    return RunResults(
        run_id=f"run-{created_at_unix_s:.0f}",
        created_at_unix_s=created_at_unix_s,
        command="perflab bench test",
        profile="quick",
        repeat=found,
        machine={**(machine or MACHINE), "git_revision": revision},
        studies=list(studies.values()),
    )


def flat_calibration(
    cells: list[tuple[str, str]], spread: float, runs: int = 10, errors: float = 0.005
) -> Calibration:
    """A calibration where every metric of these cells has this spread (errors: `errors`)."""
    made = []
    for study, cell in cells:
        spreads = {
            key: MetricSpread(runs, spread, True, (1.0,) * runs)
            for key in ("throughput", "p50", "p99")
        }
        spreads["errors"] = MetricSpread(runs, errors, False, (0.0,) * runs)
        made.append(CellCalibration(study, cell, None, dict(SETTINGS), spreads))
    return Calibration(dict(MACHINE), 1_800_000_000.0, ["perflab calibrate test"], made)
