"""Closed model (ab): exact counts against a real server."""

from __future__ import annotations

import hashlib

from perflab.loadgen import Closed, Expectation, RequestSpec, run
from tests.loadgen.scripted_server import ScriptedServer


def test_exactly_n_sent_and_n_recorded(server: ScriptedServer) -> None:
    recording = run([RequestSpec(server.url("/ok"))], Closed(requests=1000, connections=7))
    total = recording.total()
    assert server.counts["/ok"] == 1000
    assert total.requests == 1000
    assert total.failure_count == 0
    assert total.histogram.total_count == 1000
    assert sum(w.requests for w in total.windows.values()) == 1000
    assert server.connections == 7  # keep-alive: one connection per slot
    assert recording.connections == 7


def test_no_keepalive_opens_a_connection_per_request(server: ScriptedServer) -> None:
    recording = run(
        [RequestSpec(server.url("/ok"))], Closed(requests=50, connections=5), keepalive=False
    )
    assert recording.total().requests == 50
    assert recording.total().failure_count == 0
    assert server.counts["/ok"] == 50
    assert server.connections == 50


def test_weights_split_requests_exactly(server: ScriptedServer) -> None:
    specs = [
        RequestSpec(server.url("/ok"), name="index", weight=1),
        RequestSpec(server.url("/json"), name="predict", weight=3),
    ]
    recording = run(specs, Closed(requests=400, connections=4))
    assert recording.names["index"].requests == 100
    assert recording.names["predict"].requests == 300
    assert server.counts["/ok"] == 100
    assert server.counts["/json"] == 300


def test_bytes_are_counted_both_ways(server: ScriptedServer) -> None:
    spec = RequestSpec(server.url("/ok"))
    recording = run([spec], Closed(requests=10, connections=1))
    total = recording.total()
    assert total.bytes_out == 10 * len(spec.wire_bytes(keepalive=True))
    assert total.body_bytes_in == 10 * len(b"hello")
    assert total.bytes_in > total.body_bytes_in
    assert total.first_body_length == 5


def test_head_answers_have_no_body_whatever_their_length_says(server: ScriptedServer) -> None:
    recording = run([RequestSpec(server.url("/ok"), method="HEAD")], Closed(20, 2))
    assert recording.total().requests == 20
    assert recording.total().failures == {}
    assert recording.total().body_bytes_in == 0


def test_chunked_answers(server: ScriptedServer) -> None:
    plain = run([RequestSpec(server.url("/chunked"))], Closed(10, 2))
    assert plain.total().failures == {}
    checked = RequestSpec(
        server.url("/chunked"),
        expect=Expectation(body_sha256=hashlib.sha256(b"hello").hexdigest(), same_length=True),
    )
    recording = run([checked], Closed(10, 2))
    assert recording.total().failures == {}
    assert recording.total().body_bytes_in == 10 * 5  # exact: chunk framing not counted
