"""What a load run recorded: per request name, per second, mergeable across processes.

A `Recording` is plain data. Every generator process builds one; the parent merges them
(`Recording.merge`), and `to_dict`/`from_dict` carry it through pipes and JSON files. Sums
stay exact under merging because histograms add counts, never percentiles.

Usage::

    merged = Recording.merge_all([recording_a, recording_b])
    merged.total().requests, merged.to_dict()["requests_per_s"]
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from perflab.loadgen.histogram import LatencyHistogram

TOTAL_NAME = "Aggregated"  # locust's word for the all-names row


@dataclass
class Window:
    """One second of one request name: counts and that second's histogram.

    Usage: ``stats.windows[3].histogram.value_at_percentile(99)``
    """

    second: int
    requests: int = 0
    failures: int = 0
    histogram: LatencyHistogram = field(default_factory=LatencyHistogram)

    def merge(self, other: Window) -> None:
        """Add another process's same second. Usage: ``window.merge(other)``"""
        self.requests += other.requests
        self.failures += other.failures
        self.histogram.merge(other.histogram)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form with p50/p99 and the mergeable histogram. Usage: ``w.to_dict()``"""
        p = self.histogram.values_at_percentiles([50.0, 99.0])
        return {
            "second": self.second,
            "requests": self.requests,
            "failures": self.failures,
            "p50_us": p[50.0],
            "p99_us": p[99.0],
            "histogram": self.histogram.encode(),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Window:
        """Inverse of `to_dict`. Usage: ``Window.from_dict(d)``"""
        return cls(
            second=int(data["second"]),
            requests=int(data["requests"]),
            failures=int(data["failures"]),
            histogram=LatencyHistogram.decode(data["histogram"]),
        )


@dataclass
class NameStats:
    """Everything recorded for one request name (or, merged, for all of them).

    Usage: ``recording.names["/ping"].failures``
    """

    name: str
    method: str = ""
    requests: int = 0  # finished requests: answered correctly or failed
    failures: dict[str, int] = field(default_factory=dict)  # failure kind -> count
    bytes_in: int = 0  # every byte read from the socket, headers included (wrk's "Transfer")
    bytes_out: int = 0
    body_bytes_in: int = 0  # response bodies only (ab's "HTML transferred")
    first_body_length: int = -1  # ab's "Document Length"
    late_sends: int = 0
    dropped_sends: int = 0
    skipped: int = 0  # flow steps not sent: a value they need was not captured
    # What a request with `record_captures` captured from each right answer (its ids, say).
    captured_values: list[dict[str, Any]] = field(default_factory=list)
    histogram: LatencyHistogram = field(default_factory=LatencyHistogram)
    windows: dict[int, Window] = field(default_factory=dict)

    @property
    def failure_count(self) -> int:
        """All failures, whatever their kind. Usage: ``stats.failure_count``"""
        return sum(self.failures.values())

    def merge(self, other: NameStats) -> None:
        """Add another process's (or name's) counts. Usage: ``total.merge(stats)``"""
        self.method = self.method if self.method == other.method else (self.method or other.method)
        self.requests += other.requests
        for kind, count in other.failures.items():
            self.failures[kind] = self.failures.get(kind, 0) + count
        self.bytes_in += other.bytes_in
        self.bytes_out += other.bytes_out
        self.body_bytes_in += other.body_bytes_in
        if self.first_body_length < 0:
            self.first_body_length = other.first_body_length
        self.late_sends += other.late_sends
        self.dropped_sends += other.dropped_sends
        self.skipped += other.skipped
        self.captured_values.extend(other.captured_values)
        self.histogram.merge(other.histogram)
        for second, window in other.windows.items():
            self.windows.setdefault(second, Window(second)).merge(window)

    def summary(self, duration_s: float) -> dict[str, Any]:
        """Counts, rates and percentiles without the histograms. Usage: ``s.summary(10.0)``"""
        failures = self.failure_count
        return {
            "requests": self.requests,
            "failures": failures,
            "ok": self.requests - failures,
            "duration_s": duration_s,
            "requests_per_s": self.requests / duration_s if duration_s > 0 else 0.0,
            "failures_by_kind": dict(sorted(self.failures.items())),
            "latency_us": {
                "mean": round(self.histogram.mean_us(), 1),
                "min": self.histogram.min_us(),
                "max": self.histogram.max_us(),
                "percentiles": self.histogram.percentiles(),
            },
            "bytes_in": self.bytes_in,
            "bytes_out": self.bytes_out,
            "body_bytes_in": self.body_bytes_in,
            "first_body_length": self.first_body_length,
            "late_sends": self.late_sends,
            "dropped_sends": self.dropped_sends,
            "skipped": self.skipped,
        }

    def to_dict(self, duration_s: float) -> dict[str, Any]:
        """`summary` plus the histogram and per-second series. Usage: ``s.to_dict(d)``"""
        stored = {
            "method": self.method,
            **self.summary(duration_s),
            "histogram": self.histogram.encode(),
            "time_series": [self.windows[s].to_dict() for s in sorted(self.windows)],
        }
        if self.captured_values:
            stored["captured_values"] = self.captured_values
        return stored

    @classmethod
    def from_dict(cls, name: str, data: dict[str, Any]) -> NameStats:
        """Inverse of `to_dict`. Usage: ``NameStats.from_dict("GET /", d)``"""
        windows = [Window.from_dict(w) for w in data.get("time_series", [])]
        return cls(
            name=name,
            method=str(data.get("method", "")),
            requests=int(data["requests"]),
            failures={str(k): int(v) for k, v in data["failures_by_kind"].items()},
            bytes_in=int(data["bytes_in"]),
            bytes_out=int(data["bytes_out"]),
            body_bytes_in=int(data["body_bytes_in"]),
            first_body_length=int(data["first_body_length"]),
            late_sends=int(data["late_sends"]),
            dropped_sends=int(data["dropped_sends"]),
            skipped=int(data.get("skipped", 0)),  # absent in recordings from before flows
            captured_values=[dict(v) for v in data.get("captured_values", [])],
            histogram=LatencyHistogram.decode(data["histogram"]),
            windows={w.second: w for w in windows},
        )


@dataclass
class Recording:
    """One load run (one process, or several merged). Usage: ``rec.to_dict()``"""

    target: str
    model: dict[str, Any]
    started_at_unix_s: float
    ended_at_unix_s: float
    names: dict[str, NameStats] = field(default_factory=dict)
    generator_cpu_s: float = 0.0
    processes: int = 1
    connections: int = 0
    metadata: dict[str, Any] = field(default_factory=dict)
    flows: dict[str, Any] = field(default_factory=dict)  # on_start and flows run; {}: none

    @property
    def duration_s(self) -> float:
        """Wall time from the common start to the last answer. Usage: ``rec.duration_s``"""
        return max(self.ended_at_unix_s - self.started_at_unix_s, 0.0)

    def total(self) -> NameStats:
        """All request names merged into one row. Usage: ``rec.total().requests``"""
        total = NameStats(TOTAL_NAME)
        for stats in self.names.values():
            total.merge(stats)
        return total

    @staticmethod
    def merge_all(recordings: list[Recording]) -> Recording:
        """Merge processes' or streams' recordings. Usage: ``Recording.merge_all(rs)``"""
        first = recordings[0]
        merged = Recording(
            target=first.target,
            model=first.model,
            started_at_unix_s=min(r.started_at_unix_s for r in recordings),
            ended_at_unix_s=max(r.ended_at_unix_s for r in recordings),
            metadata=first.metadata,
            processes=0,
            flows=next((r.flows for r in recordings if r.flows), {}),
        )
        targets = {r.target for r in recordings}
        merged.target = first.target if len(targets) == 1 else ", ".join(sorted(targets))
        models = [r.model for r in recordings]
        merged.model = first.model if all(m == first.model for m in models) else {"streams": models}
        for recording in recordings:
            merged.generator_cpu_s += recording.generator_cpu_s
            merged.processes += recording.processes
            merged.connections += recording.connections
            for name, stats in recording.names.items():
                merged.names.setdefault(name, NameStats(name, stats.method)).merge(stats)
        return merged

    def to_dict(self) -> dict[str, Any]:
        """The full recording as JSON-ready data (histograms included). Usage: ``rec.to_dict()``"""
        duration_s = self.duration_s
        total = self.total()
        requests = total.requests
        return {
            **total.summary(duration_s),
            "target": self.target,
            "model": self.model,
            "started_at_unix_s": self.started_at_unix_s,
            "ended_at_unix_s": self.ended_at_unix_s,
            "generator": {
                "cpu_s": self.generator_cpu_s,
                "cpu_us_per_request": round(1e6 * self.generator_cpu_s / requests, 2)
                if requests
                else 0.0,
                "processes": self.processes,
                "connections": self.connections,
            },
            "histogram": total.histogram.encode(),
            "time_series": [total.windows[s].to_dict() for s in sorted(total.windows)],
            "names": {name: s.to_dict(duration_s) for name, s in sorted(self.names.items())},
            "metadata": self.metadata,
            **({"flows": self.flows} if self.flows else {}),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Recording:
        """Inverse of `to_dict` (totals recomputed). Usage: ``Recording.from_dict(d)``"""
        generator = data.get("generator", {})
        return cls(
            target=str(data["target"]),
            model=dict(data["model"]),
            started_at_unix_s=float(data["started_at_unix_s"]),
            ended_at_unix_s=float(data["ended_at_unix_s"]),
            names={n: NameStats.from_dict(n, d) for n, d in data["names"].items()},
            generator_cpu_s=float(generator.get("cpu_s", 0.0)),
            processes=int(generator.get("processes", 1)),
            connections=int(generator.get("connections", 0)),
            metadata=dict(data.get("metadata", {})),
            flows=dict(data.get("flows", {})),
        )
