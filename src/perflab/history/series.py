"""Many stored runs of the same studies (one per commit from CI, say) as series: per cell
and metric, one run-level value per run (the geometric mean of its repeats; the error rate:
their mean), in the order the runs were made, with the change points found in each.

Usage::

    runs = read_runs([Path("ci-results")])            # every run under these paths
    for series in cell_series(runs):
        series.study, series.cell, series.metric, series.values, series.changes
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

from perflab.history.detect import change_points
from perflab.results.document import RESULTS_NAME, read_run
from perflab.results.errors import ResultsNotFoundError
from perflab.results.model import RunResults
from perflab.results.run_values import HIGHER_IS_BETTER, LOG_SCALE, METRIC_KEYS, metric_value

# A change point is shown only when the levels either side differ by at least this much
# (a fraction; errors: of all requests): the floors `perflab compare` reports from.
MIN_CHANGE = {"throughput": 0.02, "p50": 0.02, "p99": 0.05, "errors": 0.01}


@dataclass(frozen=True)
class Point:
    """One run's value of one metric. Usage: ``point.value, point.revision``"""

    run_id: str
    created_at_unix_s: float
    revision: str | None
    value: float
    repeats: int


@dataclass(frozen=True)
class Change:
    """A change point: the level moved from `before` to `after` at point `index`.

    Usage: ``change.ratio - 1  # +0.12: 12% higher``"""

    index: int
    before: float  # mean level of the segment before (geometric for log-scale metrics)
    after: float
    p_value: float
    worse: bool

    @property
    def change(self) -> float:
        """NEW/OLD - 1 (errors: NEW - OLD). Usage: ``f"{change.change:+.1%}"``"""
        if self.before > 0 and self.after > 0:
            return self.after / self.before - 1
        return self.after - self.before


@dataclass
class Series:
    """One metric of one cell over the runs. Usage: ``series.values``"""

    study: str
    cell: str
    metric: str
    points: list[Point] = field(default_factory=list)
    changes: list[Change] = field(default_factory=list)

    @property
    def values(self) -> list[float]:
        """The value of each run, in order. Usage: ``series.values[-1]``"""
        return [point.value for point in self.points]


def run_files(paths: list[Path]) -> list[Path]:
    """Every results.json the paths name: files, run folders, or folders of run folders (any
    depth). Raises ResultsNotFoundError for a path holding none. Usage: ``run_files([p])``"""
    found: list[Path] = []
    for path in paths:
        if path.is_file():
            found.append(path)
        elif path.is_dir():
            inside = sorted(path.rglob(RESULTS_NAME))
            if not inside:
                raise ResultsNotFoundError(f"{path}: no {RESULTS_NAME} in this folder or below")
            found.extend(inside)
        else:
            raise ResultsNotFoundError(f"{path}: no such file or folder")
    return list(dict.fromkeys(found))


def read_runs(paths: list[Path]) -> list[RunResults]:
    """The runs under `paths`, oldest first (by when each was made). Raises ResultsError.
    Usage: ``read_runs([Path("perflab-results")])``"""
    runs = [read_run(file) for file in run_files(paths)]
    return sorted(runs, key=lambda run: (run.created_at_unix_s, run.run_id))


def cell_series(runs: list[RunResults], *, seed: int = 0) -> list[Series]:
    """Every (study, cell, metric) measured in two or more runs, with its change points.
    Usage: ``cell_series(read_runs(paths))``"""
    table: dict[tuple[str, str, str], Series] = {}
    for run in runs:
        for study in run.studies:
            for cell in study.cells:
                if cell.status != "ran" or not cell.repeats:
                    continue
                for key in METRIC_KEYS:
                    values = [metric_value(r, key) for r in cell.repeats]
                    point = _centre([v for v in values if v is not None], LOG_SCALE[key])
                    if point is None:
                        continue
                    series = table.setdefault(
                        (study.name, cell.name, key), Series(study.name, cell.name, key)
                    )
                    revision = run.machine.get("git_revision")
                    series.points.append(
                        Point(run.run_id, run.created_at_unix_s,
                              str(revision) if revision else None, point, len(cell.repeats))
                    )  # fmt: skip
    found = [series for series in table.values() if len(series.points) >= 2]
    for series in found:
        series.changes = find_changes(series.metric, series.values, seed=seed)
    return found


def find_changes(metric: str, values: list[float], *, seed: int = 0) -> list[Change]:
    """The change points of one metric's series at least MIN_CHANGE large, with the levels
    either side. Usage: ``find_changes("p50", [10, 10, 12, 12, 12])``"""
    log_scale = LOG_SCALE[metric] and min(values, default=0.0) > 0
    scaled = [math.log(v) for v in values] if log_scale else list(values)
    points = change_points(scaled, seed=seed)
    edges = [0, *(p.index for p in points), len(values)]
    changes = []
    for number, point in enumerate(points):
        before = _level(scaled[edges[number] : point.index], log_scale)
        after = _level(scaled[point.index : edges[number + 2]], log_scale)
        size = after / before - 1 if log_scale else after - before
        if abs(size) < MIN_CHANGE[metric]:
            continue
        worse = (after > before) != HIGHER_IS_BETTER[metric]
        changes.append(Change(point.index, before, after, point.p_value, worse))
    return changes


def _level(scaled: list[float], log_scale: bool) -> float:
    mean = sum(scaled) / len(scaled)
    return math.exp(mean) if log_scale else mean


def _centre(values: list[float], log_scale: bool) -> float | None:
    if not values:
        return None
    if log_scale and min(values) > 0:
        return math.exp(sum(math.log(v) for v in values) / len(values))
    return sum(values) / len(values)
