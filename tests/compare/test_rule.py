"""The rule of `perflab compare` on run-level values with known answers (docs/compare.md):
identical distributions are called at no more than the documented false-alarm rate, a shift
larger than the resolvable change is called, too few repeats say so.

Every draw comes from a seeded generator: the counts asserted are deterministic.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from perflab.compare.statistics import ALPHA, Spread, critical, repeats_needed
from perflab.compare.verdicts import ERRORS, P50, P99, THROUGHPUT, Verdict, judge
from perflab.results.calibration import MetricSpread, spread_of

CALLED = {Verdict.REGRESSION, Verdict.IMPROVED}
SIGMA = 0.04  # run-to-run spread of one run's log value: ~4% CV, a shared 2-core box
DRAWS = 10_000


def _runs(
    rng: np.random.Generator, count: int, centre: float = 1000.0, sigma: float = SIGMA
) -> list[float]:
    return list(centre * np.exp(rng.normal(0.0, sigma, count)))


def _calibrated(rng: np.random.Generator, runs: int, sigma: float = SIGMA) -> MetricSpread:
    """A calibration measured as `perflab calibrate` does: `runs` A/A runs of the cell."""
    values = _runs(rng, runs, sigma=sigma)
    spread = spread_of(values, log_scale=True)
    assert spread is not None
    return MetricSpread(runs, spread, True, tuple(values))


@pytest.mark.parametrize(
    ("old_runs", "new_runs", "calibration_runs", "paired"),
    [
        (1, 1, 10, False),  # the default: one repeat a side and a calibration
        (1, 1, 5, False),
        (3, 3, 0, False),  # the repeats alone
        (2, 2, 10, False),  # both pooled
        (5, 5, 0, True),  # a duet, judged pair by pair
    ],
)
def test_identical_distributions_are_called_at_most_at_the_documented_rate(
    old_runs: int, new_runs: int, calibration_runs: int, paired: bool
) -> None:
    rng = np.random.default_rng(20261206 + 7 * old_runs + calibration_runs)
    called = 0
    for _ in range(DRAWS):
        prior = _calibrated(rng, calibration_runs) if calibration_runs else None
        drift = rng.normal(0.0, 0.05, old_runs) if paired else np.zeros(old_runs)  # slow drift
        old = list(np.array(_runs(rng, old_runs)) * np.exp(drift))
        new = list(np.array(_runs(rng, new_runs)) * np.exp(drift))
        if judge(P50, old, new, prior=prior, paired=paired).verdict in CALLED:
            called += 1
    # ALPHA = 0.001 per metric is the documented level; 10,000 draws at that rate give
    # 10 +- 3 calls: twice the level is three standard deviations away.
    assert called / DRAWS <= 2 * ALPHA


def test_a_shift_larger_than_the_resolvable_change_is_called() -> None:
    rng = np.random.default_rng(1)
    resolvable = critical(9) * SIGMA * math.sqrt(2)  # 1 run a side, 10 calibration runs
    shift = 2 * resolvable
    verdicts = []
    for _ in range(500):
        prior = _calibrated(rng, 10)
        old, new = _runs(rng, 1), _runs(rng, 1, centre=1000.0 * math.exp(shift))
        verdicts.append(judge(P50, old, new, prior=prior).verdict)  # slower: worse
    assert verdicts.count(Verdict.REGRESSION) / len(verdicts) >= 0.9
    assert Verdict.IMPROVED not in verdicts


def test_higher_throughput_is_an_improvement_and_lower_a_regression() -> None:
    prior = MetricSpread(10, SIGMA, True, (1.0,) * 10)
    up = judge(THROUGHPUT, [1000.0], [1500.0], prior=prior)
    down = judge(THROUGHPUT, [1000.0], [600.0], prior=prior)
    assert (up.verdict, down.verdict) == (Verdict.IMPROVED, Verdict.REGRESSION)
    assert up.change == pytest.approx(0.5)
    assert up.spread is not None
    assert up.spread.source == "calibration (10 runs)"
    assert up.resolvable == pytest.approx(math.expm1(critical(9) * SIGMA * math.sqrt(2)))


def test_one_repeat_a_side_without_calibration_says_what_it_needs() -> None:
    result = judge(P99, [1000.0], [1400.0])
    assert result.verdict is Verdict.UNRESOLVED
    assert result.spread is None
    assert result.resolvable is None
    assert "perflab calibrate" in result.reason
    assert "--repeat 3" in result.reason
    small = judge(P99, [1000.0], [1010.0])  # under the floor: nothing to resolve
    assert small.verdict is Verdict.WITHIN_NOISE


def test_too_few_repeats_for_a_middling_change_says_how_many() -> None:
    # Two repeats a side, 4% apart within each side, 15% apart between them: p < 0.05 but
    # far from ALPHA with 2 degrees of freedom.
    old = [1000.0 * math.exp(-0.02), 1000.0 * math.exp(0.02)]
    new = [1150.0 * math.exp(-0.02), 1150.0 * math.exp(0.02)]
    result = judge(P50, old, new)
    assert result.verdict is Verdict.UNRESOLVED
    assert result.repeats_needed is not None
    assert result.repeats_needed > 2
    assert f"needs {result.repeats_needed} repeats a side" in result.reason
    # ... and that many repeats with the same spread do resolve it
    runs = result.repeats_needed
    wider_old = [1000.0 * math.exp(0.02 * (1 if i % 2 else -1)) for i in range(runs)]
    wider_new = [1150.0 * math.exp(0.02 * (1 if i % 2 else -1)) for i in range(runs)]
    assert judge(P50, wider_old, wider_new).verdict is Verdict.REGRESSION


def test_repeats_needed_gives_up_on_changes_below_what_the_machine_resolves() -> None:
    spread = Spread(0.10, 4, "own repeats (3+3)")
    assert repeats_needed(0.001, spread) is None
    needed = repeats_needed(0.2, spread)
    assert needed is not None
    assert 2 <= needed <= 30


def test_error_rate_changes_by_percentage_points() -> None:
    prior = MetricSpread(10, 0.002, False, (0.0,) * 10)
    appeared = judge(ERRORS, [0.0], [0.2], prior=prior)
    assert appeared.verdict is Verdict.REGRESSION
    assert appeared.change == pytest.approx(0.2)
    one_timeout = judge(ERRORS, [0.0], [0.004], prior=prior)  # under the 1 pp floor
    assert one_timeout.verdict is Verdict.WITHIN_NOISE


def test_nothing_answered_is_a_regression_and_never_a_log_of_zero() -> None:
    gone = judge(THROUGHPUT, [950.0, 1000.0], [0.0, 0.0])
    assert gone.verdict is Verdict.REGRESSION
    assert "no correct answer at all in NEW" in gone.reason
    assert judge(THROUGHPUT, [0.0], [0.0]).verdict is Verdict.WITHIN_NOISE
    assert judge(THROUGHPUT, [0.0, 900.0], [1000.0, 990.0]).verdict is Verdict.UNRESOLVED


def test_a_duet_judges_pair_differences_so_drift_between_pairs_does_not_hide_a_change() -> None:
    # Each pair ran back to back; the box drifted +-20% between pairs; NEW is 10% slower.
    drift = [1.0, 1.2, 0.85, 1.1, 0.9, 1.15]
    old = [1000.0 * d for d in drift]
    new = [1100.0 * d * (1.005 if i % 2 else 0.995) for i, d in enumerate(drift)]
    assert judge(P50, old, new, paired=True).verdict is Verdict.REGRESSION
    assert judge(P50, old, new, paired=False).verdict is not Verdict.REGRESSION


def test_one_repeat_a_side_still_calls_a_gross_change() -> None:
    """Beyond GROSS_*: far outside every change identical runs made in the A/A campaign."""
    halved = judge(THROUGHPUT, [200.0], [200.0 / (1 + THROUGHPUT.gross) * 0.9])
    assert halved.verdict is Verdict.REGRESSION
    assert "far beyond" in halved.reason
    doubled = judge(THROUGHPUT, [200.0], [200.0 * (1 + THROUGHPUT.gross) * 1.1])
    assert doubled.verdict is Verdict.IMPROVED
    slower = judge(P99, [10_000.0], [10_000.0 * (1 + P99.gross) * 1.1])
    assert slower.verdict is Verdict.REGRESSION
    inside = judge(THROUGHPUT, [200.0], [200.0 / (1 + THROUGHPUT.gross) * 1.1])
    assert inside.verdict is Verdict.UNRESOLVED  # large, but identical runs came this close
    errors = judge(ERRORS, [0.0], [ERRORS.gross + 0.01])
    assert errors.verdict is Verdict.REGRESSION
