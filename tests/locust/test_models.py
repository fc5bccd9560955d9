"""Flows with captures and the open model, run on locust: the loadgen's rules, unchanged."""

from __future__ import annotations

from pathlib import Path

from perflab.loadgen import Closed, Expectation, Flow, Open, RequestSpec, Stream, json_body
from perflab.locust.driver import LocustDriver
from tests.locust.conftest import ping
from tests.support.servers import RunningServer


def test_flows_pass_captured_values_from_step_to_step(
    ping_server: RunningServer, tmp_path: Path
) -> None:
    notes = f"{ping_server.base_url}/notes"

    def create(name: str, title: str, capture: str) -> RequestSpec:
        return RequestSpec(
            f"{notes}/", method="POST", name=name, capture={capture: "json:id"},
            body=json_body({"title": title, "description": "sent by a locust worker"}),
            expect=Expectation(status=(201,)),
        )  # fmt: skip

    def read(name: str, title: str, note: str) -> RequestSpec:
        return RequestSpec(
            f"{notes}/{{{note}}}/", name=name,
            expect=Expectation(status=(200,), json_fields={"title": title}),
        )  # fmt: skip

    stream = Stream(
        [create("create", "in a flow", "note"), read("read", "in a flow", "note"),
         read("read-session", "once per user", "first")],
        Closed(requests=60, connections=4),
        on_start=[create("login", "once per user", "first")],
        flows=[Flow("note", ("create", "read"), weight=2), Flow("again", ("read-session",))],
    )  # fmt: skip
    recording = LocustDriver(2, work_dir=tmp_path / "locust")([stream])

    names = recording.names
    assert recording.total().requests == 60  # N = requests sent, on_start steps included
    assert recording.total().failures == {}  # every read found the note its flow created
    assert names["login"].requests == 4  # on_start: once per user (2 per worker)
    assert sum(stats.skipped for stats in names.values()) == 0
    assert names["read"].requests >= names["create"].requests - 4  # a flow cut by the quota
    assert names["read-session"].requests > 0
    assert recording.metadata["locust"]["own_stats"]["read"]["failures"] == 0


def test_the_open_model_runs_the_whole_schedule_across_workers(
    ping_server: RunningServer, tmp_path: Path
) -> None:
    model = Open(rate_per_s=80.0, duration_s=2.0, connections=8)
    recording = LocustDriver(2, work_dir=tmp_path / "locust")(
        [Stream([ping(ping_server.base_url, "small")], model)]
    )
    stats = recording.names["small"]
    # Two interleaved slices of one schedule: every scheduled arrival sent once, or dropped.
    assert stats.requests + stats.dropped_sends == 160
    assert stats.failures == {}
    assert sorted(recording.total().windows) == [0, 1, 2][: len(recording.total().windows)]
    assert [w["requests"] > 0 for w in recording.metadata["locust"]["workers"]] == [True, True]
