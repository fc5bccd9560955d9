"""Server-side signals sampled while a load runs: the server's own /metrics and the CPU,
memory, threads and open file descriptors of its process tree, one sample per interval (the
"signals" object of docs/results-format.md). A foreign server (a study's own command) is
sampled the same way: its whole tree through psutil, its /metrics when it serves Prometheus
text; a server with no /metrics (a 404 or anything but Prometheus text on the first scrape)
is not scraped again.

A perflab server exports Prometheus text in multiprocess mode: each gauge is already merged
over server workers (livemax / livesum), and some carry labels (resource, kernel, reason).
What is left to combine is across labels: waits and lags take the max (the worst resource
is what a request meets), counts take the sum. A metric the server does not export in this
configuration stays out of the sample, never 0. Besides perflab's own names, the requests in
progress that common instrumentations export (prometheus-fastapi-instrumentator,
starlette-exporter) are read as ``in_progress``.

Usage:
    sampler = SignalSampler(server.base_url, server.pid, interval_s=1.0)
    sampler.start(time.time())
    ...  # the load
    run["signals"] = sampler.stop()
"""

from __future__ import annotations

import contextlib
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import psutil
from prometheus_client.parser import text_string_to_metric_families

from perflab.bench.launcher import process_tree

# field in a sample -> (sample name in /metrics, how labels combine, scale to the field's unit)
METRIC_FIELDS: dict[str, tuple[str, Callable[[Iterable[float]], float], float]] = {
    "loop_lag_ms": ("perflab_event_loop_lag_max_seconds", max, 1000.0),
    "threadpool_in_use": ("perflab_threadpool_tokens_in_use", sum, 1.0),
    "offload_in_flight": ("perflab_offload_in_flight", sum, 1.0),
    "offload_queued": ("perflab_offload_queued", sum, 1.0),
    "expected_wait_s": ("perflab_admission_expected_wait_seconds", max, 1.0),
    "queue_backlog": ("perflab_queue_backlog", sum, 1.0),
    "shed_total": ("perflab_admission_shed_total", sum, 1.0),
    "in_progress": ("http_requests_inprogress", sum, 1.0),
}
# Other names of a field: the same gauge under another instrumentation's name.
ALIASES = {"starlette_requests_in_progress": "in_progress"}
COUNT_FIELDS = frozenset(
    {
        "threadpool_in_use",
        "offload_in_flight",
        "offload_queued",
        "queue_backlog",
        "shed_total",
        "in_progress",
    }
)


def parse_metrics(text: str) -> dict[str, float | int]:
    """The sample fields found in Prometheus text (`/metrics`); absent metrics stay absent.

    Usage: `parse_metrics(urlopen(base_url + "/metrics").read().decode())["loop_lag_ms"]`
    """
    values: dict[str, list[float]] = {}
    wanted = {name: field for field, (name, _, _) in METRIC_FIELDS.items()} | ALIASES
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            field = wanted.get(sample.name)
            if field is not None:
                values.setdefault(field, []).append(float(sample.value))
    parsed: dict[str, float | int] = {}
    for field, found in values.items():
        _, combine, scale = METRIC_FIELDS[field]
        value = combine(found) * scale
        parsed[field] = round(value) if field in COUNT_FIELDS else round(value, 4)
    return parsed


@dataclass
class TreeReading:
    """What a process tree holds at one moment. Usage: ``read_tree(pid).rss_bytes``"""

    cpu_s: float = 0.0
    rss_bytes: int = 0
    threads: int = 0
    open_fds: int = 0  # files, sockets and pipes
    processes: int = 0


def read_tree(pid: int) -> TreeReading | None:
    """CPU seconds, resident bytes, threads and open descriptors of a process tree; None once
    the process is gone. Usage: ``read_tree(server.pid)``"""
    reading = TreeReading()
    for process in process_tree(pid):
        with contextlib.suppress(psutil.NoSuchProcess, psutil.ZombieProcess, psutil.AccessDenied):
            with process.oneshot():
                times = process.cpu_times()
                reading.rss_bytes += process.memory_info().rss
                reading.cpu_s += times.user + times.system
                reading.threads += process.num_threads()
                reading.open_fds += process.num_fds()
            reading.processes += 1
    return reading if reading.processes else None


