"""Slow and hostile clients against a real `perflab serve` (perflab.app.slow_clients).

Raw sockets, so the client controls every byte and how slowly it reads. Bounds on time are
generous: each test waits for protocol events (an answer, a close), never for a duration.
"""

from __future__ import annotations

import base64
import contextlib
import http.client
import json
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest

from perflab.app.slow_clients import PATIENCE_S
from tests.support.servers import RunningServer, perflab_server

SLOW_HEAD = b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: "  # never finished
WAIT_S = 30.0  # generous: what a busy 2-core box may need to notice and close


def address(server: RunningServer) -> tuple[str, int]:
    host, port = server.base_url.removeprefix("http://").split(":")
    return host, int(port)


def honest_status(server: RunningServer) -> int:
    """The status of an honest `GET /healthz` on a new connection."""
    connection = http.client.HTTPConnection(*address(server), timeout=WAIT_S)
    try:
        connection.request("GET", "/healthz")
        return connection.getresponse().status
    finally:
        connection.close()


def read_until_closed(sock: socket.socket, timeout_s: float = WAIT_S) -> tuple[bytes, str]:
    """Everything the server sends until it closes: (bytes, "eof" | "reset" | "open")."""
    sock.settimeout(timeout_s)
    received = bytearray()
    try:
        while chunk := sock.recv(65536):
            received += chunk
    except ConnectionResetError:
        return bytes(received), "reset"
    except TimeoutError:
        return bytes(received), "open"
    return bytes(received), "eof"


@contextlib.contextmanager
def slow_heads(server: RunningServer, count: int) -> Iterator[list[socket.socket]]:
    """`count` connections that each sent part of a request head and then nothing."""
    sockets = []
    try:
        for _ in range(count):
            sock = socket.create_connection(address(server), timeout=WAIT_S)
            sock.sendall(SLOW_HEAD)
            sockets.append(sock)
        yield sockets
    finally:
        for sock in sockets:
            sock.close()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    env = {
        "PERFLAB_HEADER_TIMEOUT_S": "1",
        "PERFLAB_KEEP_ALIVE_TIMEOUT_S": "2",
        "PERFLAB_SEND_TIMEOUT_S": "1",
        "PERFLAB_OFFLOAD": "thread",
    }
    with perflab_server(tmp_path_factory.mktemp("slow"), env=env) as running:
        yield running


def test_a_head_not_finished_in_time_gets_408_and_is_closed(server: RunningServer) -> None:
    with slow_heads(server, 1) as (sock,):
        received, end = read_until_closed(sock)
    assert received.startswith(b"HTTP/1.1 408 "), received
    assert end == "eof"


def test_a_connection_that_sends_nothing_is_closed(server: RunningServer) -> None:
    with socket.create_connection(address(server), timeout=WAIT_S) as sock:
        received, end = read_until_closed(sock)
    assert received.startswith(b"HTTP/1.1 408 "), received
    assert end == "eof"


def test_a_head_over_the_size_limit_gets_431(server: RunningServer) -> None:
    with socket.create_connection(address(server), timeout=WAIT_S) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\n" + b"X-Big: " + b"a" * 100_000)
        received, end = read_until_closed(sock)
    assert received.startswith(b"HTTP/1.1 431 "), received
    assert end == "eof"


def test_a_keep_alive_client_outlives_many_head_timeouts(server: RunningServer) -> None:
    """The head timeout runs per request: a connection used for 3 s (three head timeouts) by
    requests 0.5 s apart (within the keep-alive timeout) keeps being served."""
    host, port = address(server)
    connection = http.client.HTTPConnection(host, port, timeout=WAIT_S)
    try:
        peers = set()
        for _ in range(7):
            connection.request("GET", "/healthz")
            response = connection.getresponse()
            assert response.status == 200
            json.loads(response.read())
            assert connection.sock is not None
            peers.add(connection.sock.getsockname())
            time.sleep(0.5)
        assert len(peers) == 1  # one connection throughout
    finally:
        connection.close()


def test_an_idle_keep_alive_connection_is_closed(server: RunningServer) -> None:
    with socket.create_connection(address(server), timeout=WAIT_S) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        received, end = read_until_closed(sock)
    assert received.startswith(b"HTTP/1.1 200 "), received
    assert end == "eof"


