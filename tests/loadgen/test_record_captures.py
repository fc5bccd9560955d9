"""`record_captures`: a request keeps what it captured from each right answer in the
recording (what a fault study reconciles acknowledged writes against), across processes."""

from __future__ import annotations

from pathlib import Path

import pytest

from perflab.loadgen import Closed, Expectation, Recording, RequestSpec, json_body, run
from perflab.loadgen.scenario import parse_scenario
from tests.loadgen.flow_server import FlowServer
from tests.loadgen.scripted_server import ScriptedServer

AUTH = {"Authorization": "Bearer {token}"}


def _login(server: FlowServer) -> RequestSpec:
    return RequestSpec(
        server.url("/login"), "POST", name="login",
        body=json_body({"user": "ada", "password": "secret"}), capture={"token": "json:token"},
    )  # fmt: skip


def _create(server: FlowServer, record: bool) -> RequestSpec:
    return RequestSpec(
        server.url("/items"), "POST", name="create", headers=AUTH, body=json_body({"title": "x"}),
        capture={"item": "json:id"}, expect=Expectation(status=(201,)), record_captures=record,
    )  # fmt: skip


@pytest.mark.parametrize("processes", [1, 2])
def test_every_acknowledged_create_is_recorded_once(
    flow_server: FlowServer, processes: int
) -> None:
    recording = run(
        [_create(flow_server, record=True)], Closed(requests=60, connections=3),
        on_start=[_login(flow_server)], processes=processes,
    )  # fmt: skip
    create = recording.names["create"]
    assert create.failure_count == 0
    ids = [value["item"] for value in create.captured_values]
    assert len(ids) == create.requests - create.failure_count
    assert len(set(ids)) == len(ids)  # each answer once, none lost in the merge
    again = Recording.from_dict(recording.to_dict())
    assert again.names["create"].captured_values == create.captured_values


def test_without_the_flag_nothing_is_kept(flow_server: FlowServer) -> None:
    recording = run(
        [_create(flow_server, record=False)], Closed(requests=20, connections=2),
        on_start=[_login(flow_server)],
    )  # fmt: skip
    assert recording.names["create"].captured_values == []
    assert "captured_values" not in recording.to_dict()["names"]["create"]


def test_the_scenario_key_sets_it(flow_server: FlowServer) -> None:
    document = {
        "base_url": flow_server.url("/").rstrip("/"),
        "request": [{"name": "create", "path": "/items", "method": "POST", "json": {"t": 1},
                     "capture": {"item": "json:id"}, "record_captures": True}],
    }  # fmt: skip
    [spec] = parse_scenario(document, Path(".")).requests
    assert spec.record_captures


def test_a_capturing_step_times_its_own_answer(server: ScriptedServer) -> None:
    """Its latency is taken before the engine sends the next step on the same connection
    (which moves the connection's start time): an answer that takes 20 ms reads >= 20 ms."""
    spec = RequestSpec(
        server.url("/sleep/20"), name="slow", capture={"body": "header:content-length"}
    )
    recording = run([spec], Closed(requests=30, connections=2))
    slow = recording.names["slow"]
    assert slow.failure_count == 0
    assert slow.histogram.value_at_percentile(50.0) >= 20_000  # us
