"""Every client people use reads an early answer (413, 415) from a real uvicorn and granian.

Without the drain in perflab.app.body_limit, http.client and urllib get ConnectionResetError or
BrokenPipeError for a body larger than loopback's socket buffers: the server closed with the
body unread. (requests happens to recover the answer on its own; curl and aiohttp read while
they send.)
"""

from __future__ import annotations

import asyncio
import http.client
import io
import json
import shutil
import socket
import subprocess
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import requests

from tests.support.servers import RunningServer, get_json, perflab_server

LIMIT = 1_000_000
# Larger than loopback's socket buffers (a few MB), so a server that closes without reading
# it makes the sending client fail; well inside the drain bound (limit + 32 MiB).
BIG = b"x" * 12_000_000


@pytest.fixture(scope="module", params=["uvicorn", "granian"])
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningServer]:
    tmp_path = tmp_path_factory.mktemp(request.param)
    env = {"PERFLAB_MAX_BODY_BYTES": str(LIMIT)}
    with perflab_server(tmp_path, "--server", request.param, "--offload", "inline", env=env) as s:
        yield s


def assert_error(body: Any, code: str) -> None:
    assert body["error"]["code"] == code
    assert body["error"]["message"]


def pieces(body: bytes, size: int = 256 * 1024) -> Iterator[bytes]:
    return (body[i : i + size] for i in range(0, len(body), size))


Client = Callable[[str, bytes, bool, str], tuple[int, Any]]


def via_http_client(url: str, body: bytes, chunked: bool, media: str) -> tuple[int, Any]:
    parts = urllib.parse.urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=30)
    try:
        data = pieces(body) if chunked else body
        conn.request("POST", parts.path, data, {"content-type": media}, encode_chunked=chunked)
        answer = conn.getresponse()
        return answer.status, json.loads(answer.read())
    finally:
        conn.close()


def via_urllib(url: str, body: bytes, chunked: bool, media: str) -> tuple[int, Any]:
    # An iterable body has no length: urllib sends it chunked.
    data = pieces(body) if chunked else body
    request = urllib.request.Request(url, data, {"content-type": media})
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as error:
        with error:
            return error.code, json.loads(error.read())


def via_requests(url: str, body: bytes, chunked: bool, media: str) -> tuple[int, Any]:
    data = pieces(body) if chunked else body
    with requests.post(url, data, headers={"content-type": media}, timeout=30) as answer:
        return answer.status_code, answer.json()


def via_aiohttp(url: str, body: bytes, chunked: bool, media: str) -> tuple[int, Any]:
    async def stream() -> AsyncIterator[bytes]:
        for piece in pieces(body):
            yield piece

    async def post() -> tuple[int, Any]:
        async with aiohttp.ClientSession() as session:
            # A file-like body: aiohttp warns that sending large raw bytes blocks its loop.
            data = stream() if chunked else io.BytesIO(body)
            async with session.post(url, data=data, headers={"content-type": media}) as answer:
                result = answer.status, await answer.json(content_type=None)
        # A connection the server closed mid-send is still `closing` when the session is: give
        # the loop a moment to finish it, or it is reported unclosed when collected (aiohttp's
        # "graceful shutdown" advice) -- in whichever later test the collection happens.
        await asyncio.sleep(0.1)
        return result

    return asyncio.run(post())


@pytest.mark.parametrize("chunked", [False, True], ids=["length", "chunked"])
@pytest.mark.parametrize("client", [via_http_client, via_urllib, via_requests, via_aiohttp])
def test_every_client_reads_the_413(server: RunningServer, client: Client, chunked: bool) -> None:
    status, body = client(server.url("/pong"), BIG, chunked, "application/json")
    assert status == 413
    assert_error(body, "payload_too_large")


@pytest.mark.parametrize("client", [via_http_client, via_urllib])
def test_an_app_refusal_is_readable_too(server: RunningServer, client: Client) -> None:
    # /pong checks the content type before it reads a byte. Chunked, because a declared
    # length over the limit would get the 413 first.
    status, body = client(server.url("/pong"), BIG, True, "text/plain")
    assert status == 415
    assert_error(body, "unsupported_media_type")


