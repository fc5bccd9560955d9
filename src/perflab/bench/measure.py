"""One measured run of a cell on a running target: warm up, sample signals, run the load.

Usage::

    with cell_target(study, plan, log_dir=logs) as target:
        streams = cell_streams(plan, target.base_url)
        missing = warm_up(streams, plan.warmup_s)          # paths that answered 404
        repeat = measure(streams, target.base_url, target.pid, repeat=0)
        summary_line(repeat)                               # "12.1 req/s, p99 812 ms, 0 failed"
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from perflab.bench.launcher import tree_cpu_s
from perflab.bench.signals import SignalSampler
from perflab.bench.workload import warmup_streams
from perflab.loadgen import Stream, run, run_streams
from perflab.results.model import RepeatResult, Signals

ProgressCallback = Callable[[float, int, int], None]
SIGNAL_INTERVAL_S = 1.0


def warm_up(streams: list[Stream], warmup_s: float) -> list[str]:
    """Send the cell's requests at low concurrency for `warmup_s` (at least one round), not
    recorded. Returns the request names whose every answer was 404: endpoints this perflab
    does not have, so the study is not available (never faked). Usage: see module.
    """
    deadline_s = time.monotonic() + warmup_s
    not_found: dict[str, bool] = {}
    warm_streams = warmup_streams(streams)
    first_round = True
    while first_round or time.monotonic() < deadline_s:
        first_round = False
        for warm in warm_streams:
            recording = run(
                warm.requests, warm.model, keepalive=warm.keepalive, timeout_s=warm.timeout_s
            )
            for name, stats in recording.names.items():
                only_404 = 0 < stats.requests == stats.failures.get("status_404", 0)
                not_found[name] = not_found.get(name, True) and only_404
    return sorted(name for name, missing in not_found.items() if missing)


def measure(
    streams: list[Stream],
    base_url: str,
    pid: int | None,
    *,
    repeat: int,
    progress: ProgressCallback | None = None,
    interval_s: float = SIGNAL_INTERVAL_S,
) -> RepeatResult:
    """Run the measured load with the server's signals sampled: one repeat of a cell.

    Usage: ``measure(streams, target.base_url, target.pid, repeat=0)``
    """
    sampler = SignalSampler(base_url, pid, interval_s=interval_s)
    cpu_before_s = tree_cpu_s(pid) if pid is not None else None
    t0_unix_s = time.time()
    sampler.start(t0_unix_s)
    try:
        recording = run_streams(streams, progress)
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


def summary_line(repeat: RepeatResult) -> str:
    """``"12.1 req/s, p99 812 ms, 0 failed"`` for the display. Usage: ``summary_line(repeat)``"""
    total = repeat.total
    p99 = ""
    if total.requests:
        p99 = f", p99 {total.histogram.value_at_percentile(99.0) / 1000:,.0f} ms"
    rate = total.requests / repeat.duration_s if repeat.duration_s > 0 else 0.0
    return f"{rate:,.1f} req/s{p99}, {total.failure_count:,} failed"
