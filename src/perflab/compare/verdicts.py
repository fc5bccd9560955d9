"""One metric of one cell: the rule that turns two sides' run-level values into a verdict
(docs/compare.md, "The rule").

In this order:

1. a change no larger than the metric's floor is **within noise** (too small to report);
2. with no run-to-run spread (one repeat a side and no calibration) it is **unresolved**:
   nothing says how much identical runs differ here; unless it is **gross**, beyond
   anything identical runs produced in the A/A campaign on this kind of machine by a
   factor (GROSS_* below, docs/compare.md "Measured"): then it is called;
3. p < ALPHA (Student's t on the means of the logs, the spread's degrees of freedom): the
   change exceeds k standard errors of identical runs, k = 3.3-4.8: **regression** or
   **improved**;
4. p >= HINT_P: what identical runs produce: **within noise**;
5. otherwise **unresolved**, with the repeats a side that would resolve a change this size.

Usage::

    m = judge(P99, old_values, new_values, prior=calibrated_spread)
    m.verdict, m.reason, m.resolvable
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum

from perflab.compare.statistics import (
    ALPHA,
    HINT_P,
    MAX_REPEATS,
    Metric,
    Spread,
    TTest,
    choose_spread,
    repeats_needed,
    resolvable,
    run_level_limit,
    scaled,
    t_test,
)
from perflab.results.calibration import MetricSpread

# Floors: the smallest change ever reported, whatever the statistics say. Not noise bands
# (the spread is measured): with many repeats a 0.5% shift becomes significant and still is
# not worth a pull request's note. p99 rests on the slowest 1% of requests: a wider floor.
# Gross changes, called even with one repeat a side and no calibration: a ratio NEW/OLD past
# 1 + gross or under 1 / (1 + gross). Each factor is at least the square of the largest
# ratio two runs of unchanged code produced (twice it in logs) in the A/A campaign of
# docs/compare.md "Measured": 20 quick runs of notes over 27 minutes, every pairing, one
# repeat a side: throughput 1.57x, p50 1.59x, p99 2.39x at most (PostgreSQL drifted);
# error rates 0 pp.
GROSS_THROUGHPUT = 1.5
GROSS_P50 = 1.6
GROSS_P99 = 5.0
GROSS_ERRORS = 0.10
# Run levels: how much a whole bench run's level wanders from run to run of unchanged code,
# beyond its repeats' scatter (the host's pace over those minutes, the database's state): the
# standard deviation of the logs. Pooled over three sets of A/A runs on two 2-core VM types
# (docs/compare.md (l)), each set's cells pooled and counted as its runs less one (a run's
# cells move together): notes on a quiet Intel VM, 10 runs in an hour ((j): throughput
# 2.28%, p50 2.21%, p99 1.71%); faceblur and classify on the same type over two hours ((k):
# 4.4%, 6.0%, 12.9%); faceblur and notes on an AMD VM, 6 runs in 51 minutes ((l): 4.15%,
# 4.84%, 9.0%). Pooled: 3.42%, 4.1%, 6.9%. Two separate runs are judged with it; a duet's
# pairs cancel it. With notes' quiet hour alone (2.5%, 2%, 2%, the defaults before (l)),
# every pairing of faceblur's five runs in (k) had 9 of 160 metrics called, one pair exit 1.
RUN_LEVEL_THROUGHPUT = 0.035
RUN_LEVEL_P50 = 0.04
RUN_LEVEL_P99 = 0.07
THROUGHPUT = Metric(
    "throughput", "throughput ok/s", higher_is_better=True, floor=0.02, gross=GROSS_THROUGHPUT,
    run_level=RUN_LEVEL_THROUGHPUT,
)  # fmt: skip
P50 = Metric(
    "p50", "p50", higher_is_better=False, floor=0.02, gross=GROSS_P50, run_level=RUN_LEVEL_P50
)
P99 = Metric(
    "p99", "p99", higher_is_better=False, floor=0.05, gross=GROSS_P99, run_level=RUN_LEVEL_P99
)
# Errors change by a difference in percentage points (a ratio to 0 errors means nothing);
# one timeout in a quick run of a few hundred requests is already ~0.3-0.5 pp.
ERRORS = Metric(
    "errors", "error rate", higher_is_better=False, floor=0.01, log_scale=False,
    gross=GROSS_ERRORS,
)  # fmt: skip
METRICS = (THROUGHPUT, P50, P99, ERRORS)


class Verdict(StrEnum):
    """What one metric's change means. Usage: ``Verdict.REGRESSION``"""

    REGRESSION = "regression"
    IMPROVED = "improved"
    WITHIN_NOISE = "within noise"
    UNRESOLVED = "unresolved"
    NOT_COMPARABLE = "not comparable"


