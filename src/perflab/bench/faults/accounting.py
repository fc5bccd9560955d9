"""Every request of a fault cell accounted for: what each fault cost and how fast service came
back, from the load's recording, the probe's answers and the fault runner's events.

Per fault: when it happened and when the part was back; the first right answer after each
(from the 50 ms probe); the first second from which the main request's p99 stays under the
SLO; the requests of the seconds it touched, right and failed. Per repeat: failures by kind,
*lost* requests (no answer and no clean error before the client's timeout: the `timeout`
kind), and the failures that leave a write in doubt ("maybe": the client cannot tell whether
the server acted: timeouts, resets, protocol errors and 5xx answers other than a 503 shed
before any work started).

Usage::

    faults = account_faults(events, probe_samples, repeat, "create", slo_p99_ms=100.0)
    summary = failure_summary(repeat.total.failures)
"""

from __future__ import annotations

import math
from typing import Any

from perflab.bench.faults.probe import ProbeSample
from perflab.loadgen.expectation import CONNECTION_RESET, PROTOCOL_ERROR, SHED, TIMEOUT
from perflab.results.model import RepeatResult

STEADY_WINDOWS = 3  # p99 is "back" when this many seconds in a row are under the SLO
AFTER_BACK_S = 5  # the seconds after the part is back that still count as the fault's
MAYBE_KINDS = (TIMEOUT, CONNECTION_RESET, PROTOCOL_ERROR)


def maybe_written(kind: str) -> bool:
    """True for a failure after which a write may or may not have happened.
    Usage: ``maybe_written("timeout")``"""
    if kind in MAYBE_KINDS:
        return True
    # A 5xx other than a shed (503 + Retry-After at admission, before any work) may come
    # after the handler ran: a 504 timeout, a 500, a 503 from a database that went away.
    return kind.startswith("status_5")


def failure_summary(failures_by_kind: dict[str, int]) -> dict[str, Any]:
    """Failures by kind, with the lost and "maybe" counts. Usage: see module."""
    return {
        "failed_by_kind": dict(sorted(failures_by_kind.items())),
        "shed": failures_by_kind.get(SHED, 0),
        "lost": failures_by_kind.get(TIMEOUT, 0),
        "maybe": sum(n for kind, n in failures_by_kind.items() if maybe_written(kind)),
    }


def account_faults(
    events: list[dict[str, Any]],
    samples: list[ProbeSample],
    repeat: RepeatResult,
    request: str | None,
    slo_p99_ms: float,
) -> list[dict[str, Any]]:
    """One accounting per fault event. Usage: see module."""
    stats = repeat.stats(request) or repeat.total
    windows = stats.windows
    accounted = []
    for event in events:
        at_s, back_s = event.get("at_s"), event.get("back_at_s")
        entry = dict(event)
        if at_s is None or back_s is None:
            accounted.append(entry)
            continue
        first_s = math.floor(at_s)
        last_s = math.ceil(back_s) + AFTER_BACK_S
        touched = [windows[s] for s in range(first_s, last_s + 1) if s in windows]
        entry.update(
            requests_in_window=sum(w.requests for w in touched),
            right_in_window=sum(w.requests - w.failures for w in touched),
            failed_in_window=sum(w.failures for w in touched),
            window_s=[first_s, last_s],
            first_success_after_fault_s=_first_success(samples, at_s),
            first_success_after_back_s=_first_success(samples, back_s),
            p99_under_slo_after_back_s=_p99_back(stats.windows, back_s, slo_p99_ms),
            probe_failures=_probe_failures(samples, at_s, back_s + AFTER_BACK_S),
        )
        accounted.append(entry)
    return accounted


def _first_success(samples: list[ProbeSample], since_s: float) -> float | None:
    """Seconds from `since_s` to the first right probe answer at or after it."""
    for sample in samples:
        if sample.t_s >= since_s and sample.ok:
            return round(sample.t_s - since_s, 3)
    return None


def _probe_failures(samples: list[ProbeSample], from_s: float, to_s: float) -> dict[str, int]:
    counts: dict[str, int] = {}
    for sample in samples:
        if from_s <= sample.t_s <= to_s and sample.kind is not None:
            counts[sample.kind] = counts.get(sample.kind, 0) + 1
    return dict(sorted(counts.items()))


def _p99_back(windows: dict[int, Any], back_s: float, slo_p99_ms: float) -> float | None:
    """Seconds from the part's return to the start of the first run of STEADY_WINDOWS
    seconds (or up to the end) whose p99 is under the SLO and that answered something."""
    seconds = sorted(s for s in windows if s >= math.floor(back_s))
    for index, second in enumerate(seconds):
        run = seconds[index : index + STEADY_WINDOWS]
        if all(_under(windows[s], slo_p99_ms) for s in run):
            return round(max(0.0, second - back_s), 3)
    return None


def _under(window: Any, slo_p99_ms: float) -> bool:
    ok = window.requests - window.failures
    return bool(ok) and window.histogram.value_at_percentile(99.0) / 1000.0 <= slo_p99_ms
