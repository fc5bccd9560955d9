"""Recordings as data: JSON shape, round trip, time series."""

from __future__ import annotations

import orjson

from perflab.loadgen import Closed, NameStats, Recording, RequestSpec, run
from tests.loadgen.scripted_server import ScriptedServer


def test_json_top_level_and_per_name(server: ScriptedServer) -> None:
    specs = [RequestSpec(server.url("/ok"), name="a"), RequestSpec(server.url("/json"), name="b")]
    data = run(specs, Closed(100, 2)).to_dict()
    for key in ("requests", "failures", "duration_s", "requests_per_s", "latency_us", "names"):
        assert key in data
    assert data["requests"] == 100
    assert data["requests_per_s"] > 0
    assert set(data["names"]) == {"a", "b"}
    for name in ("a", "b"):
        per_name = data["names"][name]
        assert per_name["requests"] == 50
        assert {"failures", "duration_s", "requests_per_s", "histogram"} <= set(per_name)
        assert set(per_name["latency_us"]["percentiles"]) == {
            "50", "66", "75", "80", "90", "95", "98", "99", "99.9", "100",
        }  # fmt: skip
    assert data["generator"]["cpu_s"] > 0
    assert data["metadata"]["cores"] >= 1
    assert "python" in data["metadata"]
    assert "packages" in data["metadata"]
    assert data["time_series"][0].keys() >= {"second", "requests", "p50_us", "p99_us", "failures"}
    orjson.dumps(data)  # JSON-serialisable as it is


def test_round_trip_through_json(server: ScriptedServer) -> None:
    recording = run([RequestSpec(server.url("/status/404"))], Closed(30, 3))
    again = Recording.from_dict(orjson.loads(orjson.dumps(recording.to_dict())))
    assert again.to_dict() == recording.to_dict()


def _flow_recording(skipped: int, captures_failed: int) -> Recording:
    stats = NameStats("read", "GET", requests=5, skipped=skipped)
    login = NameStats("login", "POST", requests=3, failures={"capture_failed": captures_failed})
    return Recording("http://x", {"model": "closed"}, 0.0, 1.0,
                     names={"read": stats, "login": login},
                     flows={"on_start": ["login"], "flows": []})  # fmt: skip


def test_skipped_counts_survive_json_and_merging() -> None:
    first, second = _flow_recording(4, 2), _flow_recording(7, 1)
    again = Recording.from_dict(orjson.loads(orjson.dumps(first.to_dict())))
    assert again.names["read"].skipped == 4
    assert again.flows == first.flows
    assert again.to_dict() == first.to_dict()
    merged = Recording.merge_all([again, second])
    assert merged.names["read"].skipped == 11
    assert merged.total().skipped == 11
    assert merged.names["login"].failures == {"capture_failed": 3}
    assert merged.to_dict()["skipped"] == 11
    assert merged.flows == {"on_start": ["login"], "flows": []}


def test_recordings_from_before_flows_still_read(server: ScriptedServer) -> None:
    data = run([RequestSpec(server.url("/ok"))], Closed(10, 2)).to_dict()
    assert "flows" not in data
    for per_name in [data, *data["names"].values()]:
        del per_name["skipped"]
    old = Recording.from_dict(data)
    assert old.total().skipped == 0
    assert old.flows == {}
    assert Recording.merge_all([old, old]).total().requests == 20
