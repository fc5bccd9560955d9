"""Users model (locust): spawn rate, think time, one connection per user."""

from __future__ import annotations

import asyncio

from perflab.loadgen import Closed, RequestSpec, Stream, Users, run, run_stream_async
from tests.loadgen.scripted_server import ScriptedServer


def test_users_loop_with_think_time(server: ScriptedServer) -> None:
    model = Users(users=5, spawn_rate_per_s=50, duration_s=1.0, think_s=(0.1, 0.1))
    recording = run([RequestSpec(server.url("/ok"))], model)
    total = recording.total()
    # Each user sends about once per 100 ms for ~1 s: about 10 each, never 12 or more.
    assert 5 <= total.requests <= 5 * 11
    assert server.counts["/ok"] == total.requests
    assert total.failure_count == 0
    assert server.connections == 5


def test_without_think_time_users_send_back_to_back(server: ScriptedServer) -> None:
    model = Users(users=2, spawn_rate_per_s=100, duration_s=0.5)
    recording = run([RequestSpec(server.url("/ok"))], model)
    assert recording.total().requests == server.counts["/ok"] > 100
    assert recording.model["model"] == "users"


def test_users_reconnect_after_the_server_closes(server: ScriptedServer) -> None:
    model = Users(users=2, spawn_rate_per_s=100, duration_s=0.3, think_s=(0.01, 0.02))
    recording = run([RequestSpec(server.url("/ok"))], model, keepalive=False)
    total = recording.total()
    assert total.failure_count == 0
    assert server.connections == total.requests > 2


def test_progress_is_reported_about_once_a_second(server: ScriptedServer) -> None:
    seen: list[tuple[float, int, int]] = []
    model = Users(users=2, spawn_rate_per_s=100, duration_s=1.6, think_s=(0.01, 0.01))
    recording = run([RequestSpec(server.url("/ok"))], model, progress=lambda *p: seen.append(p))
    assert 1 <= len(seen) <= 2  # at each whole second while running
    elapsed_s, requests, failures = seen[0]
    assert elapsed_s >= 1.0
    assert 0 < requests <= recording.total().requests
    assert failures == 0


def test_run_stream_async_inside_a_running_loop(server: ScriptedServer) -> None:
    stream = Stream([RequestSpec(server.url("/ok"))], Closed(30, 3))
    recording = asyncio.run(run_stream_async(stream))
    assert recording.total().requests == 30
    assert recording.metadata["cores"] >= 1
