"""Several processes and several streams: merged results equal the sum of their parts."""

from __future__ import annotations

from perflab.loadgen import Body, Closed, Open, Recording, RequestSpec, Stream, run, run_streams
from tests.loadgen.scripted_server import ScriptedServer


def test_two_processes_send_exactly_n(server: ScriptedServer) -> None:
    recording = run([RequestSpec(server.url("/ok"))], Closed(1001, 4), processes=2)
    assert recording.processes == 2
    assert recording.total().requests == 1001 == server.counts["/ok"]
    assert recording.total().histogram.total_count == 1001
    assert recording.model == {"model": "closed", "requests": 1001, "connections": 4}
    assert recording.generator_cpu_s > 0


def test_streams_run_side_by_side_and_report_per_name(server: ScriptedServer) -> None:
    small = Stream([RequestSpec(server.url("/ok"), name="small")], Open(50, 1.0))
    body = Body(factory=BigBody(200_000))  # built in the child, before its clock starts
    large = Stream(
        [RequestSpec(server.url("/json"), method="POST", name="large", body=body)],
        Closed(5, 1),
    )
    recording = run_streams([small, large])
    assert recording.names["small"].requests == 50
    assert recording.names["large"].requests == 5
    assert recording.names["large"].bytes_out > 5 * 200_000
    assert recording.processes == 2
    assert "streams" in recording.model


def test_merge_equals_the_sum(server: ScriptedServer) -> None:
    parts = [
        run([RequestSpec(server.url("/ok"))], Closed(300, 3)),
        run([RequestSpec(server.url("/status/500"), name="/ok")], Closed(200, 2)),
    ]
    merged = Recording.merge_all(parts)
    stats = merged.names["/ok"]
    assert stats.requests == 500
    assert stats.failures == {"status_500": 200}
    assert stats.histogram.total_count == 500
    assert stats.bytes_in == sum(p.names["/ok"].bytes_in for p in parts)
    assert sum(w.requests for w in stats.windows.values()) == 500
    # Percentiles come from the merged counts, never from averaging percentiles.
    both = parts[0].names["/ok"].histogram
    both.merge(parts[1].names["/ok"].histogram)
    assert stats.histogram.percentiles() == both.percentiles()
    assert merged.generator_cpu_s == sum(p.generator_cpu_s for p in parts)


class BigBody:
    """A picklable body factory, as a scenario with 25 MB payloads would pass."""

    def __init__(self, size: int) -> None:
        self.size = size

    def __call__(self) -> bytes:
        return b"x" * self.size


def test_open_schedule_split_over_processes_keeps_the_rate(server: ScriptedServer) -> None:
    recording = run(
        [RequestSpec(server.url("/ok"))], Open(rate_per_s=300, duration_s=1.0), processes=3
    )
    assert recording.processes == 3
    assert recording.total().requests == 300 == server.counts["/ok"]
    assert recording.model["rate_per_s"] == 300