def connect(server: RunningServer) -> socket.socket:
    parts = urllib.parse.urlsplit(server.base_url)
    return socket.create_connection((parts.hostname, parts.port), timeout=30)


def test_expect_continue_gets_the_413_without_sending_the_body(server: RunningServer) -> None:
    with connect(server) as sock:
        sock.sendall(
            b"POST /pong HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Content-Length: %d\r\nExpect: 100-continue\r\n\r\n" % len(BIG)
        )
        answer = b""
        while chunk := sock.recv(65536):  # to the end: the server closes, wanting no body
            answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 413")
    assert b"100 Continue" not in answer
    assert_error(json.loads(body), "payload_too_large")


def send_until_refused(sock: socket.socket, piece: bytes, cap_bytes: int) -> tuple[int, str]:
    """Send `piece` until the server stops reading; (bytes sent, the error that stopped it)."""
    sent = 0
    try:
        while sent < cap_bytes:
            sock.sendall(piece)
            sent += len(piece)
    except (ConnectionResetError, BrokenPipeError) as error:
        return sent, type(error).__name__
    return sent, "none"


@pytest.mark.parametrize("declared", [False, True], ids=["chunked", "declared-1GB"])
def test_a_body_far_beyond_the_drain_bound_ends(server: RunningServer, declared: bool) -> None:
    framing = b"Content-Length: 1000000000" if declared else b"Transfer-Encoding: chunked"
    piece = b"x" * (1 << 20) if declared else b"100000\r\n" + b"x" * (1 << 20) + b"\r\n"
    with connect(server) as sock:
        sock.sendall(b"POST /pong HTTP/1.1\r\nHost: x\r\n%s\r\n\r\n" % framing)
        sent, error = send_until_refused(sock, piece, cap_bytes=300 << 20)
    # Refused near the drain bound (1 MB + 32 MiB, plus what socket buffers hold), or at once
    # for a declared length the drain could never read, not after 300 MiB.
    assert error != "none"
    assert sent < 300 << 20


def test_keep_alive_is_kept_until_a_refusal_closes_only_its_connection(
    server: RunningServer,
) -> None:
    small = json.dumps({"name": "a", "data": {"k": 1}}).encode()
    # Over 64 KiB, so on the wrapped path: read in full, it must not close the connection.
    medium = json.dumps({"name": "b", "data": {f"k{i}": i for i in range(40_000)}}).encode()
    parts = urllib.parse.urlsplit(server.base_url)
    conn = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=30)

    def post(body: bytes) -> tuple[int, str | None]:
        conn.request("POST", "/pong", body, {"content-type": "application/json"})
        answer = conn.getresponse()
        answer.read()
        return answer.status, answer.getheader("connection")

    try:
        answers = [post(small)]
        first_socket = conn.sock
        answers += [post(medium), post(small)]
        reused = conn.sock is first_socket
        answers += [post(BIG), post(small)]  # http.client reconnects after the close
    finally:
        conn.close()
    assert reused
    assert answers == [(200, None), (200, None), (200, None), (413, "close"), (200, None)]
    assert get_json(server.url("/healthz"))[0] in (200, 503)  # alive (503: a backing service)


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")
@pytest.mark.parametrize("expect", ["Expect: 100-continue", "Expect:"], ids=["expect", "no-expect"])
def test_curl_reads_the_413(server: RunningServer, tmp_path: Path, expect: str) -> None:
    # curl sends `Expect: 100-continue` for bodies over 1 MB unless told otherwise (`Expect:`).
    (tmp_path / "big.json").write_bytes(BIG)
    command = [
        "curl", "-s", "-H", "content-type: application/json", "-H", expect,
        "--data-binary", f"@{tmp_path / 'big.json'}", "-w", "\n%{http_code}", server.url("/pong"),
    ]  # fmt: skip
    done = subprocess.run(command, capture_output=True, check=True, timeout=60)
    body, _, status = done.stdout.rpartition(b"\n")
    assert status == b"413"
    assert_error(json.loads(body), "payload_too_large")