class SignalSampler:
    """Samples GET {base_url}/metrics (Prometheus text) and psutil CPU/RSS of the server's
    process tree every interval_s in a daemon thread.

    `base_url=None`: a service without perflab's /metrics (psutil only); `pid=None` too: no
    samples at all, and `stop()` still returns the object, empty.
    Usage: `s = SignalSampler(url, pid); s.start(time.time()); ...; signals = s.stop()`
    """

    def __init__(self, base_url: str | None, pid: int | None, interval_s: float = 1.0) -> None:
        self.base_url = base_url
        self.pid = pid
        self.interval_s = interval_s
        # A busy server (a CPU-bound loop) may not answer: give up within one interval so the
        # psutil part still comes on time.
        self.scrape_timeout_s = max(0.2, interval_s)
        self.series: list[dict[str, float | int]] = []
        self._t0_unix_s = 0.0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._last_cpu: tuple[float, float] | None = None  # (monotonic s, tree CPU s)
        self._cpu_start_s: float | None = None
        self._shed_start: float | int | None = None
        self._scraped = False  # the first scrape decides whether the server has /metrics
        self._no_metrics = False

    def start(self, t0_unix_s: float) -> None:
        """Begin sampling; each sample's t_s is seconds since `t0_unix_s` (the load start)."""
        self._t0_unix_s = t0_unix_s
        if self.pid is not None:
            reading = read_tree(self.pid)
            if reading is not None:
                self._cpu_start_s = reading.cpu_s
                self._last_cpu = (time.monotonic(), reading.cpu_s)
        if self.base_url is None and self.pid is None:
            return  # nothing to sample
        self._thread = threading.Thread(target=self._run, name="perflab-signals", daemon=True)
        self._thread.start()

    def stop(self) -> dict[str, Any]:
        """End sampling; the "signals" object: {"interval_s", "series", "summary"}."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=self.interval_s + self.scrape_timeout_s + 10)
        cpu_end_s = None
        if self.pid is not None and (reading := read_tree(self.pid)) is not None:
            cpu_end_s = reading.cpu_s
        shed_end = self.scrape().get("shed_total")
        return {
            "interval_s": self.interval_s,
            "series": list(self.series),
            "summary": self._summary(cpu_end_s, shed_end),
        }

    def scrape(self) -> dict[str, float | int]:
        """The server's /metrics as sample fields; {} when there is none or it did not answer."""
        if self.base_url is None or self._no_metrics:
            return {}
        first = not self._scraped
        self._scraped = True
        try:
            url = self.base_url + "/metrics"
            with urllib.request.urlopen(url, timeout=self.scrape_timeout_s) as response:
                content_type = response.headers.get("Content-Type", "")
                prometheus = "text/plain" in content_type or "openmetrics" in content_type
                text = response.read().decode()
            if first and not prometheus:
                self._no_metrics = True  # an app page or JSON at /metrics: not Prometheus text
                return {}
            return parse_metrics(text)
        except urllib.error.HTTPError as error:
            error.close()
            self._no_metrics = first and error.code in (404, 405)  # no /metrics on this server
            return {}
        except Exception:  # a busy or stopping server: this sample gets psutil's part only
            return {}

    def _run(self) -> None:
        self._shed_start = self.scrape().get("shed_total")
        next_s = time.monotonic() + self.interval_s
        while not self._stop.wait(max(0.0, next_s - time.monotonic())):
            sample = self._sample()
            if len(sample) > 1:  # more than its time: a failed scrape without a pid has none
                self.series.append(sample)
            # Keep to the grid; after a long stall skip the missed slots instead of bursting.
            next_s = max(next_s + self.interval_s, time.monotonic())

    def _sample(self) -> dict[str, float | int]:
        sample: dict[str, float | int] = {"t_s": round(time.time() - self._t0_unix_s, 3)}
        if self.pid is not None and (reading := read_tree(self.pid)) is not None:
            now_s, cpu_s = time.monotonic(), reading.cpu_s
            if self._last_cpu is not None and now_s > self._last_cpu[0]:
                # A replaced worker takes its CPU seconds with it: never a negative rate.
                used_s = max(0.0, cpu_s - self._last_cpu[1])
                sample["cpu_pct"] = round(100.0 * used_s / (now_s - self._last_cpu[0]), 1)
            self._last_cpu = (now_s, cpu_s)
            sample["rss_bytes"] = reading.rss_bytes
            sample["threads"] = reading.threads
            sample["open_fds"] = reading.open_fds
            sample["processes"] = reading.processes
        sample.update(self.scrape())
        return sample

    def _summary(self, cpu_end_s: float | None, shed_end: float | int | None) -> dict[str, Any]:
        def most(field: str) -> float | int | None:
            values = [sample[field] for sample in self.series if field in sample]
            return max(values) if values else None

        if shed_end is None:  # the last scrape failed: the last sample that had it
            shed_end = next(
                (s["shed_total"] for s in reversed(self.series) if "shed_total" in s), None
            )
        shed = None
        if shed_end is not None:
            shed = shed_end - (self._shed_start or 0)
        cpu_s = None
        if cpu_end_s is not None and self._cpu_start_s is not None:
            cpu_s = round(max(0.0, cpu_end_s - self._cpu_start_s), 3)
        return {
            "cpu_s": cpu_s,
            "rss_max_bytes": most("rss_bytes"),
            "threads_max": most("threads"),
            "open_fds_max": most("open_fds"),
            "loop_lag_max_ms": most("loop_lag_ms"),
            "expected_wait_max_s": most("expected_wait_s"),
            "shed": shed,
        }
