"""Loop lag, overload and the operational endpoints, through real `perflab serve` processes."""

from __future__ import annotations

import asyncio
import json
import time
import urllib.request
from pathlib import Path

import aiohttp
import pytest

from tests.support.prom import scrape, value
from tests.support.servers import get_json, perflab_server

pytestmark = pytest.mark.anyio

BURN = "/diag/cpu?work_ms=300"


async def burn_concurrently(base_url: str, count: int) -> list[int]:
    async with aiohttp.ClientSession() as session:

        async def one() -> int:
            async with session.get(base_url + BURN) as response:
                await response.read()
                return response.status

        return await asyncio.gather(*(one() for _ in range(count)))


def lag_over(samples: dict[tuple[str, frozenset[tuple[str, str]]], float], s: float) -> float:
    """How many loop-lag observations were larger than `s` seconds."""
    total = value(samples, "perflab_event_loop_lag_seconds_count")
    within = value(samples, "perflab_event_loop_lag_seconds_bucket", le=str(s))
    return total - within


async def test_inline_cpu_work_shows_as_loop_lag(tmp_path: Path) -> None:
    with perflab_server(tmp_path, "--offload", "inline") as server:
        assert await burn_concurrently(server.base_url, 3) == [200, 200, 200]
        samples = scrape(server.url("/metrics"))
    assert value(samples, "perflab_event_loop_lag_max_seconds") >= 0.25
    assert lag_over(samples, 0.25) >= 1


async def test_process_offload_keeps_loop_lag_small(tmp_path: Path) -> None:
    with perflab_server(tmp_path, "--offload", "process") as server:
        assert await burn_concurrently(server.base_url, 3) == [200, 200, 200]
        samples = scrape(server.url("/metrics"))
        _, health = get_json(server.url("/healthz"))
    assert value(samples, "perflab_event_loop_lag_max_seconds") < 0.1
    assert lag_over(samples, 0.1) == 0
    assert health["offload"]["kind"] == "process"


async def test_full_offloader_answers_503_with_retry_after(tmp_path: Path) -> None:
    env = {"PERFLAB_OFFLOAD_WORKERS": "1"}
    with perflab_server(tmp_path, "--offload", "process", env=env) as server:
        async with aiohttp.ClientSession() as session:
            # One finished job teaches the offloader its service time (~1 s).
            async with session.get(server.url("/diag/cpu?work_ms=1000")) as taught:
                assert taught.status == 200
            slow = asyncio.ensure_future(session.get(server.url("/diag/cpu?work_ms=1500")))
            await asyncio.sleep(0.3)
            # The next job would wait about a second: past this request's 0.5 s budget.
            budget = {"X-Queue-Budget-S": "0.5"}
            url = server.url("/diag/cpu?work_ms=10")
            async with session.get(url, headers=budget) as refused:
                body = await refused.json()
                assert refused.status == 503
                assert int(refused.headers["Retry-After"]) >= 1
                assert body["error"]["code"] == "overloaded"
                assert body["error"]["details"][0]["reason"] == "expected_wait"
                assert body["error"]["details"][0]["resource"] == "offload"
            async with await slow as first:
                assert first.status == 200
        samples = scrape(server.url("/metrics"))
    assert value(samples, "perflab_offload_rejected_total") == 1


def counted_healthz(samples: dict[tuple[str, frozenset[tuple[str, str]]], float]) -> float:
    labels = {"method": "GET", "route": "/healthz", "status": "200"}
    return value(samples, "perflab_http_requests_total", **labels)


def test_health_metrics_and_docs_with_two_workers(tmp_path: Path) -> None:
    with perflab_server(tmp_path, "--workers", "2", "--offload", "thread") as server:
        # Ready means one worker is up; wait until both answer before measuring.
        pids: set[int] = set()
        for _ in range(200):
            pids.add(get_json(server.url("/healthz"))[1]["pid"])
            if len(pids) == 2:
                break
            time.sleep(0.05)
        time.sleep(0.2)  # a few loop-monitor ticks, which sample the gauges
        before = scrape(server.url("/metrics"))
        for _ in range(20):
            status, health = get_json(server.url("/healthz"))
            assert status == 200
            assert health["ready"] is True
            assert health["offload"]["kind"] == "thread"
        # Each worker publishes its request tally every loop-monitor tick (50 ms): the other
        # worker's last requests may take one tick to show.
        for _ in range(40):
            samples = scrape(server.url("/metrics"))
            if counted_healthz(samples) - counted_healthz(before) >= 20:
                break
            time.sleep(0.05)
        with urllib.request.urlopen(server.url("/openapi.json")) as response:
            spec = json.loads(response.read())
        with urllib.request.urlopen(server.url("/docs")) as response:
            assert b"swagger" in response.read().lower()
    # Requests are counted by route template across both workers (multiprocess mode).
    assert len(pids) == 2
    assert counted_healthz(samples) - counted_healthz(before) == 20
    assert value(samples, "perflab_threadpool_tokens_total") == 80  # 40 threads x 2 workers
    for path, operations in spec["paths"].items():
        for operation in operations.values():
            assert operation.get("summary"), f"{path} has no summary"
