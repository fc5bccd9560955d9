"""The workload the master ships to workers: every part of a cell survives the trip."""

from __future__ import annotations

import pytest

from perflab.loadgen import Body, Closed, Expectation, Flow, Open, RequestSpec, Stream, Users
from perflab.loadgen.large_body import small_body
from perflab.locust.errors import WorkloadError
from perflab.locust.wire import factory_from_name, streams_from_wire, streams_to_wire

URL = "http://127.0.0.1:8123"


def _specs() -> list[RequestSpec]:
    return [
        RequestSpec(
            f"{URL}/ping",
            method="POST",
            name="small",
            headers={"X-Client": "perflab"},
            body=Body(b'{"name": "x", "data": {"a": 1}}', "application/json"),
            weight=3,
            expect=Expectation(status=(200, 201), json_fields={"count": 1}, same_length=True),
        ),
        RequestSpec(
            f"{URL}/ping",
            method="POST",
            name="built",
            body=Body(content_type="application/json", factory=small_body),
            expect=Expectation(body_sha256="ab" * 32),
        ),
    ]


@pytest.mark.parametrize(
    "model",
    [Closed(1000, 10), Users(20, 5.0, 30.0, (1.0, 2.5)), Open(250.0, 12.0, 32, 5.0)],
)
def test_streams_round_trip_field_by_field(model: Closed | Users | Open) -> None:
    streams = [Stream(_specs(), model, 1, False, 7.5)]
    back = streams_from_wire(streams_to_wire(streams))
    assert len(back) == 1
    stream = back[0]
    assert (stream.model, stream.keepalive, stream.timeout_s) == (model, False, 7.5)
    assert [s.label for s in stream.requests] == ["small", "built"]
    small, built = stream.requests
    original = _specs()[0]
    assert small.wire_bytes(keepalive=False) == original.wire_bytes(keepalive=False)
    assert (small.weight, small.expect) == (3, original.expect)
    assert built.body.factory is small_body  # named, imported on the worker, not shipped
    assert built.body.materialise() == small_body()


def test_flows_and_captures_travel() -> None:
    login = RequestSpec(f"{URL}/login", method="POST", name="login", capture={"t": "json:t"})
    read = RequestSpec(f"{URL}/items/{{t}}", name="read", headers={"Authorization": "{t}"})
    stream = Stream([read], Users(2, 2.0, 1.0), on_start=[login], flows=[Flow("f", ("read",), 2)])
    back = streams_from_wire(streams_to_wire([stream]))[0]
    assert back.flow_parts() is not None
    on_start, flows = back.flow_parts() or ((), ())
    assert [s.label for s in on_start] == ["login"]
    assert dict(on_start[0].capture) == {"t": "json:t"}
    assert list(flows) == [Flow("f", ("read",), 2)]


def test_a_body_factory_must_be_a_perflab_function() -> None:
    spec = RequestSpec(f"{URL}/x", method="POST", body=Body(factory=lambda: b"{}"))
    with pytest.raises(WorkloadError, match="module-level function"):
        streams_to_wire([Stream([spec], Closed(1))])
    with pytest.raises(WorkloadError, match="refusing"):
        factory_from_name("os:getcwd")
