"""`/pong`'s two lanes: small bodies never touch the offloader; large ones are admitted by
their size before a byte of them is read, and refused with 503 + Retry-After when they would
not fit the memory budget."""

from __future__ import annotations

import http.client
import json
import socket
from collections.abc import Iterator
from typing import Any

import pytest

from perflab.loadgen.large_body import document_bytes
from tests.support.servers import RunningServer, get_json, perflab_server

MEMORY_BUDGET_BYTES = 1024 * 1024  # PERFLAB_QUEUE_MEMORY_MB=1
MAX_BODY_BYTES = 2_000_000  # a chunked body is admitted for this much: more than the budget
SMALL = document_bytes("small", 50)  # ~1 KB
LARGE = document_bytes("large", 6_000)  # ~100 KB: past the small lane, within the budget


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    env = {"PERFLAB_QUEUE_MEMORY_MB": "1", "PERFLAB_MAX_BODY_BYTES": str(MAX_BODY_BYTES)}
    with perflab_server(tmp_path_factory.mktemp("lanes"), "--offload", "process", env=env) as s:
        yield s


def offload_admission(server: RunningServer) -> dict[str, Any]:
    _, health = get_json(server.url("/healthz"))
    admission: dict[str, Any] = health["admission"]["offload"]
    return admission


def post(server: RunningServer, body: bytes, *, chunked: bool = False) -> tuple[int, Any]:
    host, port = server.base_url.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=30)
    try:
        headers = {"Content-Type": "application/json"}
        # An iterable body without a length goes chunked (Transfer-Encoding: chunked).
        payload: Any = iter([body[:500], body[500:]]) if chunked else body
        connection.request("POST", "/pong", body=payload, headers=headers)
        response = connection.getresponse()
        return response.status, json.loads(response.read())
    finally:
        connection.close()


@pytest.mark.parametrize("chunked", [False, True])
def test_small_bodies_are_parsed_in_the_loop(server: RunningServer, chunked: bool) -> None:
    before = offload_admission(server)["admitted"]
    for _ in range(3):
        status, answer = post(server, SMALL, chunked=chunked)
        assert status == 200, answer
        assert answer["count"] == 50
    assert offload_admission(server)["admitted"] == before


def test_large_bodies_go_through_the_offloader(server: RunningServer) -> None:
    before = offload_admission(server)
    status, answer = post(server, LARGE)
    assert status == 200, answer
    assert answer["count"] == 6_000
    after = offload_admission(server)
    assert after["admitted"] == before["admitted"] + 1
    assert after["held_bytes"] == 0  # the ticket let go of the body's bytes


def refusal_of(server: RunningServer, request: bytes, rest: bytes) -> bytes:
    """The answer to `request` (headers, maybe some body) whose head arrives before the `rest`
    of its body was sent; the rest is sent then, so the server's drain ends the answer."""
    port = int(server.base_url.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), timeout=20) as sock:
        sock.sendall(request)
        answer = b""
        while b"\r\n\r\n" not in answer:
            piece = sock.recv(65536)
            assert piece, answer
            answer += piece
        sock.sendall(rest)
        while not _complete(answer):
            piece = sock.recv(65536)
            if not piece:
                break
            answer += piece
    return answer


def _complete(answer: bytes) -> bool:
    head, separator, body = answer.partition(b"\r\n\r\n")
    if not separator:
        return False
    for line in head.lower().split(b"\r\n"):
        if line.startswith(b"content-length:"):
            return len(body) >= int(line.split(b":")[1])
    return False


def check_memory_refusal(answer: bytes) -> None:
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 503"), answer[:300]
    assert b"\r\nretry-after: " in head.lower()
    error = json.loads(body)["error"]
    assert error["code"] == "overloaded"
    assert error["details"][0]["reason"] == "memory"
    assert error["details"][0]["memory_budget_bytes"] == MEMORY_BUDGET_BYTES


def test_a_body_over_the_memory_budget_is_refused_before_it_is_sent(
    server: RunningServer,
) -> None:
    shed_before = offload_admission(server)["shed_memory"]
    head = (
        b"POST /pong HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Content-Length: 1500000\r\n\r\n"
    )
    # Answered while not one byte of the body was sent.
    check_memory_refusal(refusal_of(server, head, b" " * 1_500_000))
    assert offload_admission(server)["shed_memory"] == shed_before + 1


def test_a_chunked_body_past_the_small_lane_is_admitted_for_the_body_limit(
    server: RunningServer,
) -> None:
    head = (
        b"POST /pong HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n"
    )
    first = LARGE[:100_000]  # past the small lane, and not finished when the answer comes
    sent = head + b"%x\r\n%s\r\n" % (len(first), first)
    check_memory_refusal(refusal_of(server, sent, b"0\r\n\r\n"))
    # Sent whole, it would have fit the budget; chunked, it may grow to MAX_BODY_BYTES.
    status, _ = post(server, LARGE, chunked=True)
    assert status == 503
