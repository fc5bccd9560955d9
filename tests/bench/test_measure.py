"""The warm-up's steadiness test (bench.measure.is_steady): throughput that still climbs is
not steady, throughput that stopped drifting is, and counting noise alone is no drift."""

from __future__ import annotations

from perflab.bench.measure import is_steady


def test_a_climbing_throughput_is_not_steady() -> None:
    assert not is_steady([40.0, 50.0, 60.0, 70.0, 80.0, 90.0])


def test_a_flat_throughput_is_steady() -> None:
    assert is_steady([20.0, 60.0, 70.0, 71.0, 69.0, 70.0, 70.0, 71.0])


def test_too_few_seconds_say_nothing() -> None:
    assert not is_steady([70.0, 70.0, 70.0])


def test_a_slow_request_rate_is_judged_against_its_counting_noise() -> None:
    # 4-6 answers a second: a 20% difference is what counting alone gives
    rates = [5.0, 4.0, 6.0, 4.0, 5.0, 4.0]
    assert is_steady(rates, counts=[5, 4, 6, 4, 5, 4])
    assert not is_steady(rates)  # without counts, only STEADY_DRIFT allows
