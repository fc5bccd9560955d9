"""Open model (wrk2): scheduled sends, coordinated omission corrected, late and dropped."""

from __future__ import annotations

from perflab.loadgen import Closed, Open, RequestSpec, run
from tests.loadgen.scripted_server import ScriptedServer


def test_sends_exactly_the_schedule(server: ScriptedServer) -> None:
    recording = run([RequestSpec(server.url("/ok"))], Open(rate_per_s=200, duration_s=1.0))
    total = recording.total()
    assert total.requests == 200
    assert server.counts["/ok"] == 200
    assert total.failure_count == 0
    assert total.dropped_sends == 0


def test_a_stall_shows_in_open_percentiles_but_closed_hides_it(server: ScriptedServer) -> None:
    # The server blocks its whole event loop for 1 s on the ~100th request to a path.
    closed = run(
        [RequestSpec(server.url("/block-once/100/1000"))], Closed(requests=300, connections=1)
    )
    opened = run(  # another path: the server counts requests per path
        [RequestSpec(server.url("/block-once/101/1000"))],
        Open(rate_per_s=100, duration_s=3.0, connections=16),
    )
    closed_hist = closed.total().histogram
    open_hist = opened.total().histogram
    assert closed.total().requests == 300
    assert opened.total().requests == 300
    # Both saw the one slow answer ...
    assert closed_hist.max_us() >= 1_000_000
    assert open_hist.max_us() >= 900_000
    # ... but the closed model sent nothing while it waited, so only 1 in 300 is slow;
    # the open model kept its schedule, so ~100 requests waited behind the stall.
    assert closed_hist.value_at_percentile(99.0) < 200_000
    assert open_hist.value_at_percentile(90.0) >= 300_000
    assert open_hist.value_at_percentile(99.0) >= 800_000


def test_late_and_dropped_sends_when_connections_run_out(server: ScriptedServer) -> None:
    # One connection at 50 ms per answer serves 20/s; 100/s are scheduled.
    recording = run(
        [RequestSpec(server.url("/sleep/50"))],
        Open(rate_per_s=100, duration_s=1.0, connections=1),
        timeout_s=0.3,
    )
    total = recording.total()
    assert total.dropped_sends > 0
    assert total.late_sends > 0
    assert total.requests + total.dropped_sends == 100
    assert server.counts["/sleep/50"] == total.requests


def test_split_schedules_add_up_to_the_whole() -> None:
    model = Open(rate_per_s=1000, duration_s=1.0)
    parts = model.split(3)
    assert sum(p.scheduled_sends for p in parts) == model.scheduled_sends == 1000
    assert sum(p.connections for p in parts) == model.connections
