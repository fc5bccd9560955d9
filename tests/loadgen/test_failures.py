"""Every failure kind, provoked by a real server, counted apart and never as success."""

from __future__ import annotations

import hashlib

import pytest

from perflab.loadgen import Closed, Expectation, RequestSpec, run
from tests.loadgen.scripted_server import ScriptedServer, unused_port


def _failures(spec: RequestSpec, requests: int = 4, timeout_s: float = 5.0) -> dict[str, int]:
    recording = run([spec], Closed(requests=requests, connections=1), timeout_s=timeout_s)
    total = recording.total()
    assert total.requests == requests  # a failure is still a finished request, counted once
    return total.failures


def test_connect_error() -> None:
    spec = RequestSpec(f"http://127.0.0.1:{unused_port()}/")
    assert _failures(spec) == {"connect_error": 4}


def test_timeout(server: ScriptedServer) -> None:
    assert _failures(RequestSpec(server.url("/sleep/3000")), 2, timeout_s=0.3) == {"timeout": 2}


@pytest.mark.parametrize("path", ["/close", "/rst"])
def test_connection_reset(server: ScriptedServer, path: str) -> None:
    assert _failures(RequestSpec(server.url(path))) == {"connection_reset": 4}


def test_a_reused_connection_closed_before_answering_is_retried_once(
    server: ScriptedServer,
) -> None:
    # Not a server failure: its keep-alive timeout closed the connection as we wrote.
    assert _failures(RequestSpec(server.url("/close-reused")), 10) == {}
    assert server.counts["/close-reused"] == 1 + 9 * 2


def test_a_body_ended_by_closing_the_connection_is_an_answer(server: ScriptedServer) -> None:
    spec = RequestSpec(server.url("/eof-body"), expect=Expectation(body_sha256=_sha("hello")))
    assert _failures(spec) == {}
    plain = run([RequestSpec(server.url("/eof-body"))], Closed(requests=3, connections=1))
    assert plain.total().failures == {}
    assert plain.total().body_bytes_in == 3 * len(b"hello")


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def test_protocol_error(server: ScriptedServer) -> None:
    assert _failures(RequestSpec(server.url("/garbage"))) == {"protocol_error": 4}


@pytest.mark.parametrize("status", [404, 500, 503])
def test_each_non_2xx_status(server: ScriptedServer, status: int) -> None:
    assert _failures(RequestSpec(server.url(f"/status/{status}"))) == {f"status_{status}": 4}


def test_503_with_retry_after_is_shed(server: ScriptedServer) -> None:
    assert _failures(RequestSpec(server.url("/shed"))) == {"shed": 4}


def test_an_expected_non_2xx_status_is_success(server: ScriptedServer) -> None:
    spec = RequestSpec(server.url("/status/404"), expect=Expectation(status=(404,)))
    assert _failures(spec) == {}


def test_an_unexpected_2xx_status_is_a_failure(server: ScriptedServer) -> None:
    spec = RequestSpec(server.url("/ok"), expect=Expectation(status=(201,)))
    assert _failures(spec) == {"status_200": 4}


def test_same_length_rule(server: ScriptedServer) -> None:
    spec = RequestSpec(server.url("/alternate"), expect=Expectation(same_length=True))
    assert _failures(spec) == {"wrong_content": 2}


def test_body_hash(server: ScriptedServer) -> None:
    right = hashlib.sha256(b"hello").hexdigest()
    assert _failures(RequestSpec(server.url("/ok"), expect=Expectation(body_sha256=right))) == {}
    wrong = hashlib.sha256(b"bye").hexdigest()
    spec = RequestSpec(server.url("/ok"), expect=Expectation(body_sha256=wrong))
    assert _failures(spec) == {"wrong_content": 4}


def test_json_field(server: ScriptedServer) -> None:
    good = Expectation(json_fields={"success": True, "n": 3})
    assert _failures(RequestSpec(server.url("/json"), expect=good)) == {}
    bad = Expectation(json_fields={"n": 4})
    assert _failures(RequestSpec(server.url("/json"), expect=bad)) == {"wrong_content": 4}
    not_json = Expectation(json_fields={"n": 3})
    assert _failures(RequestSpec(server.url("/ok"), expect=not_json)) == {"wrong_content": 4}


def test_failures_are_counted_per_name_and_in_windows(server: ScriptedServer) -> None:
    specs = [
        RequestSpec(server.url("/ok"), name="good"),
        RequestSpec(server.url("/status/500"), name="bad"),
    ]
    recording = run(specs, Closed(requests=20, connections=2))
    assert recording.names["good"].failures == {}
    assert recording.names["bad"].failures == {"status_500": 10}
    total = recording.total()
    assert sum(w.failures for w in total.windows.values()) == 10
    assert recording.to_dict()["failures"] == 10
