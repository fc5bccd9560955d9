"""One measured run of a cell on a running target: warm up, sample signals, run the load.

The warm-up runs until throughput is steady, not for a fixed time: at least the study's
`warmup_s`, then on until the answers per second of the last STEADY_WINDOW_S seconds agree
with the STEADY_WINDOW_S before them (within STEADY_DRIFT, or what counting alone explains),
at most `max_warmup_s`. Every stream gets the first round (to wake the code, pools and caches
it uses); after it, only the first stream, the one watched. A fresh server's first seconds
(imports, pools, caches, a JIT-less interpreter's first calls, CPU frequency ramping) are
slower than its steady state; a fixed warm-up either wastes time or measures part of that ramp.
What was used is recorded in the repeat (`extra["conditions"]`), with the generator's CPU
share, the machine's load before and the host's steal while the load ran.

Usage::

    with cell_target(study, plan, log_dir=logs) as target:
        streams = cell_streams(plan, target.base_url)
        warm = warm_up(streams, plan.warmup_s, max_warmup_s=30.0)
        warm.missing                                       # paths that answered 404
        repeat = measure(streams, target.base_url, target.pid, repeat=0)
        summary_line(repeat)                               # "12.1 req/s, p99 812 ms, 0 failed"
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from perflab.bench.launcher import tree_cpu_s
from perflab.bench.signals import SignalSampler
from perflab.bench.workload import warmup_streams
from perflab.loadgen import Recording, Stream, run, run_streams
from perflab.results.model import RepeatResult, Signals
from perflab.results.run_values import (
    GENERATOR_SATURATED,
    STEAL_NOTICEABLE_PCT,
    generator_cpu_share,
    steal_pct,
)

ProgressCallback = Callable[[float, int, int], None]
# What runs a cell's measured load: perflab's own engine (run_streams), or another runner
# passed in from above the bench (perflab.locust.driver.LocustDriver, `--engine locust`).
LoadDriver = Callable[[list[Stream], ProgressCallback | None], Recording]
SIGNAL_INTERVAL_S = 1.0


STEADY_WINDOW_S = 3  # seconds compared with the seconds before them
STEADY_DRIFT = 0.05  # relative change of answers per second still called steady


@dataclass
class WarmUp:
    """What a warm-up did. Usage: ``warm.missing, warm.used_s, warm.steady``"""

    missing: list[str]  # request names whose every answer was 404
    used_s: float
    steady: bool | None  # None: a fixed warm-up, steadiness not watched
    rates_per_s: list[float] = field(default_factory=list)  # answers in each second

    def conditions(self) -> dict[str, Any]:
        """As stored in the repeat's conditions. Usage: ``warm.conditions()``"""
        return {
            "warmup_s": round(self.used_s, 2),
            "warmup_steady": self.steady,
            "warmup_rates_per_s": [round(rate, 1) for rate in self.rates_per_s],
        }


def warm_up(streams: list[Stream], warmup_s: float, *, max_warmup_s: float | None = None) -> WarmUp:
    """Send the cell's requests at low concurrency, not recorded: at least one round and
    `warmup_s`, then (with `max_warmup_s` above it) until throughput is steady or
    `max_warmup_s` has passed. A `warmup_s` of 0 asks for no warm-up: one round only, to see
    the endpoints exist. `missing` names the requests whose every answer was 404: endpoints
    this service does not have, so the cell is not available (never faked). Usage: see module.
    """
    started_s = time.monotonic()
    watch = warmup_s > 0 and max_warmup_s is not None and max_warmup_s > warmup_s
    limit_s = max_warmup_s if watch and max_warmup_s is not None else warmup_s
    not_found: dict[str, bool] = {}
    # Per whole second since the start: answers of the first stream's rounds finished in it,
    # and the time those rounds took. Only the first stream's: another stream's rounds (25 MB
    # bodies, say) take seconds each and would make every second's count lumpy.
    answers: dict[int, tuple[int, float]] = {}
    warm_streams = warmup_streams(streams)
    steady: bool | None = False if watch else None
    passes = 0
    while True:
        # While watching, every stream gets the first pass (to wake what it uses), then the
        # watched one alone: a pass with 25 MB bodies in it takes seconds and gives the watch
        # one second of answers, so six such seconds never fit under the cap.
        for index, warm in enumerate(warm_streams[:1] if watch and passes else warm_streams):
            round_started_s = time.monotonic()
            recording = run(
                warm.requests, warm.model, keepalive=warm.keepalive, timeout_s=warm.timeout_s
            )
            for name, stats in recording.names.items():
                only_404 = 0 < stats.requests == stats.failures.get("status_404", 0)
                not_found[name] = not_found.get(name, True) and only_404
            if index == 0:
                now_s = time.monotonic()
                count, busy_s = answers.get(int(now_s - started_s), (0, 0.0))
                answers[int(now_s - started_s)] = (
                    count + recording.total().requests,
                    busy_s + now_s - round_started_s,
                )
        passes += 1
        elapsed_s = time.monotonic() - started_s
        if any(not_found.values()) or elapsed_s >= limit_s:
            break
        if watch and elapsed_s >= warmup_s and is_steady(*_per_second(answers, elapsed_s)):
            steady = True
            break
    elapsed_s = time.monotonic() - started_s
    missing = sorted(name for name, gone in not_found.items() if gone)
    return WarmUp(missing, elapsed_s, steady, _per_second(answers, elapsed_s)[0])


