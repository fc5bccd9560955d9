"""Compare two `perflab bench` runs: per cell and metric, is the change real or noise?

The unit of inference is the run (docs/compare.md): each metric is one value per repeat
(`perflab.results.run_values`). For each cell both runs measured and each metric,
`compare_results` works out the change NEW/OLD - 1 of the repeats' geometric means (the
error rate: a difference in percentage points), the run-to-run spread to judge it by (the
repeats' own, this machine's A/A calibration, or both pooled) and a `Verdict` by the rule
in `judge`: a change is called only when it exceeds what identical runs on this machine
produce (p < ALPHA = 0.001, Student's t with the spread's degrees of freedom) and the
metric's floor; short of that, it is within noise, or unresolved with the number of repeats
a side that would settle it. Different machines (CPU model, cores) or cell settings are not
comparable. Two runs of one duet (`perflab bench --against`) are judged pair by pair.

Usage::

    comparison = compare_results(read_run(Path("old")), read_run(Path("new")), calibration=c)
    comparison.has_regression, comparison.geometric_means[-1].throughput_ratio
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from perflab.compare.conditions import conditions_notes
from perflab.compare.matching import (
    cells_of,
    machine_difference,
    paired,
    settings_difference,
    unavailable,
)
from perflab.compare.verdicts import METRICS, MetricComparison, Verdict, judge
from perflab.results.calibration import Calibration, CellCalibration
from perflab.results.model import CellResults, RunResults
from perflab.results.run_values import metric_value

__all__ = [
    "METRICS",
    "CellComparison",
    "Comparison",
    "GeometricMean",
    "MetricComparison",
    "Verdict",
    "compare_results",
    "geometric_means",
]


@dataclass(frozen=True)
class CellComparison:
    """One cell (or one request name of it) in both runs. Usage: ``c.verdicts()``"""

    study: str
    cell: str
    route: str | None = None  # a request name of the cell; None: all its requests
    metrics: tuple[MetricComparison, ...] = ()
    not_comparable: str | None = None  # why, when no metric could be compared
    notes: tuple[str, ...] = ()  # what may have bent the measurement (a saturated client)
    # The cell row's figures: the study's main request where both sides recorded it beside
    # other requests (a /healthz probe, seed 003's 25 MB bodies), as the report judges it;
    # None: all requests.
    figures_of: str | None = None

    def verdicts(self) -> list[Verdict]:
        """One verdict per metric, or one NOT_COMPARABLE. Usage: ``c.verdicts()``"""
        if self.not_comparable is not None:
            return [Verdict.NOT_COMPARABLE]
        return [m.verdict for m in self.metrics]

    def metric(self, key: str) -> MetricComparison | None:
        """The comparison of one metric by key. Usage: ``c.metric("p99")``"""
        return next((m for m in self.metrics if m.metric.key == key), None)


@dataclass(frozen=True)
class GeometricMean:
    """Geometric mean of NEW/OLD over a study's cells (study "all": every cell).

    Usage: ``g.throughput_ratio  # 1.10: 10% more throughput``
    """

    study: str
    cells: int
    throughput_ratio: float | None
    p99_ratio: float | None


@dataclass
class Comparison:
    """The whole comparison. Usage: ``comparison.has_regression``"""

    old: RunResults
    new: RunResults
    machine_difference: str | None
    cells: list[CellComparison]
    geometric_means: list[GeometricMean] = field(default_factory=list)
    calibration: Calibration | None = None  # the one used, if any
    duet: bool = False  # OLD and NEW are the two sides of one duet: judged pair by pair

    @property
    def has_regression(self) -> bool:
        """True if any metric of any cell regressed. Usage: ``sys.exit(int(c.has_regression))``"""
        return any(Verdict.REGRESSION in c.verdicts() for c in self.cells)

    def counts(self) -> dict[Verdict, int]:
        """How many metric verdicts of each kind. Usage: ``c.counts()[Verdict.IMPROVED]``"""
        counts = dict.fromkeys(Verdict, 0)
        for cell in self.cells:
            for verdict in cell.verdicts():
                counts[verdict] += 1
        return counts


def compare_results(
    old: RunResults,
    new: RunResults,
    routes: bool = False,
    calibration: Calibration | None = None,
) -> Comparison:
    """Compare every cell of two runs; `routes` adds a row per request name of multi-request
    cells; `calibration` (this machine's A/A spreads) serves where the repeats are too few.
    Usage: ``compare_results(read_run(a), read_run(b)).counts()``"""
    machine = machine_difference(old.machine, new.machine)
    if calibration is not None and machine_difference(calibration.machine, new.machine):
        calibration = None  # another machine's noise says nothing about this one's
    duet = is_duet(old, new)
    cells: list[CellComparison] = []
    for study, old_study, new_study in paired(old.studies, new.studies):
        study_reason = unavailable(old_study, new_study)
        pairs = paired(cells_of(old_study), cells_of(new_study))
        if not pairs:  # a study skipped on both sides, say, still gets its line
            cells.append(CellComparison(study, "(study)", None, (), study_reason or "no cells"))
        for name, old_cell, new_cell in pairs:
            reason = machine or study_reason or unavailable(old_cell, new_cell)
            if reason is None and old_cell is not None and new_cell is not None:
                differences = settings_difference(old_cell.settings, new_cell.settings)
                reason = f"settings differ: {'; '.join(differences)}" if differences else None
            if reason is not None or old_cell is None or new_cell is None:
                cells.append(CellComparison(study, name, None, (), reason))
                continue
            routes_of = _routes(old_cell, new_cell) if routes else []
            main = new_study.main_request if new_study is not None else None
            for route in [None, *routes_of]:
                cells.append(
                    _compare_cell(study, name, route, old_cell, new_cell, calibration, duet, main)
                )
    return Comparison(old, new, machine, cells, geometric_means(cells), calibration, duet)


def is_duet(old: RunResults, new: RunResults) -> bool:
    """True when the two runs are the two sides of one duet (`perflab bench --against`).
    Usage: ``is_duet(read_run(a), read_run(b))``"""
    old_duet, new_duet = old.machine.get("duet"), new.machine.get("duet")
    if not isinstance(old_duet, dict) or not isinstance(new_duet, dict):
        return False
    return old_duet.get("id") == new_duet.get("id") and old_duet.get("side") != new_duet.get("side")


def _routes(old_cell: CellResults, new_cell: CellResults) -> list[str]:
    """The request names of a cell with more than one, in either run."""
    old_names = set.intersection(*(set(r.recording.names) for r in old_cell.repeats))
    new_names = set.intersection(*(set(r.recording.names) for r in new_cell.repeats))
    names = old_names | new_names
    return sorted(names) if len(names) > 1 else []


def _compare_cell(
    study: str,
    cell: str,
    route: str | None,
    old_cell: CellResults,
    new_cell: CellResults,
    calibration: Calibration | None,
    duet: bool,
    main_request: str | None = None,
) -> CellComparison:
    old_repeats, new_repeats = old_cell.repeats, new_cell.repeats
    figures_of = route
    if route is None and main_request is not None:
        figures_of = _main_figures(old_cell, new_cell, main_request)
    if route is not None:
        missing = [
            side
            for side, repeats in (("OLD", old_repeats), ("NEW", new_repeats))
            if any(route not in r.recording.names for r in repeats)
        ]
        if missing:
            return CellComparison(study, cell, route, (), f"not recorded in {missing[0]}")
    prior: CellCalibration | None = None
    if calibration is not None:
        prior = calibration.cell(study, cell, figures_of, new_cell.settings)
    pairs = duet and len(old_repeats) == len(new_repeats)
    metrics = []
    for metric in METRICS:
        old_values = [metric_value(r, metric.key, figures_of) or 0.0 for r in old_repeats]
        new_values = [metric_value(r, metric.key, figures_of) or 0.0 for r in new_repeats]
        spread = prior.spreads.get(metric.key) if prior is not None else None
        metrics.append(judge(metric, old_values, new_values, prior=spread, paired=pairs))
    notes = () if route is not None else conditions_notes(old_cell, new_cell)
    shown = figures_of if route is None else None
    return CellComparison(study, cell, route, tuple(metrics), None, notes, shown)


def _main_figures(old_cell: CellResults, new_cell: CellResults, main: str) -> str | None:
    """The main request, when every repeat of both sides recorded it beside other names."""
    repeats = [*old_cell.repeats, *new_cell.repeats]
    if all(main in r.recording.names and len(r.recording.names) > 1 for r in repeats):
        return main
    return None


def geometric_means(cells: list[CellComparison]) -> list[GeometricMean]:
    """Per study, then "all": the geometric mean of NEW/OLD throughput and p99 over the cells
    (not routes) where that metric was compared. Usage: ``geometric_means(comparison.cells)``"""
    studies: dict[str, list[CellComparison]] = {}
    for cell in cells:
        if cell.route is None and cell.not_comparable is None:
            studies.setdefault(cell.study, []).append(cell)
    every = [cell for group in studies.values() for cell in group]
    groups = [*studies.items(), *([("all", every)] if studies else [])]
    return [
        GeometricMean(name, len(group), _geomean(group, "throughput"), _geomean(group, "p99"))
        for name, group in groups
    ]


def _geomean(cells: list[CellComparison], key: str) -> float | None:
    ratios = [1 + m.change for c in cells if (m := c.metric(key)) is not None]
    finite = [r for r in ratios if 0 < r < math.inf]
    return math.exp(sum(map(math.log, finite)) / len(finite)) if finite else None
