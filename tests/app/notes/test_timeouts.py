"""`timeouts.py` on its own: the watchdog breaks the connection of a statement that runs past its
limit, and nothing else; the SQLite writers' turn is waited for a bounded time.

The watchdog is tried on a socket pair standing in for a psycopg connection (it only looks at
`pgconn.socket`); `test_store.py` and `test_time_limit.py` run it on the real driver.
"""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Iterator, Sequence
from types import SimpleNamespace
from typing import Any

import pytest
from sqlalchemy.util import await_, greenlet_spawn

from perflab.app.errors import Unavailable
from perflab.app.notes.timeouts import AsyncWriteTurn, Watchdog, WriteTurn, shut_psycopg_socket

LIMIT_S = 0.3


@pytest.fixture
def sockets() -> Iterator[tuple[socket.socket, socket.socket]]:
    """(the driver's end, the "server's" end) of a connection."""
    client, server = socket.socketpair()
    with client, server:
        yield client, server


def pooled(client: socket.socket) -> Any:
    """What the watchdog sees of a pooled psycopg connection."""
    pgconn = SimpleNamespace(socket=client.fileno())
    return SimpleNamespace(dbapi_connection=SimpleNamespace(pgconn=pgconn))


def read_answer(connection: Any, sql: str, parameters: Any) -> Sequence[Sequence[Any]]:
    """A statement as a driver runs it: wait for the answer; an end of stream is an error."""
    sock = socket.socket(fileno=connection.dbapi_connection.pgconn.socket)
    try:
        answer = sock.recv(16)
    finally:
        sock.detach()  # the fixture owns the descriptor
    if not answer:
        raise ConnectionError("server closed the connection unexpectedly")
    return [(answer,)]


@pytest.fixture
def watchdog() -> Iterator[Watchdog]:
    dog = Watchdog(LIMIT_S, shut_psycopg_socket)
    yield dog
    dog.stop()


def test_a_statement_without_an_answer_is_broken_off(
    watchdog: Watchdog, sockets: tuple[socket.socket, socket.socket]
) -> None:
    client, _ = sockets
    with pytest.raises(TimeoutError, match="no answer"):
        watchdog.guard(read_answer)(pooled(client), "SELECT 1", ())
    # The connection is unusable for good, so the pool can only discard it.
    with pytest.raises(OSError):  # noqa: PT011 (which errno depends on the platform)
        client.sendall(b"x" * 1_000_000)


def test_a_statement_answered_in_time_is_left_alone(
    watchdog: Watchdog, sockets: tuple[socket.socket, socket.socket]
) -> None:
    client, server = sockets
    server.sendall(b"row")
    assert watchdog.guard(read_answer)(pooled(client), "SELECT 1", ()) == [(b"row",)]
    # Long past that statement's deadline, its connection (back in the pool) still works.
    threading.Event().wait(LIMIT_S * 3)
    server.sendall(b"next")
    assert watchdog.guard(read_answer)(pooled(client), "SELECT 1", ()) == [(b"next",)]


def test_a_writer_waits_for_its_turn_a_bounded_time() -> None:
    turn = WriteTurn(LIMIT_S)
    held, release = threading.Event(), threading.Event()

    def hold() -> None:
        with turn:
            held.set()
            release.wait(30)

    holder = threading.Thread(target=hold)
    holder.start()
    held.wait(30)
    try:
        with pytest.raises(Unavailable, match="no turn to write"), turn:
            pass
    finally:
        release.set()
        holder.join()
    with turn:  # free again
        pass


def test_an_async_writer_waits_for_its_turn_a_bounded_time() -> None:
    async def scenario() -> None:
        turn = AsyncWriteTurn(LIMIT_S)
        held, release = asyncio.Event(), asyncio.Event()

        def hold() -> None:
            with turn:
                held.set()
                await_(release.wait())

        def enter() -> bool:
            with turn:
                return True

        holder = asyncio.create_task(greenlet_spawn(hold))
        await held.wait()
        with pytest.raises(Unavailable, match="no turn to write"):
            await greenlet_spawn(enter)
        release.set()
        await holder
        assert await greenlet_spawn(enter)  # free again

    asyncio.run(scenario())