@dataclass(frozen=True)
class MetricComparison:
    """One metric of one cell. Values are per repeat; latencies in us, rates as fractions;
    change, interval and resolvable are in change units (a fraction of OLD; errors: of all
    requests). Usage: ``m.verdict, m.change, m.resolvable, m.spread.source``"""

    metric: Metric
    old_values: tuple[float, ...]
    new_values: tuple[float, ...]
    change: float  # NEW/OLD - 1 of the geometric means; errors: NEW - OLD; inf from 0
    interval: tuple[float, float] | None  # 95% interval of the change; None: unknown
    resolvable: float | None  # smallest change called with these repeats; None: unknown
    spread: Spread | None  # what the verdict was judged by; None: no spread known
    p_value: float | None
    verdict: Verdict
    reason: str
    repeats_needed: int | None = None  # a side, to resolve a change this size


def _is_gross(metric: Metric, difference: float) -> bool:
    """Beyond the metric's gross change, either way: a ratio past 1 + gross or under
    1 / (1 + gross) (so halving and doubling weigh alike), an error rate by gross points."""
    if metric.log_scale:
        return abs(difference) > math.log1p(metric.gross)
    return abs(difference) > metric.gross


def judge(
    metric: Metric,
    old_values: list[float],
    new_values: list[float],
    *,
    prior: MetricSpread | None = None,
    paired: bool = False,
) -> MetricComparison:
    """Compare one metric's per-repeat values of two sides by the rule (module docstring);
    `prior` is this machine's calibrated spread of the metric, `paired` a duet's repeats.
    Usage: ``judge(P50, [812.0, 790.0], [905.0, 921.0])``"""
    old_tuple, new_tuple = tuple(old_values), tuple(new_values)
    if metric.log_scale and min(old_values + new_values) <= 0:
        return _with_zeros(metric, old_tuple, new_tuple)
    old, new = scaled(metric, old_values), scaled(metric, new_values)
    spread = choose_spread(metric, old, new, prior=prior, paired=paired)
    difference = float(new.mean() - old.mean())
    change = _to_change(metric, difference)
    if spread is None:
        verdict, reason = Verdict.WITHIN_NOISE, _floor_reason(metric)
        if _is_gross(metric, difference):
            better = (change > 0) == metric.higher_is_better
            verdict = Verdict.IMPROVED if better else Verdict.REGRESSION
            reason = (
                f"{'better' if better else 'worse'} by more than {_gross_size(metric)}: "
                "far beyond any change between identical runs (docs/compare.md), though one "
                "repeat a side and no calibration say no more"
            )
        elif abs(change) > metric.floor:
            verdict, reason = Verdict.UNRESOLVED, NO_SPREAD
        return MetricComparison(
            metric, old_tuple, new_tuple, change, None, None, None, None, verdict, reason
        )
    test = t_test(old, new, spread)
    prior_freedom = prior.freedom if prior is not None else 0
    needed = repeats_needed(difference, spread, prior_freedom=prior_freedom, paired=paired)
    verdict, reason = _verdict(metric, change, test, spread, needed, min(old.size, new.size))
    return MetricComparison(
        metric,
        old_tuple,
        new_tuple,
        change,
        (_to_change(metric, test.interval[0]), _to_change(metric, test.interval[1])),
        _to_change(metric, resolvable(spread, old.size, new.size)),
        spread,
        test.p_value,
        verdict,
        reason,
        needed if verdict in (Verdict.WITHIN_NOISE, Verdict.UNRESOLVED) else None,
    )


