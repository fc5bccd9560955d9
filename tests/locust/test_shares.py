"""Each worker's share of a stream: quotas sum to the request count, open slices to the rate."""

from __future__ import annotations

from perflab.loadgen import Closed, Open, RequestSpec, Stream, Users
from perflab.locust.shares import (
    Share,
    proportional_shares,
    spawn_rate_per_s,
    users_per_stream,
    waits_for_spawning,
    worker_share,
)


def test_quotas_follow_the_users_each_worker_got_and_sum_to_n() -> None:
    users = {"a": 3, "b": 4, "c": 0}
    quotas = {w: worker_share(Closed(1001, 7), users, w).quota for w in users}
    assert quotas == {"a": 429, "b": 572, "c": 0}
    assert sum(proportional_shares(10, {"x": 1, "y": 1, "z": 1}).values()) == 10


def test_open_slices_interleave_into_exactly_the_schedule() -> None:
    model = Open(rate_per_s=100.0, duration_s=2.0, connections=8)
    users = {"a": 4, "b": 4, "idle": 0}
    sends = []
    for worker in users:
        share = worker_share(model, users, worker)
        if share.schedule is None:
            assert share.quota == 0  # no connection there: the others carry the rate
            continue
        back = Share.from_dict(share.to_dict(), model).schedule
        assert back is not None
        step_s = back.interval_ns / 1e9
        sends += [round(back.phase_s + i * step_s, 6) for i in range(back.scheduled_sends)]
    assert sorted(sends) == [round(i / 100.0, 6) for i in range(200)]


def test_users_and_spawn_rate_per_model() -> None:
    spec = [RequestSpec("http://127.0.0.1:1/")]
    streams = [Stream(spec, Users(50, 10.0, 5.0)), Stream(spec, Open(5.0, 5.0, 4))]
    assert users_per_stream(streams) == [50, 4]
    assert spawn_rate_per_s(streams) == 14.0  # the ramp, and the connections at once
    assert not waits_for_spawning(streams)
    assert waits_for_spawning([Stream(spec, Closed(10, 2))])