def test_a_client_that_stops_reading_a_large_answer_is_let_go(server: RunningServer) -> None:
    """An answer (~7 MB) larger than the kernel's socket buffers, to a client with a tiny window
    that reads nothing: the server lets go of the connection (its descriptor and the part of
    the answer it still held) instead of holding both for as long as the client likes."""
    noise = np.random.default_rng(1).integers(0, 256, (2500, 2500, 3), dtype=np.uint8)
    png = cv2.imencode(".png", noise)[1].tobytes()
    body = json.dumps({"image": base64.b64encode(png).decode()}).encode()
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # a tiny window
        sock.settimeout(WAIT_S)
        sock.connect(address(server))
        head = (
            f"POST /api/blur/encoded HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n"
        )
        sock.sendall(head.encode() + body)
        first = sock.recv(4096)  # the answer started: the kernel ran
        assert first.startswith(b"HTTP/1.1 200 "), first
        length = int(first.split(b"content-length: ")[1].split(b"\r\n")[0])
        # Read nothing more until the server has let go of its end.
        deadline = time.monotonic() + WAIT_S
        while time.monotonic() < deadline and _server_holds(sock):
            time.sleep(0.2)
        assert not _server_holds(sock)
        rest, end = read_until_closed(sock)
    assert end in ("eof", "reset")
    # Aborted, not closed: what the server still held was dropped (the kernel's socket buffer,
    # up to tcp_wmem's 4 MB, is still delivered after the descriptor is gone).
    assert len(first) + len(rest) < length


def _server_holds(sock: socket.socket) -> bool:
    """Whether the server's end of `sock` is still an ESTABLISHED socket (it has not closed)."""

    def hex_address(host: str, port: int) -> str:
        return f"{socket.inet_aton(host)[::-1].hex().upper()}:{port:04X}"

    ours, theirs = hex_address(*sock.getsockname()), hex_address(*sock.getpeername())
    with open("/proc/net/tcp") as table:
        rows = [line.split() for line in table.read().splitlines()[1:]]
    return any(row[1:4] == [theirs, ours, "01"] for row in rows)


def test_slow_heads_that_exhaust_descriptors_are_shed(tmp_path: Path) -> None:
    """With 256 descriptors and 400 slow heads, an honest client is still answered: each new
    connection near the limit first closes the one waiting longest for its head."""
    env = {
        "PERFLAB_OPEN_FILES_LIMIT": "256",
        "PERFLAB_FD_RESERVE": "64",
        "PERFLAB_HEADER_TIMEOUT_S": "600",  # shedding, not the timeout, must make the room
        "PERFLAB_OFFLOAD": "thread",
    }
    with perflab_server(tmp_path, env=env) as server, slow_heads(server, 400) as attackers:
        assert honest_status(server) == 200
        shed = 0
        for sock in attackers[:100]:  # the oldest ones
            sock.settimeout(WAIT_S)
            with contextlib.suppress(ConnectionResetError):
                shed += sock.recv(1) == b""
        assert shed == 100
        assert "Too many open files" not in server.log()


@pytest.fixture(scope="module")
def patient_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    """A head timeout well past PATIENCE_S, so a slow head is paused before it is due."""
    env = {"PERFLAB_HEADER_TIMEOUT_S": str(PATIENCE_S + 3), "PERFLAB_OFFLOAD": "thread"}
    with perflab_server(tmp_path_factory.mktemp("patient"), env=env) as running:
        yield running


def _slow_start(server: RunningServer) -> socket.socket:
    """A connection whose head is still unfinished past PATIENCE_S, its last bytes sent after
    that: the server has paused reading it."""
    sock = socket.create_connection(address(server), timeout=WAIT_S)
    sock.sendall(b"GET /healthz HTTP/1.1\r\n")
    time.sleep(PATIENCE_S + 0.5)
    sock.sendall(b"Host: x\r\nConnection: close\r\n")  # read, no end of head yet: paused
    return sock


def test_a_slow_head_finished_while_paused_is_served_at_its_timeout(
    patient_server: RunningServer,
) -> None:
    """Its end sits unread until the head timeout, then the last call reads it: served."""
    with _slow_start(patient_server) as sock:
        time.sleep(0.2)  # the server reads and pauses before the end arrives
        sock.sendall(b"\r\n")
        sock.settimeout(1.0)  # the head is complete, yet nothing is read before the timeout
        with pytest.raises(TimeoutError):
            sock.recv(1)
        received, _ = read_until_closed(sock)
    assert received.startswith(b"HTTP/1.1 200 "), received


def test_a_slow_head_unfinished_at_its_last_call_gets_408(patient_server: RunningServer) -> None:
    with _slow_start(patient_server) as sock:
        received, end = read_until_closed(sock)
    assert received.startswith(b"HTTP/1.1 408 "), received
    assert end == "eof"


def test_patience_counts_from_the_heads_first_byte(patient_server: RunningServer) -> None:
    """A connection idle past PATIENCE_S (a browser's preconnect), then a head in two pieces
    0.1 s apart, is answered at once: only a head that itself takes long is paused."""
    with socket.create_connection(address(patient_server), timeout=WAIT_S) as sock:
        time.sleep(PATIENCE_S + 0.5)
        sock.sendall(b"GET /healthz HTTP/1.1\r\n")
        time.sleep(0.1)
        sock.sendall(b"Host: x\r\nConnection: close\r\n\r\n")
        # Paused, it would be answered only at its head timeout, 3 s after this point.
        received, end = read_until_closed(sock, timeout_s=1.5)
    assert received.startswith(b"HTTP/1.1 200 "), received
    assert end == "eof"
