"""The statistics behind `perflab compare` (docs/compare.md), on run-level values only: one
number per repeat and metric (`perflab.results.run_values`), never requests or seconds pooled
as if they were independent (they share their run's machine state: the run is the unit).

- the spread: the run-to-run standard deviation of a metric (of its logs: about the
  coefficient of variation), from the repeats' own scatter, from an A/A calibration of this
  machine, or both pooled; with neither, none (one repeat a side says nothing about noise);
  plus, between two separate bench runs, the metric's **run level**: what all repeats of one
  run share (the host's pace over those minutes, the database's state), which their scatter
  cannot show. Variation lives at several levels, and the level that differs between the
  things compared is the one to count (Kalibera and Jones, "Rigorous Benchmarking in
  Reasonable Time", ISMM 2013). A duet's pairs cancel it;
- the test: Student's t on the difference of the sides' means (of logs), with the spread's
  degrees of freedom: a change is called at p < ALPHA, i.e. when it exceeds k standard
  errors, k = the t quantile (about 3.3 for a well calibrated machine, more for few runs);
- how many repeats a side would resolve a change of a given size.

Usage::

    spread = choose_spread(P99, old_logs, new_logs, prior=calibrated, paired=False)
    test = t_test(old_logs, new_logs, spread)
    test.p_value < ALPHA, resolvable(spread, 1, 1)   # smallest change called, 1 run a side
"""

from __future__ import annotations

import dataclasses
import functools
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import stats  # type: ignore[import-untyped]  # scipy ships no type stubs

from perflab.results.calibration import MetricSpread

FloatArray = np.ndarray[Any, np.dtype[np.float64]]

# The false-alarm rate per metric: a compare of identical code calls a metric with this
# probability when the spread is right (Student's t). A whole compare has ~16-48 metrics;
# 0.001 keeps the chance that any of 48 is called near 5% (Bonferroni), and "1 metric in
# 100" (the campaign's goal) with a tenfold margin for tails heavier than normal.
ALPHA = 0.001
# Below this p a change is more than identical runs usually show, but not enough to call:
# the verdict says how many repeats would settle it, instead of guessing.
HINT_P = 0.05
CONFIDENCE = 0.95
MAX_REPEATS = 30  # "needs N repeats a side" stops here: beyond, too small for this machine
# Degrees of freedom of the metrics' default run levels (Metric.run_level): the A/A runs of
# docs/compare.md (j), (k) and (l) they were pooled from, less one a set (10 + 3 + 6 runs
# for p99, whose (k) figures rest on 3 of faceblur's 5; throughput and p50 have 18). Not
# cells x runs: a run's cells move together (their levels correlate 0.5-0.86 in (j)).
RUN_LEVEL_FREEDOM = 16
# Smallest spread believed (scale units): histogram buckets are ~0.1% wide, and a spread of
# exactly 0 would make any change infinitely significant.
SPREAD_MIN = {True: 0.002, False: 0.001}


@dataclass(frozen=True)
class Metric:
    """A compared metric. Usage: ``P99.higher_is_better  # False: lower latency is better``"""

    key: str  # throughput | p50 | p99 | errors (perflab.results.run_values)
    label: str
    higher_is_better: bool
    floor: float  # smallest change ever reported: a fraction (errors: of all requests)
    log_scale: bool = True  # changes are ratios (NEW/OLD - 1); False: differences
    # With no spread at all (one repeat a side, no calibration), a change beyond this is still
    # called: it lies far outside every change identical runs made in the A/A campaign.
    gross: float = math.inf
    # The standard deviation of a whole bench run's level, shared by all its repeats (scale
    # units): two separate runs differ by at least this much more than their repeats say.
    run_level: float = 0.0


@dataclass(frozen=True)
class Spread:
    """The run-to-run spread a verdict used. Usage: ``spread.sigma, spread.source``"""

    sigma: float  # standard deviation of one run's value (of its log on a log scale)
    freedom: int  # degrees of freedom of that estimate
    source: str  # where it came from, in words
    # Each side's run level when the sides are two separate bench runs: this machine's
    # calibrated one, else the metric's (Metric.run_level); 0 in a duet (its pairs cancel it).
    run_level: float = 0.0
    run_level_freedom: int = RUN_LEVEL_FREEDOM  # degrees of freedom of the run level


