"""The warm-up's steadiness test (bench.measure.is_steady): throughput that still climbs is
not steady, throughput that stopped drifting is, and counting noise alone is no drift; the
warm-up itself settles though a second stream's rounds are slow; the summary line names the
main request's p99 where a cell mixes kinds."""

from __future__ import annotations

from pathlib import Path

from perflab.bench.measure import is_steady, summary_line, warm_up
from perflab.loadgen import Closed, RequestSpec, Stream
from perflab.loadgen.histogram import LatencyHistogram
from perflab.loadgen.recording import NameStats, Recording
from perflab.results.model import RepeatResult
from tests.support.servers import downstream_server


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


def test_a_slow_second_stream_does_not_keep_the_watch_from_settling(tmp_path: Path) -> None:
    # payload's 25 MB bodies: each round of the second stream takes seconds. The watch counts
    # the first stream's answers per second; with a slow round in every pass it got one second
    # of data per pass and never had the six it needs before the cap (docs/compare.md).
    with downstream_server(tmp_path, latency_s=4.0) as server:
        fast = Stream([RequestSpec(f"{server.base_url}/healthz", name="fast")], Closed(40, 2))
        slow = Stream([RequestSpec(f"{server.base_url}/work?value=1", name="slow")], Closed(2, 2))
        warm = warm_up([fast, slow], 1.0, max_warmup_s=20.0)
    assert warm.missing == []
    assert warm.steady is True, warm.rates_per_s
    assert warm.used_s < 20.0


def _two_kinds() -> RepeatResult:
    """A repeat of small requests (2-3 ms) and a few big ones (400 ms), as payload's cells."""
    small_us = [2_000] * 500 + [3_000] * 490
    names = {
        "small": NameStats("small", requests=990, histogram=LatencyHistogram.of(small_us)),
        "big": NameStats("big", requests=20, histogram=LatencyHistogram.of([400_000] * 20)),
    }
    start = 1_800_000_000.0
    return RepeatResult(0, start, Recording("http://test", {}, start, start + 10.0, names))


def test_the_summary_shows_the_main_requests_p99_where_a_cell_mixes_kinds() -> None:
    repeat = _two_kinds()
    assert summary_line(repeat, "small").startswith("101.0 req/s, p99 3.0 ms (small), 0 failed")
    assert ", p99 400 ms, " in summary_line(repeat)  # no main request: every request
    assert ", p99 400 ms, " in summary_line(repeat, "missing")
