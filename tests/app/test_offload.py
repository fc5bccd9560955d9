"""The offloaders: where kernels run, how their errors come back, bounds, dead workers."""

from __future__ import annotations

import asyncio
import os
import threading

import pytest

from perflab.app.errors import BadRequest, KernelFailed, Overloaded, WorkerLost
from perflab.app.offload import (
    InlineOffloader,
    Offloader,
    ProcessOffloader,
    ThreadOffloader,
    make_offloader,
)
from perflab.config import OffloadKind, Settings
from tests.app import kernels

pytestmark = pytest.mark.anyio

WARMUP = "tests.app.kernels:warm_up"


def build(kind: str, slots: int = 2, queue: int = 4) -> Offloader:
    if kind == "inline":
        return InlineOffloader()
    if kind == "thread":
        return ThreadOffloader(slots, queue)
    return ProcessOffloader(slots, queue, warmups=[WARMUP])


@pytest.fixture(params=["inline", "thread", "process"])
async def offloader(request: pytest.FixtureRequest) -> object:
    off = build(request.param)
    await off.start()
    yield off
    await off.close()


async def test_runs_kernel_where_its_kind_says(offloader: Offloader) -> None:
    pid, thread_id = await offloader.run(kernels.where)
    assert await offloader.run(kernels.add, 2, 3) == 5
    if offloader.kind is OffloadKind.INLINE:
        assert (pid, thread_id) == (os.getpid(), threading.get_ident())
    elif offloader.kind is OffloadKind.THREAD:
        assert pid == os.getpid()
        assert thread_id != threading.get_ident()
    else:
        assert pid != os.getpid()


async def test_process_workers_are_warmed_up_once_each() -> None:
    off = ProcessOffloader(2, 8, warmups=[WARMUP])
    await off.start()
    try:
        results = await asyncio.gather(*(off.run(kernels.warmed_pids) for _ in range(8)))
    finally:
        await off.close()
    # Each worker ran the warm-up exactly once, in its own process, before serving jobs.
    for warmed, pid in results:
        assert warmed == [pid]
    assert os.getpid() not in {pid for _, pid in results}


async def test_client_errors_keep_their_meaning(offloader: Offloader) -> None:
    with pytest.raises(BadRequest, match="not an image"):
        await offloader.run(kernels.reject, "not an image")


async def test_unexpected_kernel_errors_become_kernel_failed(offloader: Offloader) -> None:
    with pytest.raises(KernelFailed, match="ZeroDivisionError"):
        await offloader.run(kernels.crash)
    # The offloader is still usable afterwards.
    assert await offloader.run(kernels.add, 1, 1) == 2


async def test_full_thread_offloader_refuses_at_once() -> None:
    off = ThreadOffloader(slots=1, queue_limit=1)
    running = asyncio.ensure_future(off.run(kernels.sleep_s, 0.5))
    waiting = asyncio.ensure_future(off.run(kernels.sleep_s, 0.01))
    await asyncio.sleep(0.05)
    assert off.stats().running == 1
    assert off.stats().queued == 1
    with pytest.raises(Overloaded) as refused:
        await off.run(kernels.add, 1, 2)
    assert refused.value.headers() == {"Retry-After": "1"}
    assert refused.value.status == 503
    assert await running == 0.5
    assert await waiting == 0.01
    assert off.stats().rejected == 1


async def test_full_process_offloader_refuses_at_once() -> None:
    off = ProcessOffloader(slots=1, queue_limit=0)
    await off.start()
    try:
        busy = asyncio.ensure_future(off.run(kernels.sleep_s, 0.5))
        await asyncio.sleep(0.05)
        with pytest.raises(Overloaded):
            await off.run(kernels.add, 1, 2)
        assert await busy == 0.5
        assert await off.run(kernels.add, 1, 2) == 3
    finally:
        await off.close()


async def test_dead_worker_fails_its_job_and_is_replaced() -> None:
    off = ProcessOffloader(slots=1, queue_limit=4)
    await off.start()
    try:
        with pytest.raises(WorkerLost) as lost:
            await off.run(kernels.die)
        assert lost.value.status == 503
        assert "Retry-After" in lost.value.headers()
        # The next jobs succeed on a fresh worker.
        assert await off.run(kernels.add, 20, 22) == 42
        assert off.stats().worker_restarts == 1
    finally:
        await off.close()


async def test_process_workers_run_at_the_configured_niceness() -> None:
    off = ProcessOffloader(1, 1, nice=7)
    await off.start()
    try:
        assert await off.run(kernels.niceness) == os.nice(0) + 7
    finally:
        await off.close()


def test_make_offloader_follows_settings() -> None:
    for kind, cls in [("inline", InlineOffloader), ("thread", ThreadOffloader)]:
        assert isinstance(make_offloader(Settings(offload=kind)), cls)
    process = make_offloader(Settings(offload="process", offload_workers=3, offload_queue=7))
    assert isinstance(process, ProcessOffloader)
    assert (process.slots, process.queue_limit) == (3, 7)
