"""E-divisive change points on synthetic series with known answers (seeded draws)."""

from __future__ import annotations

import numpy as np

from perflab.history.detect import change_points
from perflab.history.series import find_changes


def _noisy(rng: np.random.Generator, level: float, count: int, sigma: float = 0.02) -> list[float]:
    return list(level * np.exp(rng.normal(0.0, sigma, count)))


def test_a_step_is_found_where_it_is() -> None:
    rng = np.random.default_rng(11)
    values = _noisy(rng, 100.0, 20) + _noisy(rng, 112.0, 15)
    found = change_points(np.log(values))
    assert [point.index for point in found] == [20]
    assert found[0].p_value < 0.01


def test_a_flat_series_has_no_change() -> None:
    rng = np.random.default_rng(12)
    assert change_points(np.log(_noisy(rng, 100.0, 40))) == []


def test_flat_series_rarely_get_a_false_change() -> None:
    rng = np.random.default_rng(13)
    false = sum(bool(change_points(np.log(_noisy(rng, 50.0, 25)), seed=n)) for n in range(100))
    assert false <= 3  # ALPHA = 0.01 per series


def test_a_step_down_and_back_up_gives_two_changes() -> None:
    rng = np.random.default_rng(14)
    values = _noisy(rng, 100.0, 15) + _noisy(rng, 85.0, 15) + _noisy(rng, 100.0, 15)
    indices = [point.index for point in change_points(np.log(values))]
    assert len(indices) == 2
    assert abs(indices[0] - 15) <= 1
    assert abs(indices[1] - 30) <= 1


def test_too_short_a_series_has_no_change() -> None:
    assert change_points([1.0, 2.0, 3.0]) == []


def test_changes_carry_their_levels_and_direction() -> None:
    rng = np.random.default_rng(15)
    latencies = _noisy(rng, 10_000.0, 12) + _noisy(rng, 13_000.0, 12)
    (change,) = find_changes("p99", latencies)
    assert change.index == 12
    assert change.worse  # latency up
    assert abs(change.change - 0.3) < 0.05
    throughputs = _noisy(rng, 500.0, 12) + _noisy(rng, 650.0, 12)
    (up,) = find_changes("throughput", throughputs)
    assert not up.worse  # throughput up


def test_changes_below_the_floor_are_not_shown() -> None:
    # a 1% step in a very quiet series is significant, and still below the 2% floor
    rng = np.random.default_rng(16)
    values = _noisy(rng, 100.0, 20, sigma=0.001) + _noisy(rng, 101.0, 20, sigma=0.001)
    assert [p.index for p in change_points(np.log(values))] == [20]
    assert find_changes("p50", values) == []