NO_SPREAD = (
    "one repeat a side and no calibration: nothing says how much identical runs differ "
    "here (take --repeat 3, or run `perflab calibrate` once)"
)


def _floor_reason(metric: Metric) -> str:
    return f"smaller than the floor ({_size(metric, metric.floor)})"


def _verdict(
    metric: Metric, change: float, test: TTest, spread: Spread, needed: int | None, runs: int
) -> tuple[Verdict, str]:
    """The verdict and its reason (rule steps 1 and 3-5)."""
    if abs(change) <= metric.floor:
        return Verdict.WITHIN_NOISE, _floor_reason(metric)
    judged = f"p={test.p_value:.2g}, spread {_size(metric, spread.sigma)} from {spread.source}"
    if spread.run_level:
        judged += f", run level {_size(metric, spread.run_level)} a side"
    if test.p_value < ALPHA:
        better = (change > 0) == metric.higher_is_better
        verdict = Verdict.IMPROVED if better else Verdict.REGRESSION
        word = "better" if better else "worse"
        return verdict, f"{word} by more than identical runs differ here ({judged} < {ALPHA})"
    if needed is None and abs(test.difference) <= run_level_limit(spread):
        limit = _size(metric, _to_change(metric, run_level_limit(spread)))
        more = (
            f"a change this size is below what two separate runs resolve here (±{limit}: "
            "each run's own level, which repeats do not average out); a duet can "
            "(perflab bench --against)"
        )
    elif needed is None:
        more = f"a change this size is below what {MAX_REPEATS} repeats a side resolve"
    else:
        more = f"needs {needed} repeats a side to resolve a change of this size"
    if test.p_value >= HINT_P:
        hint = f"; {more}" if needed is None or needed > runs else ""
        return Verdict.WITHIN_NOISE, f"like identical runs ({judged}){hint}"
    return Verdict.UNRESOLVED, f"{more} ({judged})"


def _with_zeros(metric: Metric, old: tuple[float, ...], new: tuple[float, ...]) -> MetricComparison:
    """A log-scale metric where some repeat recorded 0 (nothing answered): no logs. Only
    "all of one side answered nothing, none of the other" is called."""
    old_mean, new_mean = sum(old) / len(old), sum(new) / len(new)
    change = new_mean / old_mean - 1 if old_mean > 0 else (math.inf if new_mean else 0.0)
    verdict, reason = Verdict.UNRESOLVED, "a repeat recorded nothing (0): no ratio to judge"
    old_none, new_none = not any(old), not any(new)  # every repeat of the side recorded 0
    if old_none and new_none:
        verdict, reason = Verdict.WITHIN_NOISE, "nothing recorded on either side"
    elif metric.key == "throughput" and ((old_none and all(new)) or (new_none and all(old))):
        verdict = Verdict.IMPROVED if old_none else Verdict.REGRESSION
        reason = f"no correct answer at all in {'OLD' if old_none else 'NEW'}"
    return MetricComparison(metric, old, new, change, None, None, None, None, verdict, reason)


def _to_change(metric: Metric, difference: float) -> float:
    """A difference on the metric's scale as a change: NEW/OLD - 1, or as it is."""
    return math.expm1(difference) if metric.log_scale else difference


def _gross_size(metric: Metric) -> str:
    return f"a factor {1 + metric.gross:.2f}" if metric.log_scale else _size(metric, metric.gross)


def _size(metric: Metric, value: float) -> str:
    return f"{value:.1%}" if metric.log_scale else f"{value * 100:.2f}pp"


__all__ = ["ERRORS", "METRICS", "P50", "P99", "THROUGHPUT", "MetricComparison", "Verdict", "judge"]
