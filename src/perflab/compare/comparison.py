"""Compare two `perflab bench` runs: per cell and metric, is the change real or noise?

For each cell both runs measured and each metric (throughput of correct answers, p50, p99,
error rate), `compare_results` works out, from the repeats of each side (docs/compare.md):

- the change NEW/OLD - 1, a ratio of the repeats' geometric means (the error rate changes by
  a difference in percentage points instead: a ratio to zero errors means nothing);
- a 95% confidence interval: Welch's t-interval on the logs of the repeats (on the rates
  themselves for errors); unknown with one repeat on either side;
- a Mann-Whitney U test (`mann_whitney`): on the repeats, or with too few of them on
  per-second windows and on latencies drawn from the histograms;
- a noise band: the metric's floor widened by the run-to-run variation of the repeats;

and a `Verdict`. Different machines (CPU model, cores) or cell settings are not comparable.

Usage::

    from perflab.results import read_run

    comparison = compare_results(read_run(Path("old")), read_run(Path("new")))
    comparison.has_regression, comparison.geometric_means[-1].throughput_ratio
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from enum import StrEnum

import numpy as np

from perflab.compare.matching import (
    cells_of,
    machine_difference,
    paired,
    settings_difference,
    unavailable,
)
from perflab.compare.statistics import (
    Figures,
    Metric,
    mann_whitney,
    metric_value,
    variation,
    welch_interval,
)
from perflab.results.model import CellResults, RunResults

# Noise floors: the smallest change called real even when the repeats agree. On a shared
# 2-core box, back-to-back runs of unchanged code drift by a few percent in throughput and
# median (CPU frequency, neighbours, caches), and two repeats can agree by luck.
THROUGHPUT_FLOOR = 0.05
P50_FLOOR = 0.05
# The p99 rests on the slowest 1% of requests, a few dozen in a quick run: one stall (a GC
# pause, a neighbour's burst) moves it by ~10%.
P99_FLOOR = 0.12
# Errors compare as a difference in percentage points (a ratio to 0 errors means nothing);
# one timeout in a quick run of a few hundred requests is already ~0.3-0.5 pp.
ERROR_FLOOR = 0.01
THROUGHPUT = Metric("throughput", "throughput ok/s", higher_is_better=True, floor=THROUGHPUT_FLOOR)
P50 = Metric("p50", "p50", higher_is_better=False, floor=P50_FLOOR)
P99 = Metric("p99", "p99", higher_is_better=False, floor=P99_FLOOR, tail_from_pct=90.0)
ERRORS = Metric("errors", "error rate", higher_is_better=False, floor=ERROR_FLOOR, relative=False)
METRICS = (THROUGHPUT, P50, P99, ERRORS)
# The band adds this many standard deviations of "one OLD repeat vs one NEW repeat" (the two
# sides' coefficients of variation in quadrature) to the floor: about a 95% range of noise.
BAND_SIGMAS = 2.0
CONFIDENCE = 0.95
# With one repeat a side there is no interval; the Mann-Whitney test on windows/samples must
# then support the change at this level. Strict, because windows of one run are not independent.
ALPHA = 0.01


class Verdict(StrEnum):
    """What one metric's change means. Usage: ``Verdict.REGRESSION``"""

    REGRESSION = "regression"
    IMPROVED = "improved"
    WITHIN_NOISE = "within noise"
    UNSTABLE = "unstable"
    NOT_COMPARABLE = "not comparable"


@dataclass(frozen=True)
class MetricComparison:
    """One metric of one cell. Values are per repeat; latencies in us, rates as fractions.

    Usage: ``m.verdict, m.change, m.interval, m.band, m.p_value``
    """

    metric: Metric
    old_values: tuple[float, ...]
    new_values: tuple[float, ...]
    change: float  # NEW/OLD - 1; errors: NEW - OLD (fraction); inf when OLD is 0
    interval: tuple[float, float] | None  # same units as change; None: unknown
    band: float  # +-band around 0 is noise
    p_value: float | None
    test: str  # what the Mann-Whitney test ran on
    verdict: Verdict
    reason: str


@dataclass(frozen=True)
class CellComparison:
    """One cell (or one request name of it) in both runs. Usage: ``c.verdicts()``"""

    study: str
    cell: str
    route: str | None = None  # a request name of the cell; None: all its requests
    metrics: tuple[MetricComparison, ...] = ()
    not_comparable: str | None = None  # why, when no metric could be compared

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