def _per_second(
    answers: dict[int, tuple[int, float]], elapsed_s: float
) -> tuple[list[float], list[int]]:
    """Answers per second of the whole seconds so far that saw a round end (the running
    second left out: it is partial), and the answers counted in each."""
    seconds = [s for s in range(int(elapsed_s)) if s in answers and answers[s][1] > 0]
    return [answers[s][0] / answers[s][1] for s in seconds], [answers[s][0] for s in seconds]


def is_steady(
    rates: list[float], counts: list[int] | None = None, window_s: int = STEADY_WINDOW_S
) -> bool:
    """True when the last `window_s` seconds' answers per second match the `window_s` before
    them: within STEADY_DRIFT, or within what counting alone varies by (two Poisson standard
    errors of the `counts` behind each rate). Usage: ``is_steady([40, 61, 70, 71, 69, 72, 70])``"""
    if len(rates) < 2 * window_s:
        return False
    before = sum(rates[-2 * window_s : -window_s]) / window_s
    last = sum(rates[-window_s:]) / window_s
    if before <= 0 or last <= 0:
        return False
    counting = 0.0
    if counts is not None:
        counted_before, counted_last = (
            sum(counts[-2 * window_s : -window_s]),
            sum(counts[-window_s:]),
        )
        if min(counted_before, counted_last) > 0:
            counting = 2 * math.sqrt(1 / counted_before + 1 / counted_last)
    return abs(last / before - 1) <= max(STEADY_DRIFT, counting)


def measure(
    streams: list[Stream],
    base_url: str,
    pid: int | None,
    *,
    repeat: int,
    progress: ProgressCallback | None = None,
    interval_s: float = SIGNAL_INTERVAL_S,
    driver: LoadDriver | None = None,
) -> RepeatResult:
    """Run the measured load with the server's signals sampled: one repeat of a cell.

    Usage: ``measure(streams, target.base_url, target.pid, repeat=0)``
    """
    sampler = SignalSampler(base_url, pid, interval_s=interval_s)
    cpu_before_s = tree_cpu_s(pid) if pid is not None else None
    t0_unix_s = time.time()
    sampler.start(t0_unix_s)
    try:
        recording = (driver or run_streams)(streams, progress)
    finally:
        signals = sampler.stop()
    cpu_after_s = tree_cpu_s(pid) if pid is not None else None
    _align(signals, recording.started_at_unix_s - t0_unix_s, interval_s)
    server_cpu_s = None
    if cpu_before_s is not None and cpu_after_s is not None:
        server_cpu_s = round(cpu_after_s - cpu_before_s, 3)
    return RepeatResult(
        repeat=repeat,
        started_at_unix_s=recording.started_at_unix_s,
        recording=recording,
        signals=Signals.from_dict(signals),
        server_cpu_s=server_cpu_s,
        generator_cpu_s=round(recording.generator_cpu_s, 3),
    )


def _align(signals: dict[str, Any], shift_s: float, interval_s: float) -> None:
    """Sample times relative to the load's own start: the generators start later than the
    sampler (building a 25 MB body takes seconds), and samples from before are left out."""
    series = []
    for sample in signals.get("series", []):
        if isinstance(sample, dict) and isinstance(sample.get("t_s"), int | float):
            sample["t_s"] = round(sample["t_s"] - shift_s, 3)
            if sample["t_s"] >= -interval_s / 2:
                series.append(sample)
    signals["series"] = series


def summary_line(repeat: RepeatResult, main: str | None = None) -> str:
    """``"12.1 req/s, p99 812 ms, 0 failed"`` for the display; where the cell sends several
    kinds of request, the p99 is the study's main request's, named (``"p99 3.3 ms (small)"``).
    Usage: ``summary_line(repeat, study.main_request)``"""
    total = repeat.total
    # A cell's p99 over every request mixes kinds: payload's small requests read "p99 361 ms"
    # from its 25 MB bodies. The main request is the one the study's headline is about.
    named = repeat.stats(main) if main and len(repeat.recording.names) > 1 else None
    latency = named if named is not None and named.requests else total
    p99 = ""
    if latency.requests:
        p99_ms = latency.histogram.value_at_percentile(99.0) / 1000
        p99 = f", p99 {p99_ms:,.0f} ms" if p99_ms >= 10 else f", p99 {p99_ms:,.1f} ms"
        p99 += f" ({main})" if latency is named else ""
    rate = total.requests / repeat.duration_s if repeat.duration_s > 0 else 0.0
    line = f"{rate:,.1f} req/s{p99}, {total.failure_count:,} failed"
    share = generator_cpu_share(repeat)
    if share is not None and share >= GENERATOR_SATURATED:
        line += f", generator at {share:.0%} of a core"
    stolen_pct = steal_pct(repeat)
    if stolen_pct is not None and stolen_pct >= STEAL_NOTICEABLE_PCT:
        line += f", the host withheld {stolen_pct:.0f}% of the CPU (steal)"
    return line
