"""Overload on default settings, through real servers: the seeds' own loads pass, every answer is
right, shedding still answers at once, and a killed worker process fails at most its own job."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import signal
from pathlib import Path

import aiohttp
import psutil
import pytest

from perflab.app.faceblur.service import BlurOptions, blur_image
from tests.app.faceblur.images import small_jpeg
from tests.support.prom import scrape, value
from tests.support.servers import RunningServer, get_json, perflab_server

pytestmark = pytest.mark.anyio


async def post_many(
    server: RunningServer, path: str, body: bytes, concurrency: int, total: int
) -> list[tuple[int, bytes]]:
    """A closed loop like `ab -c concurrency -n total`: (status, body) of every answer."""
    headers = {"Content-Type": "application/json"}
    connector = aiohttp.TCPConnector(limit=concurrency)
    timeout = aiohttp.ClientTimeout(total=120)
    answers: list[tuple[int, bytes]] = []
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        remaining = total

        async def client() -> None:
            nonlocal remaining
            while remaining > 0:
                remaining -= 1
                async with session.post(server.url(path), data=body, headers=headers) as answer:
                    answers.append((answer.status, await answer.read()))

        await asyncio.gather(*(client() for _ in range(concurrency)))
    return answers


async def test_seed_000_shape_gets_every_answer_right_on_defaults(tmp_path: Path) -> None:
    # Seed 000: `ab -c 100` posting base64 JSON to /api/blur/encoded, two server workers. Before
    # admission by expected wait, each worker's fixed queue (64) refused up to 76% of these.
    jpeg = small_jpeg("astronaut", width_px=512)
    body = json.dumps({"image": base64.b64encode(jpeg).decode()}).encode()
    expected = blur_image(jpeg, BlurOptions())
    with perflab_server(tmp_path, "--workers", "2") as server:
        answers = await post_many(server, "/api/blur/encoded", body, concurrency=100, total=200)
    statuses = [status for status, _ in answers]
    assert statuses == [200] * 200
    for _, answer in answers:
        payload = json.loads(answer)
        assert base64.b64decode(payload["data"]) == expected.jpeg
        assert payload["faces"] == [list(box) for box in expected.faces]


def worker_processes(server: RunningServer) -> list[psutil.Process]:
    """The offloader's worker processes: the children of the server's forkserver."""
    root = psutil.Process(server.process.pid)
    forkservers = [p for p in root.children() if "forkserver" in " ".join(p.cmdline())]
    return [worker for fs in forkservers for worker in fs.children()]


async def test_a_killed_worker_process_fails_at_most_its_own_job(tmp_path: Path) -> None:
    env = {"PERFLAB_OFFLOAD_WORKERS": "2"}
    with perflab_server(tmp_path, "--offload", "process", env=env) as server:
        before = {p.pid for p in worker_processes(server)}
        assert len(before) == 2
        async with aiohttp.ClientSession() as session:

            async def burn() -> int:
                async with session.get(server.url("/diag/cpu?work_ms=150")) as answer:
                    await answer.read()
                    return answer.status

            load = [asyncio.ensure_future(burn()) for _ in range(30)]
            await asyncio.sleep(0.5)
            os.kill(min(before), signal.SIGKILL)
            statuses = await asyncio.gather(*load)
        after = {p.pid for p in worker_processes(server)}
        samples = scrape(server.url("/metrics"))
    assert statuses.count(200) >= 29, statuses
    assert set(statuses) <= {200, 503}
    assert len(after) == 2
    assert min(before) not in after
    assert value(samples, "perflab_offload_worker_restarts_total") == 1


async def test_health_and_metrics_show_each_resource(tmp_path: Path) -> None:
    env = {"PERFLAB_OFFLOAD_WORKERS": "1", "PERFLAB_QUEUE_MEMORY_MB": "100"}
    with perflab_server(tmp_path, "--offload", "thread", env=env) as server:
        async with aiohttp.ClientSession() as session:
            async with session.get(server.url("/diag/cpu?work_ms=300")) as taught:
                assert taught.status == 200
            slow = asyncio.ensure_future(session.get(server.url("/diag/cpu?work_ms=600")))
            await asyncio.sleep(0.2)
            budget = {"X-Queue-Budget-S": "0.01"}
            async with session.get(server.url("/diag/cpu?work_ms=1"), headers=budget) as shed:
                assert shed.status == 503
                assert int(shed.headers["Retry-After"]) >= 1
                # Refused at once: the running job it would have waited for is still running.
                assert not slow.done()
            _, health = get_json(server.url("/healthz"))
            async with await slow as answer:
                assert answer.status == 200
        samples = scrape(server.url("/metrics"))
    offload = health["admission"]["offload"]
    assert offload["slots"] == 1
    assert offload["in_system"] == 1
    assert offload["expected_wait_s"] > 0
    assert offload["memory_budget_bytes"] == 100 * 1024 * 1024
    assert offload["shed_expected_wait"] == 1
    shed = value(
        samples, "perflab_admission_shed_total", resource="offload", reason="expected_wait"
    )
    assert shed == 1
    assert ("perflab_admission_expected_wait_seconds", frozenset({("resource", "offload")})) in (
        samples
    )