@dataclass(frozen=True)
class TTest:
    """Student's t on the difference of means. Usage: ``test.p_value < ALPHA``"""

    difference: float  # mean(NEW) - mean(OLD), on the metric's scale
    standard_error: float
    p_value: float
    interval: tuple[float, float]  # CONFIDENCE interval of the difference


def scaled(metric: Metric, values: list[float]) -> FloatArray:
    """Values on the metric's scale: logs, or as they are. Usage: ``scaled(P50, [812.0])``"""
    array = np.asarray(values, dtype=np.float64)
    return np.log(array) if metric.log_scale else array


def own_spread(old: FloatArray, new: FloatArray, paired: bool) -> tuple[float, int] | None:
    """(sigma, freedom) from the repeats themselves, or None with one repeat a side.
    Paired (a duet: repeat i of each side ran back to back): from the pairs' differences,
    which drift between pairs cannot inflate. Usage: ``own_spread(old_logs, new_logs, False)``"""
    if paired and old.size == new.size and old.size >= 2:
        differences = new - old
        return float(differences.std(ddof=1)) / math.sqrt(2), old.size - 1
    freedom = old.size + new.size - 2
    if freedom < 1:
        return None
    squares = float(((old - old.mean()) ** 2).sum() + ((new - new.mean()) ** 2).sum())
    return math.sqrt(squares / freedom), freedom


def choose_spread(
    metric: Metric,
    old: FloatArray,
    new: FloatArray,
    *,
    prior: MetricSpread | None = None,
    paired: bool = False,
) -> Spread | None:
    """The spread to judge by: a calibration's (`prior`) pooled with the repeats' own, or
    either alone, with the metric's run level unless `paired` (a duet); None when there is
    neither. Usage: ``choose_spread(P50, old, new)``"""
    spread = _repeat_spread(metric, old, new, prior=prior, paired=paired)
    if spread is None or paired:
        return spread
    level, level_freedom = run_level_of(metric, prior)
    source = spread.source
    if prior is not None and prior.run_level is not None:
        source += f", run level pooled with this machine's ({prior.sessions} runs)"
    return dataclasses.replace(
        spread, run_level=level, run_level_freedom=level_freedom, source=source
    )


def run_level_of(metric: Metric, prior: MetricSpread | None) -> tuple[float, int]:
    """The run level to judge two separate runs by, with its degrees of freedom: the metric's
    default (pooled over the A/A runs of docs/compare.md (j)-(l), RUN_LEVEL_FREEDOM), pooled
    with this machine's calibrated one where it has one, as spreads are pooled: a host that
    drifts raises it, a quiet one lowers it a little. Usage: ``run_level_of(P50, calibrated)``"""
    if prior is None or prior.run_level is None:
        return metric.run_level, RUN_LEVEL_FREEDOM
    freedom = RUN_LEVEL_FREEDOM + prior.run_level_freedom
    pooled = RUN_LEVEL_FREEDOM * metric.run_level**2 + prior.run_level_freedom * prior.run_level**2
    return math.sqrt(pooled / freedom), freedom


def _repeat_spread(
    metric: Metric, old: FloatArray, new: FloatArray, *, prior: MetricSpread | None, paired: bool
) -> Spread | None:
    own = own_spread(old, new, paired)
    own_words = ("pairs" if paired and old.size == new.size else "repeats") + (
        f" ({old.size}+{new.size})"
    )
    if prior is not None and prior.freedom >= 1:
        prior_sigma, prior_freedom = prior.spread, prior.freedom
        own_sigma, own_freedom = own if own is not None else (0.0, 0)
        freedom = prior_freedom + own_freedom
        variance = (prior_freedom * prior_sigma**2 + own_freedom * own_sigma**2) / freedom
        source = f"calibration ({prior.runs} runs)"
        if own_freedom:
            source += f" + own {own_words}"
        return Spread(max(math.sqrt(variance), SPREAD_MIN[metric.log_scale]), freedom, source)
    if own is None:
        return None
    sigma, freedom = own
    return Spread(max(sigma, SPREAD_MIN[metric.log_scale]), freedom, f"own {own_words}")


