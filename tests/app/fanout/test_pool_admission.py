"""A full downstream pool admits calls by expected wait: they wait for a connection while the
wait fits the budget, and past it the request is answered 503 + Retry-After at once, without
calling the downstream (instead of the seed's silent queue of up to 40 s)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from tests.app.fanout.helpers import fetch_all, get_many, overlap, reset
from tests.support.servers import RunningServer, get_json, perflab_server

pytestmark = pytest.mark.anyio

DOWNSTREAM_LATENCY_S = 1.0
POOL = 2  # connections per server worker: three calls of one request already fill it
SERVICE_ENV = {"PERFLAB_DOWNSTREAM_CONNECTIONS": str(POOL)}


def service_env(downstream: RunningServer, **extra: str) -> dict[str, str]:
    return {
        "PERFLAB_DOWNSTREAM_URL": downstream.base_url,
        "PERFLAB_DOWNSTREAM_CONNECTIONS": str(POOL),
        **extra,
    }


def pool_stats(service: RunningServer) -> dict[str, Any]:
    _, health = get_json(service.url("/healthz"))
    stats: dict[str, Any] = health["admission"]["downstream"]
    return stats


async def wait_for_calls_in_pool(service: RunningServer, calls: int) -> None:
    for _ in range(1000):
        if (await asyncio.to_thread(pool_stats, service))["in_system"] >= calls:
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"the pool never held {calls} calls: {pool_stats(service)}")


async def test_a_full_pool_lets_calls_wait_within_the_budget(
    fanout_service: RunningServer, downstream: RunningServer
) -> None:
    reset(downstream)
    answers = await fetch_all(fanout_service.url("/async_concurrent"), 3)
    assert all(answer["results"] == [3, 5, 7] for answer in answers)
    # Nine calls, never more than the pool at once: the rest waited for a connection.
    assert overlap(downstream) == (POOL, 9)
    stats = pool_stats(fanout_service)
    assert stats["slots"] == POOL
    assert stats["in_system"] == 0
    assert stats["service_time_s"] is not None  # learned from the calls that finished


async def test_a_full_pool_refuses_at_once_past_the_budget(
    fanout_service: RunningServer, downstream: RunningServer
) -> None:
    url = fanout_service.url("/async_concurrent")
    await fetch_all(url, 1)  # the pool learns how long a call takes
    reset(downstream)
    shed_before = pool_stats(fanout_service)["shed_expected_wait"]

    holder = asyncio.create_task(fetch_all(url, 1))  # two calls running, one waiting
    await wait_for_calls_in_pool(fanout_service, 3)
    [refused] = await get_many(url, 1, headers={"X-Queue-Budget-S": "0"})
    [held] = await holder

    assert refused.status == 503, refused.body
    assert int(refused.headers["Retry-After"]) >= 1
    error = refused.body["error"]
    assert error["code"] == "overloaded"
    [detail] = error["details"]
    assert detail["resource"] == "downstream"
    assert detail["reason"] == "expected_wait"
    assert detail["expected_wait_s"] > detail["budget_s"] == 0
    assert held["results"] == [3, 5, 7]
    # The refused request never reached the downstream: only the holder's three calls did.
    assert overlap(downstream) == (POOL, 3)
    # Its three calls are admitted together: the first one refused refuses the request.
    assert pool_stats(fanout_service)["shed_expected_wait"] == shed_before + 1


async def test_server_budget_sheds_the_excess_and_serves_the_rest(
    tmp_path: Path, downstream: RunningServer
) -> None:
    env = service_env(downstream, PERFLAB_QUEUE_BUDGET_S="2.5")
    with perflab_server(tmp_path, "--downstream", "http", env=env) as server:
        url = server.url("/async_concurrent")
        await fetch_all(url, 1)
        reset(downstream)
        # 60 calls on 2 connections would wait up to 30 s; a 2.5 s budget admits about six
        # (five waits of half a call each), so two requests are served and the rest refused.
        answers = await get_many(url, 20)
    served = [a for a in answers if a.status == 200]
    shed = [a for a in answers if a.status == 503]
    assert len(served) + len(shed) == len(answers)
    assert served
    assert shed
    assert all(a.body["results"] == [3, 5, 7] for a in served)
    assert all(a.body["error"]["code"] == "overloaded" and "Retry-After" in a.headers for a in shed)
    max_in_flight, calls = overlap(downstream)
    assert max_in_flight == POOL
    # Admitted all together or not at all: a refused request called nothing.
    assert calls == 3 * len(served)
