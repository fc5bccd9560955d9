"""The hot-path side of recording: cheap appends while requests complete, folded once a second.

A `LiveRecorder` belongs to one request name in one process. `record` runs once per
request and only appends and adds; `flush(second)` (called by the engine's 1 s ticker) turns
the buffered latencies into that second's histogram and adds it to the total.

Usage::

    recorder = LiveRecorder("GET /", "GET")
    recorder.record(latency_ns=250_000, failure=None, bytes_in=180, bytes_out=60, body_length=2)
    recorder.flush(second=0); recorder.stats.histogram.total_count   # -> 1
"""

from __future__ import annotations

from perflab.loadgen.histogram import LatencyHistogram
from perflab.loadgen.recording import NameStats, Window


class LiveRecorder:
    """Per-name counters for the running process. Usage: ``LiveRecorder("GET /", "GET")``"""

    __slots__ = ("_latencies_us", "_window_failures", "first_body_length", "stats")

    def __init__(self, name: str, method: str) -> None:
        self.stats = NameStats(name, method)
        self.first_body_length = -1
        self._latencies_us: list[int] = []
        self._window_failures = 0

    def record(
        self,
        latency_ns: int,
        failure: str | None,
        bytes_in: int,
        bytes_out: int,
        body_length: int,
    ) -> None:
        """One finished request. Usage: ``recorder.record(120_000, None, 200, 80, 10)``"""
        self._latencies_us.append(latency_ns // 1000)
        stats = self.stats
        stats.requests += 1
        stats.bytes_in += bytes_in
        stats.bytes_out += bytes_out
        stats.body_bytes_in += body_length
        if failure is not None:
            stats.failures[failure] = stats.failures.get(failure, 0) + 1
            self._window_failures += 1

    def record_unanswered(self, failure: str, latency_ns: int, bytes_out: int) -> None:
        """A request that got no answer (connect error, reset, timeout). Usage: see `record`."""
        self.record(latency_ns, failure, 0, bytes_out, 0)

    def note_first_length(self, body_length: int) -> int:
        """ab's first-answer length, set once. Usage: ``recorder.note_first_length(612)``"""
        if self.first_body_length < 0:
            self.first_body_length = body_length
            self.stats.first_body_length = body_length
        return self.first_body_length

    @property
    def pending(self) -> int:
        """Requests recorded since the last flush. Usage: ``recorder.pending``"""
        return len(self._latencies_us)

    def flush(self, second: int) -> None:
        """Fold the buffer into second `second` and the total. Usage: ``recorder.flush(3)``"""
        latencies = self._latencies_us
        if not latencies:
            return
        self._latencies_us = []
        window_hist = LatencyHistogram.of(latencies)
        window = self.stats.windows.get(second)
        if window is None:
            window = self.stats.windows[second] = Window(second)
        window.requests += len(latencies)
        window.failures += self._window_failures
        window.histogram.merge(window_hist)
        self.stats.histogram.merge(window_hist)
        self._window_failures = 0
