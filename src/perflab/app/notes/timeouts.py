"""The time limit of a notes statement (`PERFLAB_DB_TIMEOUT_S`), where a driver cannot set it.

A limit has two halves:

- **A slow statement** (a lock wait, a long query): the database cancels it itself. PostgreSQL's
  `statement_timeout` is set for every connection of both drivers (`engines.py`); past it the
  server rolls the statement back and answers with an error, and the connection stays usable.
  SQLite's equivalent is its busy timeout, how long a statement waits for the write lock.
- **No answer at all** (a network gone silent, a stuck proxy or server): the driver waits on
  its socket for ever, and only the client can end that wait. TCP keepalives or
  `tcp_user_timeout` notice a peer that stopped acknowledging, but not one that acknowledges and
  never answers (a proxy, pgbouncer, a hung server), so one `Watchdog` thread per store watches
  the statements in flight and breaks the connection of one that runs past the limit plus
  `CLIENT_GRACE_S`: psycopg's socket is shut down, asyncpg's connection terminated. The driver's
  wait ends at once with an error, which `NotesStore` reports as a timeout (503) and the connection,
  whose state nobody knows, is discarded.

asyncpg has a client-side timeout of its own (`timeout=`, `command_timeout`), a timer per call:
it measured 9,000-11,000 instructions per statement, the watchdog's dict entry in and out
~2,700 (`docs/notes.md`), and one mechanism then serves both variants.

Also here: `WriteTurn` / `AsyncWriteTurn`, the SQLite writers' queue in the process
(`store._write_turn`), whose wait is bounded by the same limit (past it: 503), so a stalled
writer does not hold every writer behind it for a limit each.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy.pool import PoolProxiedConnection
from sqlalchemy.util import await_

from perflab.app.errors import Unavailable

# Time for the server's own cancellation (statement_timeout) to reach the client before the
# client gives up on the connection: far more than a round trip on any network a database
# should be on, and short beside any useful limit.
CLIENT_GRACE_S = 1.0

Execute = Callable[[PoolProxiedConnection, str, Any], Sequence[Sequence[Any]]]


def no_answer(limit_s: float) -> TimeoutError:
    return TimeoutError(f"no answer from the database within {limit_s:g} s")


class Watchdog:
    """Breaks the connection of a statement that runs past `limit_s`: calls `break_connection`
    (from the watchdog's thread) with the pooled connection.

    Usage: `execute = Watchdog(11.0, shut_psycopg_socket).guard(execute)`; `stop()` at the end.
    """

    def __init__(
        self, limit_s: float, break_connection: Callable[[PoolProxiedConnection], None]
    ) -> None:
        self.limit_s = limit_s
        self._break = break_connection
        # How late past its deadline a hung statement may be noticed; the thread wakes this
        # often whatever the load (a few microseconds each time).
        self._tick_s = min(0.25, limit_s / 4)
        # id(claim) -> (deadline, claim) of each statement in flight. Only the thread running
        # a statement adds and removes its entry: no lock on the hot path.
        self._running: dict[int, tuple[float, list[PoolProxiedConnection]]] = {}
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="notes-db-watchdog", daemon=True)
        self._thread.start()

    def guard(self, execute: Execute) -> Execute:
        """`execute`, watched: past the limit it raises `TimeoutError` (its connection broken)."""
        running, limit_s, monotonic = self._running, self.limit_s, time.monotonic

        def guarded(
            connection: PoolProxiedConnection, sql: str, parameters: Any
        ) -> Sequence[Sequence[Any]]:
            # Whoever takes the connection out of `claim` first decides, the statement as it
            # ends or the watchdog to break it: `list.pop` is atomic, so never both.
            claim = [connection]
            key = id(claim)
            running[key] = (monotonic() + limit_s, claim)
            try:
                rows = execute(connection, sql, parameters)
            except BaseException as error:
                del running[key]
                try:
                    claim.pop()
                except IndexError:  # the watchdog broke the connection: that is the error
                    raise no_answer(limit_s) from error
                raise
            del running[key]
            try:
                claim.pop()
            except IndexError:
                # Answered just as the watchdog took it: the connection is being broken, so
                # the caller must discard it, and the answer came past the limit anyway.
                raise no_answer(limit_s) from None
            return rows

        return guarded

    def stop(self) -> None:
        self._stopped.set()
        self._thread.join(timeout=5)

    def _watch(self) -> None:
        while not self._stopped.wait(self._tick_s):
            now = time.monotonic()
            # dict.copy is atomic, where iterating would race the request threads.
            for deadline, claim in self._running.copy().values():
                if deadline < now:
                    try:
                        connection = claim.pop()
                    except IndexError:  # the statement has just ended
                        continue
                    with contextlib.suppress(Exception):  # closed already: nothing to break
                        self._break(connection)


def shut_psycopg_socket(connection: PoolProxiedConnection) -> None:
    """Shut a psycopg connection's socket down both ways: the driver's wait ends at once and the
    connection is unusable for good, without closing the descriptor under the driver, which
    still owns it."""
    fd = connection.dbapi_connection.pgconn.socket  # type: ignore[union-attr]  # psycopg's
    with socket.socket(fileno=os.dup(fd)) as sock:
        sock.shutdown(socket.SHUT_RDWR)


def asyncpg_terminator(
    loop: asyncio.AbstractEventLoop,
) -> Callable[[PoolProxiedConnection], None]:
    """How to break an asyncpg connection of `loop` from another thread: terminate it there."""

    def terminate(connection: PoolProxiedConnection) -> None:
        driver_connection = connection.driver_connection
        if driver_connection is not None:  # None: already closed
            loop.call_soon_threadsafe(driver_connection.terminate)

    return terminate


def _no_turn(limit_s: float) -> Unavailable:
    return Unavailable(f"the notes database is busy: no turn to write within {limit_s:g} s")


class WriteTurn:
    """A thread lock whose wait is bounded: `with turn:` raises `Unavailable` past `limit_s`."""

    def __init__(self, limit_s: float) -> None:
        self.limit_s = limit_s
        self._lock = threading.Lock()

    def __enter__(self) -> None:
        if not self._lock.acquire(timeout=self.limit_s):
            raise _no_turn(self.limit_s)

    def __exit__(self, *exc_info: object) -> None:
        self._lock.release()


class AsyncWriteTurn:
    """`WriteTurn` for a store that runs in a greenlet on the event loop."""

    def __init__(self, limit_s: float) -> None:
        self.limit_s = limit_s
        self._lock = asyncio.Lock()

    def __enter__(self) -> None:
        await_(self._acquire())

    def __exit__(self, *exc_info: object) -> None:
        self._lock.release()

    async def _acquire(self) -> None:
        try:
            async with asyncio.timeout(self.limit_s):
                await self._lock.acquire()
        except TimeoutError:
            raise _no_turn(self.limit_s) from None
