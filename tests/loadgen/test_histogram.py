"""LatencyHistogram is HdrHistogram: same percentiles, same wire format, exact merges."""

from __future__ import annotations

import random

from hdrh.histogram import HdrHistogram

from perflab.loadgen import LatencyHistogram
from perflab.loadgen.histogram import HIGHEST_US, PERCENTILES


def _values(seed: int, count: int = 5000) -> list[int]:
    rng = random.Random(seed)
    return [int(rng.lognormvariate(6, 2)) for _ in range(count)]


def test_percentiles_and_encoding_match_hdrh() -> None:
    values = _values(1)
    ours = LatencyHistogram.of(values)
    reference = HdrHistogram(1, HIGHEST_US, 3)
    for value in values:
        reference.record_value(min(value, HIGHEST_US))
    assert ours.values_at_percentiles(PERCENTILES) == reference.get_percentile_to_value_dict(
        list(PERCENTILES)
    )
    assert ours.max_us() == reference.get_max_value()
    assert ours.min_us() == reference.get_min_value()
    assert ours.encode() == reference.encode().decode()


def test_three_significant_digits() -> None:
    hist = LatencyHistogram.of([123_456])
    assert abs(hist.value_at_percentile(50) - 123_456) <= 123_456 / 1000


def test_encode_decode_round_trip() -> None:
    hist = LatencyHistogram.of(_values(2))
    again = LatencyHistogram.decode(hist.encode())
    assert again.total_count == hist.total_count
    assert again.percentiles() == hist.percentiles()
    assert LatencyHistogram.decode("").total_count == 0


def test_merge_equals_recording_everything_in_one() -> None:
    a, b = _values(3), _values(4)
    merged = LatencyHistogram.of(a)
    merged.merge(LatencyHistogram.of(b))
    assert merged.total_count == len(a) + len(b)
    assert merged.percentiles() == LatencyHistogram.of(a + b).percentiles()


def test_empty_and_out_of_range() -> None:
    assert LatencyHistogram().percentiles()["99"] == 0
    hist = LatencyHistogram.of([HIGHEST_US * 10])
    assert hist.total_count == 1
    assert hist.max_us() >= HIGHEST_US