@functools.lru_cache(maxsize=1024)
def critical(freedom: int, alpha: float = ALPHA) -> float:
    """How many standard errors a change must exceed: the two-sided t quantile.
    Usage: ``critical(9)  # 4.78``"""
    return float(stats.t.ppf(1 - alpha / 2, freedom))


def standard_error(spread: Spread, old_runs: int, new_runs: int) -> float:
    """Standard error of the difference of means: the repeats' scatter, averaged down by
    their count, and each side's run level, which no count of repeats averages down.
    Usage: ``standard_error(s, 3, 3)``"""
    return math.sqrt(_repeats_variance(spread, old_runs, new_runs) + 2 * spread.run_level**2)


def _repeats_variance(spread: Spread, old_runs: int, new_runs: int) -> float:
    return spread.sigma**2 * (1 / old_runs + 1 / new_runs)


def freedom(spread: Spread, old_runs: int, new_runs: int) -> int:
    """Degrees of freedom of that standard error (Welch-Satterthwaite): the spread's own,
    and the run level's (the A/A runs it was measured from) for its part.
    Usage: ``freedom(s, 3, 3)``"""
    repeats = _repeats_variance(spread, old_runs, new_runs)
    level = 2 * spread.run_level**2
    if level <= 0:
        return spread.freedom
    shares = repeats**2 / spread.freedom + level**2 / max(spread.run_level_freedom, 1)
    return max(1, int((repeats + level) ** 2 / shares))


def _tests(spread: Spread, old_runs: int, new_runs: int) -> list[tuple[float, int]]:
    """(standard error, freedom) of each test a change must pass: beyond the repeats'
    scatter (Student's t, the spread's freedom), and, between two separate runs, beyond the
    scatter and both run levels together. The second alone would call more than the first
    where the run level is small beside a scatter known from few repeats: both must pass,
    so a run level only ever makes a call harder."""
    repeats = math.sqrt(_repeats_variance(spread, old_runs, new_runs))
    tests = [(repeats, spread.freedom)]
    if spread.run_level > 0:
        both = standard_error(spread, old_runs, new_runs), freedom(spread, old_runs, new_runs)
        tests.append(both)
    return tests


def t_test(old: FloatArray, new: FloatArray, spread: Spread) -> TTest:
    """The difference of means, its p-value and interval (of the test it is harder to pass).
    Usage: ``t_test(old, new, spread)``"""
    difference = float(new.mean() - old.mean())
    p_value, error, half = max(
        (
            float(2 * stats.t.sf(abs(difference) / error, degrees)),
            error,
            critical(degrees, 1 - CONFIDENCE) * error,
        )
        for error, degrees in _tests(spread, old.size, new.size)
    )
    return TTest(difference, error, p_value, (difference - half, difference + half))


def resolvable(spread: Spread, old_runs: int, new_runs: int) -> float:
    """The smallest difference (scale units) called with these runs a side.
    Usage: ``math.expm1(resolvable(spread, 1, 1))  # 0.21: 21% with one run a side``"""
    return max(critical(degrees) * error for error, degrees in _tests(spread, old_runs, new_runs))


def run_level_limit(spread: Spread) -> float:
    """The smallest difference (scale units) two separate runs can resolve with any number
    of repeats: their run levels' part alone. 0 in a duet. Usage: ``run_level_limit(s)``"""
    return critical(max(spread.run_level_freedom, 1)) * math.sqrt(2) * spread.run_level


def repeats_needed(
    difference: float,
    spread: Spread,
    *,
    prior_freedom: int = 0,
    paired: bool = False,
    limit: int = MAX_REPEATS,
) -> int | None:
    """Repeats a side that would call a change of `difference` (scale units) if the spread
    stays as measured; None past `limit`. Usage: ``repeats_needed(0.08, spread)  # 5``"""
    for runs in range(2, limit + 1):
        own = prior_freedom + (runs - 1 if paired else 2 * (runs - 1))
        estimate = dataclasses.replace(spread, freedom=own)
        if abs(difference) > resolvable(estimate, runs, runs):
            return runs
    return None
