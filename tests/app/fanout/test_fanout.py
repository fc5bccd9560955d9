"""Seed 004's endpoints against a real slow downstream that counts its simultaneous calls."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.app.fanout.helpers import fetch_all, overlap, reset
from tests.support.servers import (
    RunningServer,
    free_port,
    get_json,
    perflab_server,
)

pytestmark = pytest.mark.anyio

DOWNSTREAM_LATENCY_S = 0.3
SERVICE_ARGS = ("--threads", "2")
SERVICE_ENV = {"PERFLAB_DOWNSTREAM_TIMEOUT_S": "5"}


async def test_concurrent_overlaps_its_three_calls(
    fanout_service: RunningServer, downstream: RunningServer
) -> None:
    reset(downstream)
    [answer] = await fetch_all(fanout_service.url("/async_concurrent"), 1)
    assert answer["results"] == [3, 5, 7]
    assert overlap(downstream) == (3, 3)


@pytest.mark.parametrize(
    ("path", "results"),
    [("/async_independent", [3, 5, 7]), ("/async_dependent", [3, 7, 15])],
)
async def test_sequential_endpoints_never_overlap_their_calls(
    fanout_service: RunningServer, downstream: RunningServer, path: str, results: list[int]
) -> None:
    reset(downstream)
    [answer] = await fetch_all(fanout_service.url(path), 1)
    assert answer["results"] == results
    assert overlap(downstream) == (1, 3)
    assert isinstance(answer["elapsed_s"], float)
    assert answer["elapsed_s"] >= 3 * DOWNSTREAM_LATENCY_S


async def test_sync_endpoint_overlap_is_capped_by_threads(
    fanout_service: RunningServer, downstream: RunningServer
) -> None:
    reset(downstream)
    answers = await fetch_all(fanout_service.url("/sync_baseline"), 6)
    assert all(a["results"] == [3, 5, 7] for a in answers)
    # Six clients, but the service runs `def` endpoints on 2 threads: at most 2 calls at once.
    assert overlap(downstream) == (2, 18)


async def test_async_endpoints_overlap_across_requests(
    fanout_service: RunningServer, downstream: RunningServer
) -> None:
    reset(downstream)
    await fetch_all(fanout_service.url("/async_independent"), 6)
    max_in_flight, total = overlap(downstream)
    assert total == 18
    assert max_in_flight == 6  # one call per request at a time, all six requests at once


async def test_slow_downstream_is_504(tmp_path: Path, downstream: RunningServer) -> None:
    env = {"PERFLAB_DOWNSTREAM_URL": downstream.base_url, "PERFLAB_DOWNSTREAM_TIMEOUT_S": "0.1"}
    with perflab_server(tmp_path, "--downstream", "http", env=env) as server:
        for path in ["/async_concurrent", "/async_independent", "/sync_baseline"]:
            status, body = get_json(server.url(path))
            assert status == 504, body
            assert body["error"]["code"] == "gateway_timeout"


async def test_unreachable_downstream_is_502_and_not_ready(tmp_path: Path) -> None:
    env = {"PERFLAB_DOWNSTREAM_URL": f"http://127.0.0.1:{free_port()}"}
    with perflab_server(tmp_path, "--downstream", "http", env=env) as server:
        for path in ["/async_concurrent", "/async_dependent", "/sync_baseline"]:
            status, body = get_json(server.url(path))
            assert status == 502, body
            assert body["error"]["code"] == "bad_gateway"
        status, health = get_json(server.url("/healthz"))
    assert status == 503
    assert health["ready"] is False
    assert health["services"]["downstream"]["ok"] is False


async def test_simulated_downstream(tmp_path: Path) -> None:
    env = {"PERFLAB_DOWNSTREAM_LATENCY_S": "0.05"}
    with perflab_server(tmp_path, env=env) as server:
        for path, results in [
            ("/sync_baseline", [3, 5, 7]),
            ("/async_independent", [3, 5, 7]),
            ("/async_dependent", [3, 7, 15]),
            ("/async_concurrent", [3, 5, 7]),
        ]:
            status, body = get_json(server.url(path))
            assert status == 200
            assert body["results"] == results
            assert body["message"].startswith(path.lstrip("/"))
