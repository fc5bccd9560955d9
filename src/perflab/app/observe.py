"""Signals that show whether the service is healthy: request ids, Prometheus metrics, loop lag.

Metrics work with several server workers: the CLI points `PROMETHEUS_MULTIPROC_DIR` at a fresh
directory before any worker imports prometheus_client, every process writes its own files there,
and `/metrics` merges them (prometheus-client's multiprocess mode). Gauges say how they merge.
"""

from __future__ import annotations

import asyncio
import contextvars
import copy
import logging
import os
from collections.abc import Callable
from typing import Any

import anyio.to_thread
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)

from perflab.app.request_tally import RequestTally

log = logging.getLogger("perflab.app")

_request_id: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "perflab_request_id", default=None
)


def current_request_id() -> str | None:
    """The id of the request being served in this context, for logs and error bodies."""
    return _request_id.get()


class RequestIdFilter(logging.Filter):
    """Stamps every log record with the id of the request it was logged for (or "-")."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = _request_id.get() or "-"
        return True


def logging_config(level: str, server_config: dict[str, Any]) -> dict[str, Any]:
    """The server's `dictConfig` plus perflab's loggers (with request ids), section by section.

    Servers replace their default config with the one given, section by section, so ours must
    carry theirs along or their own log lines disappear.
    """
    merged = copy.deepcopy(server_config)
    for section, entries in _perflab_logging(level).items():
        if isinstance(entries, dict):
            merged.setdefault(section, {}).update(entries)
    return merged


def _perflab_logging(level: str) -> dict[str, Any]:
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"request_id": {"()": RequestIdFilter}},
        "formatters": {
            "perflab": {"format": "%(levelname)-8s [%(request_id)s] %(name)s: %(message)s"}
        },
        "handlers": {
            "perflab": {
                "class": "logging.StreamHandler",
                "formatter": "perflab",
                "filters": ["request_id"],
                "stream": "ext://sys.stderr",
            }
        },
        "loggers": {
            "perflab": {"handlers": ["perflab"], "level": level.upper(), "propagate": False}
        },
    }


def set_request_id(request_id: str) -> contextvars.Token[str | None]:
    return _request_id.set(request_id)


def reset_request_id(token: contextvars.Token[str | None]) -> None:
    _request_id.reset(token)


_LATENCY_BUCKETS_S = (
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
)  # fmt: skip

HTTP_REQUESTS = Counter(
    "perflab_http_requests_total", "HTTP requests answered.", ["method", "route", "status"]
)
HTTP_DURATION = Histogram(
    "perflab_http_request_duration_seconds",
    "Time from request start to the end of the answer.",
    ["method", "route"],
    buckets=_LATENCY_BUCKETS_S,
)
# The middleware's hot path adds to this; it reaches the two metrics above in batches.
REQUEST_TALLY = RequestTally(HTTP_REQUESTS, HTTP_DURATION, _LATENCY_BUCKETS_S)
count_request = REQUEST_TALLY.add
publish_requests = REQUEST_TALLY.publish


LOOP_LAG = Histogram(
    "perflab_event_loop_lag_seconds",
    "How late the event loop woke a monitor task that asked to sleep a fixed interval.",
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
)
LOOP_LAG_MAX = Gauge(
    "perflab_event_loop_lag_max_seconds",
    "Largest loop lag seen in the last few seconds (max over live workers).",
    multiprocess_mode="livemax",
)
THREADPOOL_IN_USE = Gauge(
    "perflab_threadpool_tokens_in_use",
    "Worker threads busy with plain `def` endpoints and thread offloads.",
    multiprocess_mode="livesum",
)
THREADPOOL_TOTAL = Gauge(
    "perflab_threadpool_tokens_total",
    "Worker threads available (anyio's default limiter).",
    multiprocess_mode="livesum",
)
OFFLOAD_RUNNING = Gauge(
    "perflab_offload_in_flight", "Offloaded jobs running now.", multiprocess_mode="livesum"
)
OFFLOAD_QUEUED = Gauge(
    "perflab_offload_queued", "Offloaded jobs waiting for a slot.", multiprocess_mode="livesum"
)
OFFLOAD_REJECTED = Counter(
    "perflab_offload_rejected_total",
    "Jobs the offloader refused with 503 at admission (expected wait or memory over budget).",
)
OFFLOAD_WORKER_RESTARTS = Counter(
    "perflab_offload_worker_restarts_total",
    "Worker processes replaced after dying or running past the job timeout.",
)


def metrics_payload() -> tuple[bytes, str]:
    """The Prometheus exposition text for this process, or for all workers in multiprocess mode."""
    publish_requests()
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        return generate_latest(registry), CONTENT_TYPE_LATEST
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST


def mark_worker_dead() -> None:
    """Drop this process's live gauges from the merged view when a worker shuts down."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        multiprocess.mark_process_dead(os.getpid())  # type: ignore[no-untyped-call]


class LoopLagMonitor:
    """Measures how late the event loop wakes a task that sleeps `interval_s`.

    A CPU-bound handler running in the loop shows here as lag of its whole duration: the one
    signal that tells "the loop is blocked" apart from "the work is slow". Each tick also runs
    `samplers`: the gauges that need sampling (thread tokens, offloader queue) and the request
    tally's publishing.

    Usage: `m = LoopLagMonitor(0.05, [sample_threadpool]); m.start(); ...; await m.stop()`
    """

    def __init__(
        self, interval_s: float, samplers: list[Callable[[], None]], window_s: float = 5.0
    ) -> None:
        self.interval_s = interval_s
        self.window_s = window_s
        self._samplers = samplers
        self._task: asyncio.Task[None] | None = None
        # Two rotating windows give "max over the last window_s..2*window_s" without a deque.
        self._current_max_s = 0.0
        self._previous_max_s = 0.0

    @property
    def recent_max_s(self) -> float:
        return max(self._current_max_s, self._previous_max_s)

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name="loop-lag-monitor")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        window_start = loop.time()
        while True:
            before = loop.time()
            await asyncio.sleep(self.interval_s)
            now = loop.time()
            lag_s = max(0.0, now - before - self.interval_s)
            LOOP_LAG.observe(lag_s)
            if now - window_start >= self.window_s:
                self._previous_max_s, self._current_max_s = self._current_max_s, 0.0
                window_start = now
            self._current_max_s = max(self._current_max_s, lag_s)
            LOOP_LAG_MAX.set(self.recent_max_s)
            for sample in self._samplers:
                try:
                    sample()
                except Exception:  # one failing sampler must not stop the monitor
                    log.exception("loop monitor: sampler %s failed", sample)


def sample_threadpool() -> None:
    """Copy anyio's default thread limiter into the threadpool gauges (called from the loop)."""
    limiter = anyio.to_thread.current_default_thread_limiter()
    THREADPOOL_IN_USE.set(limiter.borrowed_tokens)
    THREADPOOL_TOTAL.set(limiter.total_tokens)
