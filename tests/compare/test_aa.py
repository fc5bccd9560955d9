"""Whole runs of identical code (A/A) and of a known change, built with known run-level
values (tests/compare/synthetic.py): what the issue's new user saw must not happen again."""

from __future__ import annotations

import numpy as np

from perflab.compare import Verdict, compare_results
from tests.compare.synthetic import flat_calibration, synthetic_run

CELLS = [("faceblur", "async-inline"), ("faceblur", "sync"), ("notes", "async-postgres")]
SIGMA = 0.04


def _draw(rng: np.random.Generator, repeats: int, factor: float = 1.0) -> list[tuple[float, float]]:
    return [
        (
            500.0 / factor * float(np.exp(rng.normal(0, SIGMA))),
            factor * float(np.exp(rng.normal(0, SIGMA))),
        )
        for _ in range(repeats)
    ]


def test_the_same_code_twice_with_one_repeat_calls_nothing_without_a_calibration() -> None:
    rng = np.random.default_rng(16)
    for _ in range(20):
        old = synthetic_run({cell: _draw(rng, 1) for cell in CELLS})
        new = synthetic_run({cell: _draw(rng, 1) for cell in CELLS})
        comparison = compare_results(old, new)
        assert not comparison.has_regression
        assert comparison.counts()[Verdict.IMPROVED] == 0


def test_ab_pairs_of_identical_code_with_a_calibration_stay_quiet() -> None:
    rng = np.random.default_rng(17)
    calibration = flat_calibration(CELLS, SIGMA)
    called = metrics = 0
    for _ in range(60):
        old = synthetic_run({cell: _draw(rng, 1) for cell in CELLS})
        new = synthetic_run({cell: _draw(rng, 1) for cell in CELLS})
        counts = compare_results(old, new, calibration=calibration).counts()
        called += counts[Verdict.REGRESSION] + counts[Verdict.IMPROVED]
        metrics += sum(counts.values())
    assert called <= metrics // 100  # the campaign's goal: at most 1 metric in 100


def test_a_slowdown_by_half_is_called_with_one_repeat_and_a_calibration() -> None:
    # Half the throughput, twice the latency. (A third slower sat at p99's edge between two
    # separate runs: its default run level, 7%, keeps them from resolving less than +49%.)
    rng = np.random.default_rng(18)
    calibration = flat_calibration(CELLS, SIGMA)
    old = synthetic_run({cell: _draw(rng, 1) for cell in CELLS})
    new = synthetic_run({cell: _draw(rng, 1, factor=2.0) for cell in CELLS})
    comparison = compare_results(old, new, calibration=calibration)
    assert comparison.has_regression
    for cell in comparison.cells:
        for key in ("throughput", "p50", "p99"):
            metric = cell.metric(key)
            assert metric is not None
            assert metric.verdict is Verdict.REGRESSION, (cell.cell, metric.reason)


def test_duet_runs_are_judged_pair_by_pair() -> None:
    # The box drifts +-20% between pairs; within a pair both sides see the same state.
    drift = [1.0, 1.25, 0.8, 1.15, 0.9]
    old_values = [(500.0 / d, d) for d in drift]
    new_values = [(500.0 / (1.1 * d), 1.1 * d) for d in drift]
    old = synthetic_run({CELLS[0]: list(old_values)})
    new = synthetic_run({CELLS[0]: list(new_values)})
    apart = compare_results(old, new)
    assert not apart.duet
    assert not apart.has_regression  # the drift hides a 10% change from unpaired repeats
    old.machine["duet"] = {"id": "d1", "side": "A"}
    new.machine["duet"] = {"id": "d1", "side": "B"}
    duet = compare_results(old, new)
    assert duet.duet
    p50 = duet.cells[0].metric("p50")
    assert p50 is not None
    assert p50.verdict is Verdict.REGRESSION
    assert p50.spread is not None
    assert p50.spread.source.startswith("own pairs")
