"""Per-request counts and durations, tallied in plain Python and published to Prometheus in
batches.

prometheus-client in multiprocess mode writes every increment to a shared-memory file under a
lock: a counter and a histogram are three such writes per request, measured at ~15-20 us of a
~210 us `POST /notes/` (server pinned to a core, docs/notes.md). Tallying in a dict costs about
a microsecond; publishing the tally every loop-monitor tick (50 ms) and before each `/metrics`
answer keeps the published figures exact, at most one tick behind for the other workers.

Both methods must be called from the event loop's thread (the middleware and the monitor are).
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Sequence
from dataclasses import dataclass, field
from math import inf

from prometheus_client import Counter, Histogram


@dataclass
class _Pending:
    count: int = 0
    sum_s: float = 0.0
    buckets: list[int] = field(default_factory=list)


class RequestTally:
    """Counts requests into `requests` {method, route, status} and their durations into
    `durations` {method, route}, a histogram declared with `bounds`.

    Usage: `tally.add("GET", "/healthz", 200, 0.0012)`; `tally.publish()` now and then.
    """

    def __init__(self, requests: Counter, durations: Histogram, bounds: Sequence[float]) -> None:
        self._requests = requests
        self._durations = durations
        # As prometheus-client closes them: a last +Inf bucket.
        self._bounds = (*bounds, inf) if bounds[-1] != inf else tuple(bounds)
        self._pending: dict[tuple[str, str, int], _Pending] = {}

    def add(self, method: str, route: str, status: int, duration_s: float) -> None:
        key = (method, route, status)
        pending = self._pending.get(key)
        if pending is None:
            pending = self._pending[key] = _Pending(buckets=[0] * len(self._bounds))
        pending.count += 1
        pending.sum_s += duration_s
        # The first bucket whose bound is >= the duration, as Histogram.observe picks it.
        pending.buckets[bisect_left(self._bounds, duration_s)] += 1

    def publish(self) -> None:
        """Add everything tallied since the last call to the Prometheus metrics."""
        pending, self._pending = self._pending, {}
        for (method, route, status), tally in pending.items():
            self._requests.labels(method, route, str(status)).inc(tally.count)
            histogram = self._durations.labels(method, route)
            # A histogram's public API takes one observation at a time; its sum and bucket
            # values (stable in prometheus-client for years) take a whole batch in one write.
            # tests/app/test_request_tally.py checks the result against observe().
            histogram._sum.inc(tally.sum_s)
            for bucket, count in zip(histogram._buckets, tally.buckets, strict=True):
                if count:
                    bucket.inc(count)
