"""Deliveries lost on the way: a job Redis handed to a worker (it sits in that consumer's
pending list) that the worker never received, as when the connection breaks after XREADGROUP's
answer left Redis. The job is still run, whether or not the worker saw a Redis error; and
breaking a worker's connections again and again under load loses no request. Against the real
Redis and real `perflab worker` processes."""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path

import anyio
import pytest
import redis

from perflab.app.diag.service import burn_cpu
from perflab.app.offload.queue import QueueOffloader
from perflab.app.offload.streams import QueueNames
from tests.app.offload.workers import (
    RunningWorker,
    eventually,
    live_consumers,
    queue_offloader,
    queue_worker,
)

pytestmark = [pytest.mark.anyio, pytest.mark.redis, pytest.mark.timeout(180)]

# Re-claiming after one second: a job the heartbeat does not keep alive is soon taken back.
FAST = {"PERFLAB_QUEUE_VISIBILITY_TIMEOUT_S": "1.0"}
# Re-claiming only after a minute, past the test's patience: only the recovery after a Redis
# error can bring a lost job back in time.
NO_RECLAIM = {"PERFLAB_QUEUE_VISIBILITY_TIMEOUT_S": "60"}


def connections_of(client: redis.Redis, consumer: str) -> list[dict[str, str]]:
    """The worker process's connections: it names them by its consumer name."""
    return [c for c in client.client_list() if c.get("name") == consumer]


def blocked_reading(client: redis.Redis, consumer: str) -> bool:
    return any("b" in c["flags"] for c in connections_of(client, consumer))


def break_connections(client: redis.Redis, consumer: str) -> int:
    """CLIENT KILL every connection of one worker process; how many there were."""
    return sum(
        int(client.client_kill_filter(_id=c["id"])) for c in connections_of(client, consumer)
    )


def pending_of(client: redis.Redis, names: QueueNames) -> dict[str, int]:
    summary = client.xpending(names.jobs("cpu"), names.group)
    return {c["name"].decode(): int(c["pending"]) for c in summary["consumers"] or []}


def totals(client: redis.Redis, names: QueueNames) -> dict[str, int]:
    return {k.decode(): int(v) for k, v in client.hgetall(names.stats).items()}


async def deliver_behind_its_back(
    worker: RunningWorker,
    consumer: str,
    offloader: QueueOffloader,
    client: redis.Redis,
    names: QueueNames,
) -> asyncio.Task[dict[str, int]]:
    """Start a request whose job Redis hands to `consumer` (XREADGROUP in its name, from here)
    while the worker process is frozen and not reading: the job is in its pending list, and
    the process never sees it. Returns the request, the worker thawed."""
    jobs = names.jobs("cpu")
    worker.signal_all(signal.SIGSTOP)
    try:
        # Its last blocking read ends in Redis (at most a second): nothing of it is waiting
        # for the job any more.
        await eventually(lambda: not blocked_reading(client, consumer))
        request = asyncio.create_task(offloader.run(burn_cpu, 5))
        await eventually(lambda: client.xlen(jobs) == 1)
        client.xreadgroup(names.group, consumer, {jobs: ">"}, count=1)
        assert pending_of(client, names) == {consumer: 1}
    finally:
        worker.signal_all(signal.SIGCONT)
    return request


async def test_a_lost_delivery_goes_idle_and_is_reclaimed_without_any_error(
    tmp_path: Path, redis_url: str, namespace: str, sync_redis: redis.Redis
) -> None:
    names = QueueNames(namespace)
    with queue_worker(tmp_path, redis_url, namespace, env=FAST) as worker:
        (consumer,) = live_consumers(redis_url, namespace)
        async with queue_offloader(redis_url, namespace) as offloader:
            request = await deliver_behind_its_back(worker, consumer, offloader, sync_redis, names)
            # The heartbeat refreshes only the jobs the process holds, so this one goes idle
            # and the worker's own RECLAIM takes it (no other worker is there).
            with anyio.fail_after(60):
                assert (await request)["work_ms"] == 5
            assert offloader.queue_stats()["reclaimed"] == 1
            assert worker.stop() == 0
    assert totals(sync_redis, names) == {"jobs": 1, "batches": 1, "reclaimed": 1}
    assert sync_redis.xlen(names.jobs("cpu")) == 0


async def test_after_a_broken_connection_a_worker_takes_back_what_it_lost(
    tmp_path: Path, redis_url: str, namespace: str, sync_redis: redis.Redis
) -> None:
    names = QueueNames(namespace)
    with queue_worker(tmp_path, redis_url, namespace, env=NO_RECLAIM) as worker:
        (consumer,) = live_consumers(redis_url, namespace)
        async with queue_offloader(redis_url, namespace) as offloader:
            request = await deliver_behind_its_back(worker, consumer, offloader, sync_redis, names)
            # Thawed, it blocks in its next read: break the connection under it.
            await eventually(lambda: blocked_reading(sync_redis, consumer))
            assert break_connections(sync_redis, consumer) >= 1
            with anyio.fail_after(30):  # long before the minute a re-claim would wait
                assert (await request)["work_ms"] == 5
            assert offloader.queue_stats()["reclaimed"] == 0
            assert worker.stop() == 0
    # Run once, by the worker it was delivered to, counted as recovered (not re-claimed).
    assert totals(sync_redis, names) == {"jobs": 1, "batches": 1, "recovered": 1}
    assert sync_redis.xlen(names.jobs("cpu")) == 0


async def test_broken_worker_connections_under_load_lose_no_request(
    tmp_path: Path, redis_url: str, namespace: str, sync_redis: redis.Redis
) -> None:
    names = QueueNames(namespace)
    env = {**NO_RECLAIM, "PERFLAB_BATCH_MAX": "4"}
    with queue_worker(tmp_path, redis_url, namespace, env=env) as worker:
        (consumer,) = live_consumers(redis_url, namespace)
        async with queue_offloader(redis_url, namespace) as offloader:
            load = [asyncio.create_task(offloader.run(burn_cpu, 50)) for _ in range(40)]
            broken = 0
            with anyio.fail_after(120):
                # Every connection of the worker, again and again while it holds jobs: reads,
                # answers, heartbeats and recoveries all get cut somewhere.
                while not all(task.done() for task in load):
                    if sum(pending_of(sync_redis, names).values()):
                        broken += break_connections(sync_redis, consumer)
                    await anyio.sleep(0.15)
                answers = await asyncio.gather(*load)
            assert broken >= 3
            assert [answer["work_ms"] for answer in answers] == [50] * 40
            assert offloader.queue_stats()["dead_lettered"] == 0
            assert worker.stop() == 0
    stats = totals(sync_redis, names)
    assert stats["jobs"] >= 40  # a job whose answer was cut off may have been answered twice
    assert "reclaimed" not in stats  # none waited for the visibility timeout
    assert sync_redis.xlen(names.jobs("cpu")) == 0
