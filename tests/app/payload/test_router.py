"""`/ping` and `/pong` through real servers: same answers, limits, disconnects, no leftovers."""

from __future__ import annotations

import json
import select
import socket
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from perflab.app.payload.spool import spool_dir
from tests.app.payload.test_service import INVALID, VALID
from tests.support.servers import RunningServer, get_json, perflab_server

LIMIT_BYTES = 2_000_000


@pytest.fixture(scope="module", params=["thread", "process"])
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningServer]:
    env = {"PERFLAB_MAX_BODY_BYTES": str(LIMIT_BYTES)}
    tmp = tmp_path_factory.mktemp(f"payload-{request.param}")
    with perflab_server(tmp, "--offload", request.param, env=env) as running:
        yield running


def post(
    server: RunningServer, path: str, body: bytes, content_type: str = "application/json"
) -> tuple[int, dict[str, Any]]:
    request = urllib.request.Request(
        server.url(path), data=body, method="POST", headers={"Content-Type": content_type}
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def port_of(server: RunningServer) -> int:
    return int(server.base_url.rsplit(":", 1)[1])


def leftover_spool_files(server: RunningServer) -> list[Path]:
    _, health = get_json(server.url("/healthz"))
    return list(spool_dir().glob(f"perflab-body-{health['pid']}-*"))


@pytest.mark.parametrize("document", VALID)
def test_both_endpoints_answer_valid_bodies_alike(server: RunningServer, document: Any) -> None:
    answers = [post(server, path, json.dumps(document).encode()) for path in ("/ping", "/pong")]
    for status, body in answers:
        assert status == 200, body
        assert isinstance(body.pop("elapsed_server"), float)
    assert answers[0] == answers[1]


@pytest.mark.parametrize(("document", "loc"), INVALID)
def test_both_endpoints_refuse_bad_shapes_alike(
    server: RunningServer, document: Any, loc: list[Any]
) -> None:
    for path in ("/ping", "/pong"):
        status, body = post(server, path, json.dumps(document).encode())
        assert status == 422, (path, body)
        assert body["error"]["details"][0]["loc"] == loc


@pytest.mark.parametrize(
    ("body", "content_type", "status"),
    [
        (b"", "application/json", 400),
        (b'{"name": "x", "data": {"a": 1', "application/json", 400),
        (b'{"name": "x", "data": {}}', "text/plain", 415),
    ],
)
def test_both_endpoints_refuse_bad_bodies_alike(
    server: RunningServer, body: bytes, content_type: str, status: int
) -> None:
    for path in ("/ping", "/pong"):
        got, answer = post(server, path, body, content_type)
        assert got == status, (path, answer)
        assert answer["error"]["code"] in {"bad_request", "unsupported_media_type"}


def test_larger_body_is_counted_exactly(server: RunningServer) -> None:
    data = {f"key_{i:06d}": i * 3 for i in range(60_000)}
    body = json.dumps({"name": "big", "data": data}).encode()
    assert len(body) < LIMIT_BYTES
    for path in ("/ping", "/pong"):
        status, answer = post(server, path, body)
        assert status == 200
        assert (answer["count"], answer["maxval"]) == (60_000, 59_999 * 3)
    assert leftover_spool_files(server) == []


def test_streamed_body_over_the_limit_is_refused_mid_stream(server: RunningServer) -> None:
    chunk = b"x" * 65536
    with socket.create_connection(("127.0.0.1", port_of(server)), timeout=20) as sock:
        sock.sendall(
            b"POST /pong HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n"
        )
        sent = 0
        answer = b""
        try:
            # Past the limit, then stop without ending the body: only an early 413 answers.
            # Read while sending: the server closes right after answering, and a reset can
            # discard an answer left unread until the end.
            while sent <= LIMIT_BYTES + len(chunk) and not answer:
                sock.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                sent += len(chunk)
                if select.select([sock], [], [], 0)[0]:
                    answer += sock.recv(65536)
            while not answer.endswith(b"}") and select.select([sock], [], [], 10)[0]:
                piece = sock.recv(65536)
                if not piece:
                    break
                answer += piece
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server closed the connection after answering
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
    assert b"payload_too_large" in answer
    assert leftover_spool_files(server) == []


def test_client_leaving_mid_body_leaves_nothing_behind(server: RunningServer) -> None:
    with socket.create_connection(("127.0.0.1", port_of(server)), timeout=20) as sock:
        sock.sendall(
            b"POST /pong HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Content-Length: 1000000\r\n\r\n" + b'{"name": "gone", "data": {' + b" " * 100_000
        )
    deadline = time.monotonic() + 5
    while leftover_spool_files(server) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert leftover_spool_files(server) == []
    # The service is fine, and nothing was logged as a crash.
    status, _ = post(server, "/pong", b'{"name": "after", "data": {"a": 1}}')
    assert status == 200
    assert "Traceback" not in server.log()
    assert "unexpected error" not in server.log()