def compare_results(old: RunResults, new: RunResults, routes: bool = False) -> Comparison:
    """Compare every cell of two runs; `routes` adds a row per request name of multi-request
    cells. Usage: ``compare_results(read_run(a), read_run(b)).counts()``"""
    machine = machine_difference(old.machine, new.machine)
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
            old_figures = [Figures.of(repeat) for repeat in old_cell.repeats]
            new_figures = [Figures.of(repeat) for repeat in new_cell.repeats]
            cells.append(CellComparison(study, name, None, _metrics(old_figures, new_figures)))
            if routes:
                cells.extend(_route_comparisons(study, name, old_cell, new_cell))
    return Comparison(old, new, machine, cells, geometric_means(cells))


def _route_comparisons(
    study: str, cell: str, old_cell: CellResults, new_cell: CellResults
) -> list[CellComparison]:
    """A row per request name both runs recorded, when the cell has more than one."""
    old_names = set.intersection(*(set(r.recording.names) for r in old_cell.repeats))
    new_names = set.intersection(*(set(r.recording.names) for r in new_cell.repeats))
    if len(old_names | new_names) < 2:
        return []
    rows = []
    for route in sorted(old_names | new_names):
        if route not in old_names or route not in new_names:
            side = "NEW" if route in old_names else "OLD"
            rows.append(CellComparison(study, cell, route, (), f"not recorded in {side}"))
            continue
        old_route = [Figures.of(repeat, route) for repeat in old_cell.repeats]
        new_route = [Figures.of(repeat, route) for repeat in new_cell.repeats]
        rows.append(CellComparison(study, cell, route, _metrics(old_route, new_route)))
    return rows


def _metrics(old: list[Figures], new: list[Figures]) -> tuple[MetricComparison, ...]:
    return tuple(compare_metric(metric, old, new) for metric in METRICS)


def compare_metric(metric: Metric, old: list[Figures], new: list[Figures]) -> MetricComparison:
    """Compare one metric over two lists of per-repeat figures (all requests or one request
    name's). Usage: ``compare_metric(P99, old_figures, new_figures)``"""
    old_values = np.array([metric_value(metric, r) for r in old])
    new_values = np.array([metric_value(metric, r) for r in new])
    spread = math.hypot(variation(metric, old_values), variation(metric, new_values))
    band = metric.floor + BAND_SIGMAS * spread
    if not metric.relative:
        change = float(new_values.mean() - old_values.mean())
        interval = welch_interval(old_values, new_values, CONFIDENCE)
    elif old_values.min() > 0 and new_values.min() > 0:
        log_interval = welch_interval(np.log(old_values), np.log(new_values), CONFIDENCE)
        change = math.exp(float(np.log(new_values).mean() - np.log(old_values).mean())) - 1
        interval = (
            None
            if log_interval is None
            else (math.expm1(log_interval[0]), math.expm1(log_interval[1]))
        )
    else:  # a zero (nothing answered): no logs, so arithmetic means and no interval
        old_mean, new_mean = float(old_values.mean()), float(new_values.mean())
        change = new_mean / old_mean - 1 if old_mean > 0 else (math.inf if new_mean else 0.0)
        interval = None
    p_value, test = mann_whitney(metric, old, new, old_values, new_values)
    verdict, reason = _verdict(metric, change, interval, band, p_value)
    return MetricComparison(
        metric,
        tuple(float(v) for v in old_values),
        tuple(float(v) for v in new_values),
        change,
        interval,
        band,
        p_value,
        test,
        verdict,
        reason,
    )


def _verdict(
    metric: Metric,
    change: float,
    interval: tuple[float, float] | None,
    band: float,
    p_value: float | None,
) -> tuple[Verdict, str]:
    """The verdict and its reason in words (see docs/compare.md, "Verdicts")."""
    if abs(change) <= band:
        return Verdict.WITHIN_NOISE, "the change lies inside the noise band"
    better = (change > 0) == metric.higher_is_better
    if interval is not None:
        low, high = interval
        if low < -band and high > band:
            return Verdict.UNSTABLE, "the interval reaches past both sides of the band"
        if low <= 0 <= high:
            return Verdict.UNSTABLE, "the repeats vary more than the change: the interval holds 0"
        support = "the interval excludes 0"
    elif p_value is None or not p_value < ALPHA:
        shown = "n/a" if p_value is None else f"{p_value:.2g}"
        return Verdict.UNSTABLE, f"one repeat a side and Mann-Whitney p={shown} >= {ALPHA}"
    else:
        support = f"one repeat a side; Mann-Whitney p={p_value:.2g} < {ALPHA}"
    word = "better" if better else "worse"
    return (
        Verdict.IMPROVED if better else Verdict.REGRESSION
    ), f"{word} beyond the band; {support}"


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
