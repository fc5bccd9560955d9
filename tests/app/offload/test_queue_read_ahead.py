"""A worker reads its next job while its kernel runs the current one (the read-ahead): the
job read ahead is held like the running one, so SIGTERM, SIGKILL and deadlines treat it alike.
Against the real Redis and real `perflab worker` processes."""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path

import anyio
import pytest
import redis

from perflab.app.diag.service import burn_cpu
from perflab.app.errors import JobTimedOut
from perflab.app.offload.streams import QueueNames
from tests.app.offload.workers import eventually, queue_offloader, queue_worker

pytestmark = [pytest.mark.anyio, pytest.mark.redis, pytest.mark.timeout(180)]

# Short, so that re-claiming shows within a test; live workers heartbeat four times per period.
FAST = {"PERFLAB_QUEUE_VISIBILITY_TIMEOUT_S": "1.0"}


def held(client: redis.Redis, names: QueueNames) -> dict[str, int]:
    """Jobs each consumer holds now (read, not yet answered), by consumer name."""
    summary = client.xpending(names.jobs("cpu"), names.group)
    return {c["name"].decode(): int(c["pending"]) for c in summary["consumers"] or []}


def totals(client: redis.Redis, names: QueueNames) -> dict[str, int]:
    return {k.decode(): int(v) for k, v in client.hgetall(names.stats).items()}


async def test_sigterm_answers_the_job_read_ahead_and_leaves_the_rest(
    tmp_path: Path, redis_url: str, namespace: str, sync_redis: redis.Redis
) -> None:
    names = QueueNames(namespace)
    jobs = names.jobs("cpu")
    async with (
        queue_offloader(redis_url, namespace) as offloader,
        queue_offloader(redis_url, namespace, queue_deadline_s=1.0) as hasty,
    ):
        with queue_worker(tmp_path, redis_url, namespace) as worker:
            # Frozen while three jobs are queued, in this order: a long one, one that expires
            # while it waits behind that one, a third. Thawed, the worker runs the first and
            # reads the second ahead (one job a read: PERFLAB_BATCH_MAX=1); the third stays.
            worker.signal_all(signal.SIGSTOP)
            first = asyncio.create_task(offloader.run(burn_cpu, 1500))
            await eventually(lambda: sync_redis.xlen(jobs) == 1)
            expiring = asyncio.create_task(hasty.run(burn_cpu, 1))
            await eventually(lambda: sync_redis.xlen(jobs) == 2)
            third = asyncio.create_task(offloader.run(burn_cpu, 2))
            await eventually(lambda: sync_redis.xlen(jobs) == 3)
            worker.signal_all(signal.SIGCONT)
            await eventually(lambda: sum(held(sync_redis, names).values()) == 2)
            assert len(held(sync_redis, names)) == 1  # both with the one consumer
            worker.process.terminate()  # SIGTERM while the first job runs
            with anyio.fail_after(30):
                assert (await first)["work_ms"] == 1500
                with pytest.raises(JobTimedOut):
                    await expiring
            assert await anyio.to_thread.run_sync(worker.process.wait, 30) == 0
        # The job read ahead was answered (skipped: it expired before it could start), and
        # the stopping worker took nothing more: the third job is still there, for others.
        stats = totals(sync_redis, names)
        assert (stats["jobs"], stats["expired"]) == (1, 1)
        assert sync_redis.xlen(jobs) == 1
        assert held(sync_redis, names) == {}
        with queue_worker(tmp_path, redis_url, namespace), anyio.fail_after(60):
            assert (await third)["work_ms"] == 2
        assert offloader.queue_stats()["reclaimed"] == 0


async def test_the_job_a_killed_worker_read_ahead_is_reclaimed(
    tmp_path: Path, redis_url: str, namespace: str, sync_redis: redis.Redis
) -> None:
    names = QueueNames(namespace)
    jobs = names.jobs("cpu")
    async with queue_offloader(redis_url, namespace) as offloader:
        load = [asyncio.create_task(offloader.run(burn_cpu, 2000)) for _ in range(2)]
        await eventually(lambda: sync_redis.xlen(jobs) == 2)
        with queue_worker(tmp_path, redis_url, namespace, env=FAST) as doomed:
            # Killed while it runs one job and holds the other read ahead.
            with anyio.fail_after(30):
                while True:
                    doomed.signal_all(signal.SIGSTOP)  # what it holds cannot change meanwhile
                    if sum(held(sync_redis, names).values()) == 2:
                        break
                    doomed.signal_all(signal.SIGCONT)
                    await anyio.sleep(0.02)
            doomed.kill()
        assert totals(sync_redis, names) == {}  # it answered nothing
        with queue_worker(tmp_path, redis_url, namespace, env=FAST), anyio.fail_after(60):
            answers = await asyncio.gather(*load)
        assert [answer["work_ms"] for answer in answers] == [2000, 2000]
        assert offloader.queue_stats()["reclaimed"] == 2  # both, by the worker started after
    assert totals(sync_redis, names)["reclaimed"] == 2
    assert sync_redis.xlen(jobs) == 0


async def test_a_busy_worker_reads_ahead_one_job_only(
    tmp_path: Path, redis_url: str, namespace: str, sync_redis: redis.Redis
) -> None:
    names = QueueNames(namespace)
    jobs = names.jobs("cpu")
    async with queue_offloader(redis_url, namespace) as offloader:
        with queue_worker(tmp_path, redis_url, namespace) as worker:
            load = [asyncio.create_task(offloader.run(burn_cpu, 400)) for _ in range(5)]
            await eventually(lambda: sync_redis.xlen(jobs) == 5)
            # One running, one read ahead, the rest left for any worker that comes: never more.
            most = 0
            with anyio.fail_after(60):
                while not all(task.done() for task in load):
                    most = max(most, sum(held(sync_redis, names).values()))
                    await anyio.sleep(0.01)
                answers = await asyncio.gather(*load)
            assert most == 2
            assert [answer["work_ms"] for answer in answers] == [400] * 5
            assert worker.stop() == 0
    assert totals(sync_redis, names) == {"jobs": 5, "batches": 5}
