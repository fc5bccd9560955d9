"""The knee: the highest request rate a cell serves with p99 under the study's SLO and no errors.

Open (fixed-rate) load on the study's main request, on one server: start low, double the rate
until a window fails (p99 over the SLO, any error, or throughput under 90% of the offered
rate), then bisect between the last good and the first bad rate for a fixed number of steps.
Every point is recorded; the signals of the lowest failing window say which resource ran out
first (`saturation.py`).

Usage::

    knee = find_knee(study, plan, streams, target)      # the results' "knee" object
    knee["rate_per_s"], knee["saturated"], knee["evidence"]
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from perflab.bench.saturation import cpu_capacity_pct, saturated_resource
from perflab.bench.signals import SignalSampler
from perflab.bench.study import CellPlan, Study
from perflab.bench.study.rules import KNEE_KEYS, check_keys
from perflab.bench.target import Target
from perflab.bench.workload import main_request
from perflab.loadgen import Open, RequestSpec, Stream, run
from perflab.results.errors import StudyError

MIN_THROUGHPUT_SHARE = 0.9
SIGNAL_INTERVAL_S = 0.5


@dataclass(frozen=True)
class KneeOptions:
    """The search's knobs, from the cell's ``knee`` table. Usage: ``KneeOptions.of(plan)``"""

    start_rate_per_s: float = 2.0
    max_rate_per_s: float = 20_000.0
    window_s: float = 4.0
    settle_s: float = 1.0
    bisect_steps: int = 3
    connections: int = 256

    @classmethod
    def of(cls, plan: CellPlan) -> KneeOptions:
        """Defaults overridden by the cell's settings. Usage: ``KneeOptions.of(plan)``"""
        table = check_keys(plan.settings.get("knee", {}), KNEE_KEYS, f"cell {plan.name}: knee")
        try:
            return cls(
                start_rate_per_s=float(table.get("start_rate_per_s", cls.start_rate_per_s)),
                max_rate_per_s=float(table.get("max_rate_per_s", cls.max_rate_per_s)),
                window_s=float(table.get("window_s", cls.window_s)),
                settle_s=float(table.get("settle_s", cls.settle_s)),
                bisect_steps=int(table.get("bisect_steps", cls.bisect_steps)),
                connections=int(table.get("connections", cls.connections)),
            )
        except (TypeError, ValueError) as exc:
            raise StudyError(f"cell {plan.name}: knee: {exc}") from None


@dataclass
class RateTrial:
    """One rate tried: its point for the results and the server's signals meanwhile."""

    point: dict[str, Any]
    signals: dict[str, Any]


def find_knee(
    study: Study,
    plan: CellPlan,
    streams: list[Stream],
    target: Target,
    *,
    progress: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Search the knee of `plan` on the running `target`. Usage: see module."""
    options = KneeOptions.of(plan)
    spec = main_request(streams, study.main_request)
    slo_ms = study.slo_p99_ms
    timeout_s = max(2.0, 3 * slo_ms / 1000.0)
    points: list[dict[str, Any]] = []

    def attempt(rate_per_s: float) -> RateTrial:
        window = _window(spec, rate_per_s, options, timeout_s, slo_ms, target)
        points.append(window.point)
        if progress is not None:
            p = window.point
            verdict = "ok" if p["ok"] else "over"
            progress(f"knee: {rate_per_s:g}/s -> p99 {p['p99_ms']:,.0f} ms, {verdict}")
        time.sleep(options.settle_s)  # let what piled up drain before the next window
        return window

    good: RateTrial | None = None
    bad: RateTrial | None = None
    rate = options.start_rate_per_s
    while rate <= options.max_rate_per_s:
        window = attempt(rate)
        if not window.point["ok"]:
            bad = window
            break
        good = window
        rate *= 2
    if bad is not None:
        low = good.point["rate_per_s"] if good is not None else 0.0
        for _ in range(options.bisect_steps):
            middle = round((low + bad.point["rate_per_s"]) / 2, 2)
            if middle <= 0 or middle in (low, bad.point["rate_per_s"]):
                break
            window = attempt(middle)
            if window.point["ok"]:
                good, low = window, middle
            else:
                bad = window
    return _knee(slo_ms, points, good, bad, plan)


def _window(
    spec: RequestSpec,
    rate_per_s: float,
    options: KneeOptions,
    timeout_s: float,
    slo_ms: float,
    target: Target,
) -> RateTrial:
    model = Open(
        rate_per_s=rate_per_s, duration_s=options.window_s, connections=options.connections
    )
    sampler = SignalSampler(target.base_url, target.pid, interval_s=SIGNAL_INTERVAL_S)
    sampler.start(time.time())
    try:
        recording = run([spec], model, timeout_s=timeout_s)
    finally:
        signals = sampler.stop()
    stats = recording.total()
    errors = stats.failure_count + stats.dropped_sends
    throughput = (stats.requests - stats.failure_count) / max(options.window_s, 1e-9)
    p50_ms = stats.histogram.value_at_percentile(50.0) / 1000.0
    p99_ms = stats.histogram.value_at_percentile(99.0) / 1000.0
    ok = (
        p99_ms <= slo_ms
        and errors == 0
        and stats.requests > 0
        and throughput >= MIN_THROUGHPUT_SHARE * rate_per_s
    )
    point = {
        "rate_per_s": rate_per_s,
        "throughput_per_s": round(throughput, 2),
        "p50_ms": round(p50_ms, 2),
        "p99_ms": round(p99_ms, 2),
        "errors": errors,
        "ok": ok,
    }
    return RateTrial(point, signals)


def _knee(
    slo_ms: float,
    points: list[dict[str, Any]],
    good: RateTrial | None,
    bad: RateTrial | None,
    plan: CellPlan,
) -> dict[str, Any]:
    if bad is None:
        saturated, evidence = "none", "no window failed up to the highest rate tried"
    else:
        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None
        capacity_pct = cpu_capacity_pct(plan.server, cores or os.cpu_count() or 1)
        saturated, evidence = saturated_resource(bad.signals, bad.point, capacity_pct, plan.server)
    return {
        "slo_p99_ms": slo_ms,
        "rate_per_s": good.point["rate_per_s"] if good is not None else None,
        "points": points,
        "saturated": saturated,
        "evidence": evidence,
    }
