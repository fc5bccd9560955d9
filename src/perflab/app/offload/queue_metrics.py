"""Prometheus metrics of the Redis Streams queue, as the API sees it (multiprocess-safe).

Workers may run on other machines, so what they do reaches `/metrics` two ways: through the
replies (each says how many times its job was delivered and the size of the batch it ran in)
and through the `{ns}:stats` hash the workers add to, which the offloader samples. Values that
are the same for every API worker (the backlog, the live workers, the workers' totals) merge
with `livemax`; this worker's own jobs with `livesum`.

They are created by the first queue offloader of a process, not at import: a service running
another offloader must not show a queue (nor a "Redis down" gauge at 0) on its /metrics.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

from prometheus_client import Counter, Gauge, Histogram


@dataclass(frozen=True)
class QueueMetrics:
    backlog: Gauge
    in_flight: Gauge
    live_workers: Gauge
    redis_up: Gauge
    worker_events: Gauge
    reclaimed: Counter
    dead_lettered: Counter
    duplicates: Counter
    late: Counter
    timed_out: Counter
    refused: Counter
    batch_size: Histogram


@cache
def queue_metrics() -> QueueMetrics:
    """This process's queue metrics, created on first use (once: Prometheus names are global)."""
    return QueueMetrics(
        backlog=Gauge(
            "perflab_queue_backlog",
            "Unfinished jobs (waiting or running) in a kernel's job stream.",
            ["kernel"],
            multiprocess_mode="livemax",
        ),
        in_flight=Gauge(
            "perflab_queue_in_flight",
            "Jobs this API has enqueued and is waiting to hear back about.",
            multiprocess_mode="livesum",
        ),
        live_workers=Gauge(
            "perflab_queue_live_workers",
            "Worker processes that heartbeated within the visibility timeout.",
            multiprocess_mode="livemax",
        ),
        redis_up=Gauge(
            "perflab_queue_redis_up",
            "1 when the last Redis round trip succeeded, else 0 (min over live API workers).",
            multiprocess_mode="livemin",
        ),
        worker_events=Gauge(
            "perflab_queue_worker_events",
            "Totals the workers keep in Redis for the namespace: jobs, batches, expired "
            "(skipped past their deadline), reclaimed (taken from a dead worker), "
            "dead_lettered, failed.",
            ["event"],
            multiprocess_mode="livemax",
        ),
        reclaimed=Counter(
            "perflab_queue_reclaimed_total",
            "Answers to jobs that a worker re-claimed from a dead one (delivered more than once).",
        ),
        dead_lettered=Counter(
            "perflab_queue_dead_lettered_total",
            "Requests answered 500 because their job went to the dead-letter stream.",
        ),
        duplicates=Counter(
            "perflab_queue_duplicate_answers_total",
            "Second answers to one job (it ran twice after a re-claim), ignored.",
        ),
        late=Counter(
            "perflab_queue_late_answers_total",
            "Answers that came after their request had already answered 504.",
        ),
        timed_out=Counter(
            "perflab_queue_timed_out_total",
            "Requests answered 504 because no answer came before the job's deadline.",
        ),
        refused=Counter(
            "perflab_queue_refused_total",
            "Enqueues refused with 503 by the enqueue script (backlog bound or expected wait).",
            ["kernel"],
        ),
        batch_size=Histogram(
            "perflab_queue_batch_size",
            "Jobs a worker read at once, per answered job.",
            buckets=(1, 2, 4, 8, 16, 32, 64),
        ),
    )
