"""The statistics behind `perflab compare` (docs/compare.md): one repeat's value of a metric,
run-to-run variation, Welch's interval of a difference of means, and the Mann-Whitney U test
with the samples it runs on when there are too few repeats (per-second windows, latencies
drawn from the merged histograms). Pure functions over the stored recordings; the policy
(floors, bands, verdicts) is in compare.py.

Usage::

    from perflab.compare.statistics import Figures, Metric, metric_value

    p99 = Metric("p99", "p99", higher_is_better=False, floor=0.12, tail_from_pct=90.0)
    values = np.array([metric_value(p99, Figures.of(repeat)) for repeat in cell.repeats])
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import stats  # type: ignore[import-untyped]  # scipy ships no type stubs

from perflab.loadgen.histogram import LatencyHistogram
from perflab.loadgen.recording import NameStats
from perflab.results.model import RepeatResult, ok_rate_per_s


@dataclass(frozen=True)
class Metric:
    """A compared metric. Usage: ``P99.higher_is_better  # False: lower latency is better``"""

    key: str  # throughput | p50 | p99 | errors
    label: str
    higher_is_better: bool
    floor: float  # smallest real change: a fraction of OLD (errors: of all requests)
    relative: bool = True  # NEW/OLD - 1; False: NEW - OLD
    tail_from_pct: float = 0.0  # latency samples for the test come from above this percentile


@dataclass(frozen=True)
class Figures:
    """What one repeat recorded, for all its requests or one request name.

    Usage: ``Figures.of(repeat)``, ``Figures.of(repeat, "small")``
    """

    stats: NameStats
    duration_s: float

    @classmethod
    def of(cls, repeat: RepeatResult, name: str | None = None) -> Figures:
        """A repeat's figures (KeyError: `name` not recorded). Usage: see class."""
        stats = repeat.stats(name)
        if stats is None:
            raise KeyError(name)
        return cls(stats, repeat.duration_s)


def variation(metric: Metric, values: np.ndarray[Any, Any]) -> float:
    """Run-to-run variation of one side: coefficient of variation (errors: SD of the rate).
    Usage: ``variation(P50, np.array([812.0, 790.0, 805.0]))``"""
    if values.size < 2:
        return 0.0
    deviation = float(values.std(ddof=1))
    if not metric.relative:
        return deviation
    mean = float(values.mean())
    return deviation / mean if mean > 0 else 0.0


def welch_interval(
    old: np.ndarray[Any, Any], new: np.ndarray[Any, Any], confidence: float
) -> tuple[float, float] | None:
    """`confidence` interval of mean(new) - mean(old), Welch's t; None with < 2 values a side.
    Usage: ``welch_interval(np.log(old_values), np.log(new_values), 0.95)``"""
    if old.size < 2 or new.size < 2:
        return None
    old_var, new_var = old.var(ddof=1) / old.size, new.var(ddof=1) / new.size
    difference = float(new.mean() - old.mean())
    error = math.sqrt(old_var + new_var)
    if error == 0:
        return difference, difference
    freedom = (old_var + new_var) ** 2 / (old_var**2 / (old.size - 1) + new_var**2 / (new.size - 1))
    half = float(stats.t.ppf(0.5 + confidence / 2, freedom)) * error
    return difference - half, difference + half


def metric_value(metric: Metric, figures: Figures) -> float:
    """One repeat's value: ok answers/s, latency percentile in us, or failed fraction.
    Usage: ``metric_value(P99, Figures.of(repeat))`` (or one request name's figures)"""
    stats = figures.stats
    if metric.key == "throughput":
        return ok_rate_per_s(stats, figures.duration_s)
    if metric.key == "errors":
        return stats.failure_count / stats.requests if stats.requests else 0.0
    return float(stats.histogram.value_at_percentile(float(metric.key.removeprefix("p"))))


# On the repeats' own values only from this many a side: with fewer, the test cannot reach
# significance at all (2 vs 2: the smallest two-sided p is 0.33; 4 vs 4: 0.03).
MWU_MIN_REPEATS = 4
# Latencies drawn from a histogram for the test, at most, per side: p-values from 100,000
# latencies flag shifts of a fraction of a percent, which the band calls noise anyway.
SAMPLE_LIMIT = 200


def mann_whitney(
    metric: Metric,
    old: list[Figures],
    new: list[Figures],
    old_values: np.ndarray[Any, Any],
    new_values: np.ndarray[Any, Any],
) -> tuple[float | None, str]:
    """Two-sided Mann-Whitney U p-value and what it ran on: the repeats' values when each side
    has MWU_MIN_REPEATS, else per-second windows (throughput, errors) or latencies drawn from
    the merged histograms. Usage: ``p, test = mann_whitney(P50, old, new, old_v, new_v)``"""
    if min(old_values.size, new_values.size) >= MWU_MIN_REPEATS:
        old_sample, new_sample, test = list(old_values), list(new_values), "repeats"
    elif metric.key in ("throughput", "errors"):
        old_sample, new_sample = _windows(metric, old), _windows(metric, new)
        test = "per-second windows"
    else:
        old_sample, new_sample = _latency_samples(metric, old), _latency_samples(metric, new)
        tail = metric.tail_from_pct
        test = f"latencies above p{tail:g}" if tail else "latencies"
    if not old_sample or not new_sample:
        return None, f"{test}: none recorded"
    if len(set(old_sample) | set(new_sample)) == 1:
        return 1.0, test  # all equal: nothing to rank, and no difference
    return float(stats.mannwhitneyu(old_sample, new_sample).pvalue), test


def _windows(metric: Metric, repeats: list[Figures]) -> list[float]:
    """Per-second ok answers (or failed fraction) of every repeat, last partial second dropped."""
    values: list[float] = []
    for figures in repeats:
        windows = [figures.stats.windows[second] for second in sorted(figures.stats.windows)]
        for window in windows[:-1] if len(windows) > 1 else windows:
            if metric.key == "throughput":
                values.append(window.requests - window.failures)
            elif window.requests:
                values.append(window.failures / window.requests)
    return values


def _latency_samples(metric: Metric, repeats: list[Figures]) -> list[float]:
    """Evenly spaced quantiles (a deterministic draw) of the repeats' merged histogram, from
    the metric's tail percentile up: never more points than requests in that tail."""
    merged = LatencyHistogram()
    for figures in repeats:
        merged.merge(figures.stats.histogram)
    tail_pct = 100.0 - metric.tail_from_pct
    count = min(SAMPLE_LIMIT, int(merged.total_count * tail_pct / 100))
    grid = [metric.tail_from_pct + tail_pct * (i + 0.5) / count for i in range(count)]
    return [float(v) for v in merged.values_at_percentiles(grid).values()]
