"""A locust worker's exact recording: perflab's HdrHistograms, per request name and per second,
shipped to the master as deltas that merge without loss.

Every answer is recorded as `perflab load` records it (`perflab.loadgen.recorder.LiveRecorder`:
the latency in microseconds, the failure kind, bytes), into one-second windows counted from
the run's common start. With each of locust's periodic worker reports the worker sends what
it recorded since the last one (`take_delta`): the current second is folded in first, so a
delta's request counts and histograms always agree, and the master adds deltas up
(`perflab.locust.ledger`): counts add, histograms add bucket by bucket, so the merged
percentiles are exactly those of one histogram fed every latency.

Usage::

    recording = WorkerRecording({"ping": "POST"})
    recording.start(time.time())                # the run's common start
    recording.record("ping", latency_us=812, failure=None, bytes_in=180, bytes_out=90,
                     body_length=60)
    delta = recording.take_delta()          # {"names": {"ping": {...}}, ...}: JSON/msgpack-ready
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from perflab.loadgen.recorder import LiveRecorder
from perflab.loadgen.recording import NameStats


class WorkerRecording:
    """Per-name recorders for one worker process. Usage: see the module docstring."""

    def __init__(self, methods: Mapping[str, str]) -> None:
        self.start_at_unix_s = time.time()  # until `start`: nothing is recorded before it
        self.recorders = {name: LiveRecorder(name, method) for name, method in methods.items()}
        self.last_answer_unix_s: float | None = None  # when this worker's last answer came
        self._flushed_second = 0

    def start(self, start_at_unix_s: float) -> None:
        """Count windows from the run's common start. Usage: ``recording.start(t0)``"""
        self.start_at_unix_s = start_at_unix_s
        self._flushed_second = 0

    def second(self, now_unix_s: float | None = None) -> int:
        """The window (seconds since the common start) `now` falls in. Usage: ``r.second()``"""
        now = time.time() if now_unix_s is None else now_unix_s
        return max(0, int(now - self.start_at_unix_s))

    def record(
        self,
        name: str,
        *,
        latency_us: int,
        failure: str | None,
        bytes_in: int,
        bytes_out: int,
        body_length: int,
    ) -> None:
        """One finished request. Usage: see the module docstring."""
        self.recorders[name].record(latency_us * 1000, failure, bytes_in, bytes_out, body_length)
        self.last_answer_unix_s = time.time()

    def first_length(self, name: str, body_length: int) -> int:
        """ab's first-answer length for `name` on this worker (same_length checks).

        Usage: ``recording.first_length("blur", len(body))``
        """
        recorder = self.recorders[name]
        if recorder.first_body_length < 0:
            return recorder.note_first_length(body_length)
        return recorder.first_body_length

    def stats(self, name: str) -> NameStats:
        """The live counters of `name` (late and dropped sends are counted here).

        Usage: ``recording.stats("small").late_sends += 1``
        """
        return self.recorders[name].stats

    def tick(self, now_unix_s: float | None = None) -> None:
        """Fold every second that has ended into its window (call often; cheap when nothing
        ended). Usage: ``recording.tick()``"""
        current = self.second(now_unix_s)
        if current > self._flushed_second:
            for recorder in self.recorders.values():
                recorder.flush(self._flushed_second)
            self._flushed_second = current

    def take_delta(self, now_unix_s: float | None = None) -> dict[str, Any]:
        """Everything recorded since the last delta, then forget it. The second in progress is
        folded in now (its later answers go into the same second of the next delta; windows
        of one second add up at the master). Usage: ``delta = recording.take_delta()``
        """
        self.tick(now_unix_s)
        names: dict[str, Any] = {}
        for name, recorder in self.recorders.items():
            recorder.flush(self._flushed_second)
            stats = recorder.stats
            if stats.requests or stats.late_sends or stats.dropped_sends or stats.skipped:
                names[name] = _compact(stats)
            fresh = NameStats(name, stats.method)
            fresh.first_body_length = stats.first_body_length
            recorder.stats = fresh
        delta: dict[str, Any] = {"names": names}
        if self.last_answer_unix_s is not None:
            delta["last_answer_unix_s"] = self.last_answer_unix_s
        return delta


def _compact(stats: NameStats) -> dict[str, Any]:
    """What `NameStats.from_dict` reads, without its summaries: the percentiles and means
    `to_dict` computes cost ~5 ms a name, and only the master needs them, once, at the end."""
    compact: dict[str, Any] = {
        "method": stats.method,
        "requests": stats.requests,
        "failures_by_kind": dict(stats.failures),
        "bytes_in": stats.bytes_in,
        "bytes_out": stats.bytes_out,
        "body_bytes_in": stats.body_bytes_in,
        "first_body_length": stats.first_body_length,
        "late_sends": stats.late_sends,
        "dropped_sends": stats.dropped_sends,
        "skipped": stats.skipped,
        "histogram": stats.histogram.encode(),
        "time_series": [
            {
                "second": window.second,
                "requests": window.requests,
                "failures": window.failures,
                "histogram": window.histogram.encode(),
            }
            for _, window in sorted(stats.windows.items())
        ],
    }
    if stats.captured_values:
        compact["captured_values"] = stats.captured_values
    return compact


def delta_names(delta: Mapping[str, Any]) -> dict[str, NameStats]:
    """The per-name stats in a delta. Usage: ``delta_names(delta)["ping"].histogram``"""
    return {name: NameStats.from_dict(name, data) for name, data in delta["names"].items()}
