"""The queue when things break, against the real Redis and real workers: a worker killed with
SIGKILL under load, a slow but live worker, a job that keeps killing its workers, and Redis
going away (and its consumer group with it) and coming back."""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path

import anyio
import pytest
import redis

from perflab.app.diag.service import burn_cpu
from perflab.app.errors import KernelFailed, Unavailable
from perflab.app.offload.streams import QueueNames
from tests.app.notes.proxy import TcpProxy
from tests.app.offload.workers import eventually, queue_offloader, queue_worker
from tests.support.servers import free_port

pytestmark = [pytest.mark.anyio, pytest.mark.redis, pytest.mark.timeout(180)]

# Short, so that re-claiming shows within a test; live workers heartbeat four times per period.
FAST = {"PERFLAB_QUEUE_VISIBILITY_TIMEOUT_S": "1.0"}


def pending_of(client: redis.Redis, names: QueueNames) -> dict[str, int]:
    """Jobs each consumer holds now, by consumer name."""
    summary = client.xpending(names.jobs("cpu"), names.group)
    return {c["name"].decode(): int(c["pending"]) for c in summary["consumers"] or []}


async def test_a_killed_worker_loses_no_request(
    tmp_path: Path, redis_url: str, namespace: str, sync_redis: redis.Redis
) -> None:
    names = QueueNames(namespace)
    with queue_worker(tmp_path, redis_url, namespace, env=FAST) as doomed:
        doomed_consumers = set(sync_redis.zrange(names.workers, 0, -1))
        with queue_worker(tmp_path, redis_url, namespace, env=FAST):
            async with queue_offloader(redis_url, namespace) as offloader:
                load = [asyncio.create_task(offloader.run(burn_cpu, 150)) for _ in range(30)]
                # Kill the first worker, supervisor and process together, while it holds a job:
                # frozen (SIGSTOP) so that what it holds cannot change between look and kill.
                with anyio.fail_after(60):
                    while True:
                        doomed.signal_all(signal.SIGSTOP)
                        held = pending_of(sync_redis, names)
                        if any(held.get(c.decode(), 0) for c in doomed_consumers):
                            break
                        doomed.signal_all(signal.SIGCONT)
                        await anyio.sleep(0.05)
                doomed.kill()
                with anyio.fail_after(120):
                    answers = await asyncio.gather(*load)
                stats = offloader.queue_stats()
    assert len(answers) == 30
    assert all(answer["work_ms"] == 150 for answer in answers)
    assert stats["reclaimed"] >= 1  # the killed worker's job, answered by the other one
    assert stats["dead_lettered"] == 0


async def test_a_slow_live_worker_keeps_its_job(
    tmp_path: Path, redis_url: str, namespace: str, sync_redis: redis.Redis
) -> None:
    names = QueueNames(namespace)
    with (
        queue_worker(tmp_path, redis_url, namespace, env=FAST) as first,
        queue_worker(tmp_path, redis_url, namespace, env=FAST) as second,
    ):
        async with queue_offloader(redis_url, namespace) as offloader:
            # Three visibility timeouts of CPU work: only the heartbeats keep it from being
            # re-claimed by the idle worker.
            with anyio.fail_after(60):
                answer = await offloader.run(burn_cpu, 3000)
            assert answer["work_ms"] == 3000
            # Both stop only after finishing what they hold: a re-run would be counted now.
            assert first.stop() == 0
            assert second.stop() == 0
            assert offloader.queue_stats()["reclaimed"] == 0
    totals = {k.decode(): int(v) for k, v in sync_redis.hgetall(names.stats).items()}
    assert totals["jobs"] == 1
    assert "reclaimed" not in totals


async def test_a_job_delivered_too_often_is_dead_lettered_with_a_clear_500(
    tmp_path: Path, redis_url: str, namespace: str, sync_redis: redis.Redis
) -> None:
    names = QueueNames(namespace)
    jobs = names.jobs("cpu")
    sync_redis.xgroup_create(jobs, names.group, id="0", mkstream=True)
    async with queue_offloader(redis_url, namespace) as offloader:
        request = asyncio.create_task(offloader.run(burn_cpu, 1))
        await eventually(lambda: sync_redis.xlen(jobs) == 1)
        # Two workers in turn take the job and die holding it (they never answer).
        (entry_id,) = [
            e for e, _ in sync_redis.xreadgroup(names.group, "ghost-1", {jobs: ">"})[0][1]
        ]
        sync_redis.xclaim(jobs, names.group, "ghost-2", 0, [entry_id])
        env = {**FAST, "PERFLAB_QUEUE_MAX_DELIVERIES": "2"}
        with (
            queue_worker(tmp_path, redis_url, namespace, env=env),
            anyio.fail_after(60),
            pytest.raises(KernelFailed, match="dead-letter") as failed,
        ):
            await request
        assert failed.value.status == 500
        assert offloader.queue_stats()["dead_lettered"] == 1
    ((_, fields),) = sync_redis.xrange(names.dead)
    assert fields[b"id"] == entry_id
    assert fields[b"deliveries"] == b"2"
    assert fields[b"last_consumer"] == b"ghost-2"
    assert b"job" in fields  # the job itself, to inspect or replay
    assert sync_redis.xlen(jobs) == 0


async def test_redis_down_is_503_at_once_and_service_resumes_without_restart(
    tmp_path: Path, redis_url: str, namespace: str, sync_redis: redis.Redis
) -> None:
    target = redis.Redis.from_url(redis_url).connection_pool.connection_kwargs
    proxy = TcpProxy(free_port(), target.get("host", "127.0.0.1"), target.get("port", 6379))
    proxy.start()
    proxied = f"redis://127.0.0.1:{proxy.listen_port}/{target.get('db', 0)}"
    names = QueueNames(namespace)
    try:
        # The API and the worker both reach Redis through the proxy: both see it go away.
        with queue_worker(tmp_path, proxied, namespace, env=FAST):
            async with queue_offloader(proxied, namespace) as offloader:
                with anyio.fail_after(30):
                    await offloader.run(burn_cpu, 1)
                    assert "1 live workers" in await offloader.ready()

                proxy.stop()
                with anyio.fail_after(5):  # at once: no waiting for a deadline
                    with pytest.raises(Unavailable) as refused:
                        await offloader.run(burn_cpu, 1)
                    assert refused.value.status == 503
                    assert refused.value.code == "unavailable"
                    assert "Retry-After" in refused.value.headers()
                    with pytest.raises(Unavailable):
                        await offloader.ready()

                proxy.start()
                with anyio.fail_after(60):
                    while True:  # back as soon as Redis is: no restart of API or worker
                        try:
                            await offloader.run(burn_cpu, 1)
                            break
                        except Unavailable:
                            await anyio.sleep(0.2)
                    await offloader.ready()

                # The consumer group vanishes: the worker re-creates it, and a job enqueued
                # meanwhile is still served.
                sync_redis.xgroup_destroy(names.jobs("cpu"), names.group)
                with anyio.fail_after(60):
                    answer = await offloader.run(burn_cpu, 1)
                assert answer["work_ms"] == 1
    finally:
        proxy.close()
