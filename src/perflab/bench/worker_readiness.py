"""When a `perflab worker` is ready: every one of its consumer processes has heartbeated into
the namespace's live-workers set in Redis (`perflab.bench.launcher.perflab_worker` waits on it).

Usage::

    ready = WorkerReadiness(*worker_target(["--processes", "2"], env))
    ready.pid = launched.pid
    while not ready(): time.sleep(0.1)
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Mapping, Sequence

from perflab.bench.processes import process_tree


def worker_target(args: Sequence[str], env: Mapping[str, str] | None) -> tuple[str, str, int]:
    """The Redis URL, namespace and process count `perflab worker ARGS` will use.

    Usage: ``redis_url, namespace, processes = worker_target(["--processes", "2"], env)``
    """
    from perflab.config import Settings

    parser = argparse.ArgumentParser(add_help=False, allow_abbrev=False)
    parser.add_argument("--redis")
    parser.add_argument("--namespace")
    parser.add_argument("--processes", type=int, default=0)
    known, _ = parser.parse_known_args(list(args))
    merged = {**os.environ, **(env or {})}
    fields = Settings.model_fields
    redis_url = known.redis or merged.get("PERFLAB_REDIS_URL") or fields["redis_url"].default
    namespace = (
        known.namespace
        or merged.get("PERFLAB_QUEUE_NAMESPACE")
        or fields["queue_namespace"].default
    )
    return str(redis_url), str(namespace), known.processes or os.cpu_count() or 1


class WorkerReadiness:
    """True once `processes` consumers of the worker's own process tree are live in Redis.

    Consumer names carry their pid (namespace:host:pid:token), so entries left by earlier
    workers in the same namespace never count: the log cannot tell (the default log level
    hides the consumers' start lines) and a count of new entries can be fooled.

    Usage: ``ready = WorkerReadiness(url, "ns", 2); ready.pid = worker.pid; ready()``
    """

    def __init__(self, redis_url: str, namespace: str, processes: int) -> None:
        import redis

        from perflab.app.offload.streams import QueueNames

        self.pid = 0  # set once the worker runs
        self.processes = processes
        self.key = QueueNames(namespace).workers
        self.client = redis.Redis.from_url(redis_url, socket_timeout=2, socket_connect_timeout=2)
        self.redis_error: type[Exception] = redis.RedisError

    def __call__(self) -> bool:
        tree = {process.pid for process in process_tree(self.pid)}
        try:
            members: list[bytes] = self.client.zrange(self.key, 0, -1)  # type: ignore[assignment]  # sync client: a list, not an awaitable
            names = [member.decode() for member in members]
        except self.redis_error:
            return False  # Redis not (yet) reachable: the worker retries too; the deadline rules
        pids = {int(name.split(":")[-2]) for name in names if name.count(":") >= 3}
        return len(pids & tree) >= self.processes

    def close(self) -> None:
        self.client.close()
