"""The rule of `perflab compare` on run-level values with known answers (docs/compare.md):
identical distributions are called at no more than the documented false-alarm rate, a shift
larger than the resolvable change is called, too few repeats say so.

Every draw comes from a seeded generator: the counts asserted are deterministic.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from perflab.compare.statistics import (
    ALPHA,
    RUN_LEVEL_FREEDOM,
    Spread,
    critical,
    repeats_needed,
    resolvable,
    run_level_limit,
    run_level_of,
)
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
    ("old_runs", "new_runs", "calibration_runs", "paired", "sigma", "run_level"),
    [
        (1, 1, 10, False, SIGMA, 0.0),  # the default: one repeat a side and a calibration
        (1, 1, 5, False, SIGMA, 0.0),
        (3, 3, 0, False, SIGMA, 0.0),  # the repeats alone
        (2, 2, 10, False, SIGMA, 0.0),  # both pooled
        (5, 5, 0, True, SIGMA, 0.0),  # a duet, judged pair by pair
        # two separate runs on a quiet host: repeats within 1%, each run's level its own
        (3, 3, 0, False, 0.01, P50.run_level),
        (5, 5, 0, False, 0.02, P50.run_level),
    ],
)
def test_identical_distributions_are_called_at_most_at_the_documented_rate(
    old_runs: int, new_runs: int, calibration_runs: int, paired: bool, sigma: float,
    run_level: float,
) -> None:  # fmt: skip
    rng = np.random.default_rng(20261206 + 7 * old_runs + calibration_runs + int(100 * sigma))
    called = 0
    for _ in range(DRAWS):
        prior = _calibrated(rng, calibration_runs) if calibration_runs else None
        drift = rng.normal(0.0, 0.05, old_runs) if paired else np.zeros(old_runs)  # slow drift
        old_level, new_level = np.exp(rng.normal(0.0, run_level, 2)) if run_level else (1, 1)
        old = list(np.array(_runs(rng, old_runs, sigma=sigma)) * np.exp(drift) * old_level)
        new = list(np.array(_runs(rng, new_runs, sigma=sigma)) * np.exp(drift) * new_level)
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


def test_two_separate_runs_differ_by_their_levels_which_their_repeats_cannot_show() -> None:
    # notes' async-sqlite, two runs of unchanged code 8 minutes apart on a quiet host
    # (docs/compare.md (j)): each run's three repeats within 0.2%, the runs 3% apart. Judged
    # by the repeats' scatter alone this was a "regression, p = 4.9e-05".
    old, new = [2451.6, 2446.4, 2445.2], [2375.5, 2374.8, 2372.3]
    apart = judge(THROUGHPUT, old, new)
    assert apart.verdict is Verdict.WITHIN_NOISE, apart.reason
    assert "two separate runs resolve here" in apart.reason
    assert "a duet can" in apart.reason
    assert apart.resolvable is not None
    assert apart.resolvable > 0.05  # two runs a few percent apart say nothing here
    # Such values as a duet's five pairs: run levels cancel, and 3% is 3%.
    pairs_old, pairs_new = [*old, 2449.0, 2447.5], [*new, 2376.0, 2373.1]
    assert judge(THROUGHPUT, pairs_old, pairs_new, paired=True).verdict is Verdict.REGRESSION
    # A CPU hog on one of two cores (-45% measured) is far beyond any run level.
    hogged = [value * 0.55 for value in new]
    assert judge(THROUGHPUT, old, hogged).verdict is Verdict.REGRESSION


def test_a_run_level_never_makes_a_call_easier() -> None:
    # A wide scatter known from few repeats: the run level adds a little variance with many
    # degrees of freedom; alone that would lower the bar, so the repeats' own test still holds.
    spread = Spread(0.10, 4, "own repeats (3+3)")
    with_level = Spread(0.10, 4, "own repeats (3+3)", run_level=0.02)
    for runs in (1, 3, 5):
        assert resolvable(with_level, runs, runs) >= resolvable(spread, runs, runs)
    assert run_level_limit(spread) == 0.0
    assert run_level_limit(with_level) > 0.02 * math.sqrt(2) * 3


def test_a_machines_measured_run_level_is_pooled_with_the_default() -> None:
    # `perflab calibrate --runs 10` on a host whose pace drifts 20% from run to run
    drifting = MetricSpread(30, 0.01, True, (1.0,) * 30, sessions=10, run_level=0.20)
    expected = math.sqrt(
        (RUN_LEVEL_FREEDOM * P50.run_level**2 + 9 * 0.20**2) / (RUN_LEVEL_FREEDOM + 9)
    )
    assert run_level_of(P50, drifting) == (pytest.approx(expected), RUN_LEVEL_FREEDOM + 9)
    old, new = [1000.0, 1002.0, 998.0], [1400.0, 1402.0, 1399.0]  # 40% slower
    assert judge(P50, old, new).verdict is Verdict.REGRESSION  # the default run level
    on_drifting = judge(P50, old, new, prior=drifting)
    assert on_drifting.verdict is not Verdict.REGRESSION
    assert "run level pooled with this machine's (10 runs)" in on_drifting.reason
    assert judge(P50, old, new, prior=drifting, paired=True).spread.run_level == 0.0


def test_higher_throughput_is_an_improvement_and_lower_a_regression() -> None:
    prior = MetricSpread(10, SIGMA, True, (1.0,) * 10)
    up = judge(THROUGHPUT, [1000.0], [1500.0], prior=prior)
    down = judge(THROUGHPUT, [1000.0], [600.0], prior=prior)
    assert (up.verdict, down.verdict) == (Verdict.IMPROVED, Verdict.REGRESSION)
    assert up.change == pytest.approx(0.5)
    assert up.spread is not None
    assert up.spread.source == "calibration (10 runs)"
    assert up.spread.run_level == THROUGHPUT.run_level  # two separate runs: their levels
    repeats_alone = math.expm1(critical(9) * SIGMA * math.sqrt(2))
    assert up.resolvable is not None
    assert up.resolvable >= repeats_alone  # a run level only ever makes a call harder


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
    # Two repeats a side, 4% apart within each side, 30% apart between them (beyond what two
    # separate runs can resolve at p50's run level): p < 0.05 but far from ALPHA with 2
    # degrees of freedom.
    old = [1000.0 * math.exp(-0.02), 1000.0 * math.exp(0.02)]
    new = [1300.0 * math.exp(-0.02), 1300.0 * math.exp(0.02)]
    result = judge(P50, old, new)
    assert result.verdict is Verdict.UNRESOLVED
    assert result.repeats_needed is not None
    assert result.repeats_needed > 2
    assert f"needs {result.repeats_needed} repeats a side" in result.reason
    # ... and that many repeats with the same spread do resolve it
    runs = result.repeats_needed
    wider_old = [1000.0 * math.exp(0.02 * (1 if i % 2 else -1)) for i in range(runs)]
    wider_new = [1300.0 * math.exp(0.02 * (1 if i % 2 else -1)) for i in range(runs)]
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
