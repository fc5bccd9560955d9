"""A Redis that restarts empty under waiting jobs: they were lost with it, so their requests
get 503 + Retry-After (`worker_lost`) at once, not a timeout at their deadline. Found by the
faults study (a private Redis restarted under load left requests unanswered for 10 s)."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import anyio
import pytest

from perflab.app.diag.service import burn_cpu
from perflab.app.errors import WorkerLost
from perflab.bench.faults.private_services import missing_private_service, private_redis
from tests.app.offload.workers import eventually, queue_offloader

pytestmark = [
    pytest.mark.anyio,
    pytest.mark.skipif(missing_private_service("redis") is not None, reason="no redis-server"),
]


async def test_jobs_lost_with_a_restarted_redis_answer_503_at_once(tmp_path: Path) -> None:
    with private_redis(tmp_path) as server:
        # No worker: the jobs wait in Redis, as they would behind a busy pool.
        async with queue_offloader(server.url, "restart", queue_deadline_s=60.0) as offloader:
            await eventually(lambda: offloader.queue_stats()["redis_up"])
            waiting = [asyncio.create_task(offloader.run(burn_cpu, 1)) for _ in range(3)]
            await eventually(lambda: offloader.queue_stats()["in_flight"] == 3)
            server.stop()
            await anyio.sleep(1.0)  # the reply reader notices
            server.start()
            started_s = time.monotonic()
            with anyio.fail_after(10):  # far below the 60 s deadline
                outcomes = await asyncio.gather(*waiting, return_exceptions=True)
            assert time.monotonic() - started_s < 10
            assert all(isinstance(outcome, WorkerLost) for outcome in outcomes), outcomes
            assert all(outcome.retry_after_s > 0 for outcome in outcomes)  # type: ignore[union-attr]
            # New jobs go to the new Redis as usual (they wait: no worker), and are not failed.
            fresh = asyncio.create_task(offloader.run(burn_cpu, 1))
            await anyio.sleep(2.5)  # two samples of the new server
            assert not fresh.done()
            fresh.cancel()
