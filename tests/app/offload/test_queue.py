"""The queue offloader against the real Redis and real `perflab worker` processes: every kernel
round trip, the bounded enqueue, deadlines, namespaces, and a clean stop on SIGTERM."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import anyio
import msgspec
import pytest
import redis

from perflab.app.classify import service as classify_service
from perflab.app.classify.service import ClassifyOptions, Prediction, classify_image
from perflab.app.diag.service import burn_cpu
from perflab.app.errors import BadRequest, JobTimedOut, Overloaded
from perflab.app.faceblur.service import BlurOptions, BlurResult, blur_image
from perflab.app.offload import kernels, wire
from perflab.app.offload.streams import QueueNames
from perflab.app.payload.service import summarize
from perflab.app.payload.spool import MemoryBody, SpooledBody
from tests.app.classify.images import photo
from tests.app.faceblur.images import small_face_jpeg
from tests.app.offload.workers import (
    consumer_pid,
    eventually,
    live_consumers,
    queue_offloader,
    queue_worker,
)

pytestmark = [pytest.mark.anyio, pytest.mark.redis, pytest.mark.timeout(120)]


async def test_every_registered_kernel_round_trips_through_a_worker(
    tmp_path: Path,
    redis_url: str,
    namespace: str,
    classify_model_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    body = b'{"name": "big", "data": {"a": 3, "b": -1, "c": 9}}'
    spooled = tmp_path / "body.json"
    spooled.write_bytes(body)
    image = small_face_jpeg()
    env = {"PERFLAB_MODEL_DIR": str(classify_model_dir)}
    every = ",".join(kernels.names())
    with queue_worker(tmp_path, redis_url, namespace, kernels=every, env=env) as worker:
        (consumer,) = live_consumers(redis_url, namespace)
        async with queue_offloader(redis_url, namespace) as offloader:
            with anyio.fail_after(60):
                blurred = await offloader.run(blur_image, image, BlurOptions())
                parsed = await offloader.run(summarize, MemoryBody(bytearray(body)))
                from_file = await offloader.run(summarize, SpooledBody(str(spooled), len(body)))
                burnt = await offloader.run(burn_cpu, 5)
                predicted = await offloader.run(classify_image, photo(3))
                with pytest.raises(BadRequest, match="not a JPEG, PNG or WebP"):
                    await offloader.run(blur_image, b"GIF89a not supported", BlurOptions())
    assert isinstance(blurred, BlurResult)
    assert blurred == blur_image(image, BlurOptions())  # the same answer as run here
    assert parsed == from_file == {"name": "big", "count": 3, "maxval": 9}
    assert burnt["pid"] == consumer_pid(consumer) != os.getpid()
    monkeypatch.setattr(classify_service, "_options", ClassifyOptions(model_dir=classify_model_dir))
    assert isinstance(predicted, Prediction)
    assert predicted == classify_image(photo(3))
    assert set(kernels.names()) == {
        "blur",
        "parse_json",
        "classify",
        "cpu",
    }  # all of them, above
    assert worker.stop() == 0


async def test_enqueue_past_the_backlog_bound_is_503_at_once(
    redis_url: str, namespace: str, sync_redis: redis.Redis
) -> None:
    jobs = QueueNames(namespace).jobs("cpu")
    async with queue_offloader(redis_url, namespace, queue_backlog_max=2) as offloader:
        waiting = [asyncio.create_task(offloader.run(burn_cpu, 1)) for _ in range(2)]
        await eventually(lambda: sync_redis.xlen(jobs) == 2)
        with pytest.raises(Overloaded) as refused:
            await offloader.run(burn_cpu, 1)
        assert refused.value.status == 503
        assert int(refused.value.headers()["Retry-After"]) >= 1
        assert refused.value.details == [{"resource": "queue:cpu", "backlog": 2, "limit": 2}]
        # The stream was never trimmed: both waiting jobs are still there, and a request that
        # gives up takes its job out, so no worker runs it for nobody.
        assert sync_redis.xlen(jobs) == 2
        for task in waiting:
            task.cancel()
        await asyncio.gather(*waiting, return_exceptions=True)
        await eventually(lambda: sync_redis.xlen(jobs) == 0)
        assert offloader.queue_stats()["in_flight"] == 0


async def test_every_api_instance_sees_the_same_expected_wait(
    redis_url: str, namespace: str, sync_redis: redis.Redis
) -> None:
    jobs = QueueNames(namespace).jobs("cpu")
    settings = {"queue_budget_s": 2.0}
    async with (
        queue_offloader(redis_url, namespace, **settings) as first,
        queue_offloader(redis_url, namespace, **settings) as second,
    ):
        waiting = [asyncio.create_task(first.run(burn_cpu, 1)) for _ in range(3)]
        await eventually(lambda: sync_redis.xlen(jobs) == 3)
        # The second instance holds nothing itself, but 3 jobs of 1 s ahead on 1 worker is a
        # 3 s wait: past its 2 s budget, so the enqueue script refuses it.
        second.admission.service_time_s = 1.0
        with pytest.raises(Overloaded, match="3 unfinished jobs"):
            await second.run(burn_cpu, 1)
        for task in waiting:
            task.cancel()
        await asyncio.gather(*waiting, return_exceptions=True)


async def test_a_late_answer_is_a_504_and_expired_jobs_are_skipped(
    tmp_path: Path, redis_url: str, namespace: str, sync_redis: redis.Redis
) -> None:
    names = QueueNames(namespace)
    with queue_worker(tmp_path, redis_url, namespace) as worker:
        async with queue_offloader(redis_url, namespace, queue_deadline_s=0.5) as offloader:
            with anyio.fail_after(30), pytest.raises(JobTimedOut) as timed_out:
                await offloader.run(burn_cpu, 1500)  # outlives its 0.5 s deadline
            assert timed_out.value.status == 504
            # The worker still finishes it; its answer arrives late and is only counted.
            await eventually(lambda: offloader.counts["late"] == 1)

            # A job already past its deadline when a worker reads it is never run.
            kernel = kernels.kernel_named("cpu")
            raw = msgspec.Raw(wire.encode_args(kernel, (10_000,)))
            job = wire.encode(wire.JobMessage(999_999, "cpu", offloader.reply_stream, raw))
            sync_redis.xadd(names.jobs("cpu"), {"deadline_ms": "1", "job": job})
            async with queue_offloader(redis_url, namespace) as patient:
                with anyio.fail_after(30):
                    await patient.run(burn_cpu, 1)  # queued behind it, on the one worker
            assert int(sync_redis.hget(names.stats, "expired") or 0) == 1
            assert sync_redis.xlen(names.jobs("cpu")) == 0
            assert offloader.counts == {
                "duplicates": 0,
                "late": 1,
                "reclaimed": 0,
                "dead_lettered": 0,
            }
        assert worker.stop() == 0


async def test_two_namespaces_never_mix(tmp_path: Path, redis_url: str, namespace: str) -> None:
    other = namespace + "-other"
    try:
        with (
            queue_worker(tmp_path, redis_url, namespace),
            queue_worker(tmp_path, redis_url, other),
        ):
            pids = {ns: consumer_pid(live_consumers(redis_url, ns)[0]) for ns in (namespace, other)}
            async with (
                queue_offloader(redis_url, namespace) as mine,
                queue_offloader(redis_url, other) as theirs,
            ):
                with anyio.fail_after(60):
                    answers = await asyncio.gather(
                        *(off.run(burn_cpu, 20) for off in (mine, theirs) * 6)
                    )
        assert {a["pid"] for a in answers[0::2]} == {pids[namespace]}
        assert {a["pid"] for a in answers[1::2]} == {pids[other]}
    finally:
        client = redis.Redis.from_url(redis_url)
        keys = list(client.scan_iter(match=QueueNames(other).tag + "*"))
        if keys:
            client.delete(*keys)
        client.close()


async def test_sigterm_finishes_the_jobs_in_hand_then_exits_0(
    tmp_path: Path, redis_url: str, namespace: str, sync_redis: redis.Redis
) -> None:
    names = QueueNames(namespace)
    with queue_worker(tmp_path, redis_url, namespace) as worker:
        async with queue_offloader(redis_url, namespace) as offloader:
            running = asyncio.create_task(offloader.run(burn_cpu, 1000))
            # Stop it once it holds the job (the job is pending in its consumer).
            await eventually(
                lambda: sync_redis.xpending(names.jobs("cpu"), names.group)["pending"] == 1
            )
            worker.process.terminate()
            with anyio.fail_after(30):
                answer = await running
            assert answer["work_ms"] == 1000
            assert await anyio.to_thread.run_sync(worker.process.wait, 30) == 0
        assert live_consumers(redis_url, namespace) == []  # it left the live set on the way out
        assert "stopped" in worker.log()
