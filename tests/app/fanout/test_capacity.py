"""Seed 004 sized for its users: 500 clients at once, three calls each, on default settings.

The seed's app got 13 req/s of a possible 100 because every downstream call past 100 per
worker queued. Here every call of every client must run at the same time: against
`perflab downstream`, whose /stats counts the most calls it served at once, and with the
simulated downstream, which counts its own.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from perflab.app.fanout import service
from perflab.app.fanout.clients import open_fanout_clients
from perflab.app.fanout.service import SleepDownstream
from perflab.app.health import HealthChecks
from perflab.config import Settings
from tests.app.fanout.helpers import fetch_all, overlap, reset
from tests.support.servers import RunningServer, perflab_server

pytestmark = pytest.mark.anyio

USERS = 500  # seed 004's locust users
# Long enough that the last of 1,500 calls starts before the first one ends, on a busy 2-core
# machine where opening 1,500 connections and serving 500 requests takes its CPU for a second
# or more (with 1 s and 2 s, one call in 1,500 sometimes ended first).
DOWNSTREAM_LATENCY_S = 3.0


async def test_every_call_of_every_user_runs_at_once(
    fanout_service: RunningServer, downstream: RunningServer
) -> None:
    reset(downstream)
    answers = await fetch_all(fanout_service.url("/async_concurrent"), USERS)
    assert all(answer["results"] == [3, 5, 7] for answer in answers)
    # 1,500 calls, all in flight together: none waited for another's connection.
    assert overlap(downstream) == (3 * USERS, 3 * USERS)


async def test_sequential_variants_run_every_user_at_once(
    fanout_service: RunningServer, downstream: RunningServer
) -> None:
    reset(downstream)
    independent, dependent = await asyncio.gather(
        fetch_all(fanout_service.url("/async_independent"), USERS),
        fetch_all(fanout_service.url("/async_dependent"), USERS),
    )
    assert all(answer["results"] == [3, 5, 7] for answer in independent)
    assert all(answer["results"] == [3, 7, 15] for answer in dependent)
    # One call per user at a time, both groups of users at once, three rounds.
    assert overlap(downstream) == (2 * USERS, 6 * USERS)


async def test_simulated_downstream_serves_every_user(tmp_path: Path) -> None:
    env = {"PERFLAB_DOWNSTREAM_LATENCY_S": "0.5"}
    with perflab_server(tmp_path, env=env) as server:
        concurrent, dependent = await asyncio.gather(
            fetch_all(server.url("/async_concurrent"), USERS),
            fetch_all(server.url("/async_dependent"), USERS),
        )
    assert all(answer["results"] == [3, 5, 7] for answer in concurrent)
    assert all(answer["results"] == [3, 7, 15] for answer in dependent)


async def test_simulated_calls_are_not_capped() -> None:
    # The simulated downstream the default settings open: 10,000 users' calls all at once.
    users = 10_000
    settings = Settings(downstream_latency_s=0.2)
    async with open_fanout_clients(settings, HealthChecks(60.0)) as clients:
        downstream = clients.async_downstream
        assert isinstance(downstream, SleepDownstream)
        assert clients.admissions == {}  # no pool, nothing to admit to
        answers = await asyncio.gather(*(service.concurrent(downstream) for _ in range(users)))
    assert all(answer == [3, 5, 7] for answer in answers)
    assert downstream.max_in_flight == 3 * users
    assert downstream.in_flight == 0
