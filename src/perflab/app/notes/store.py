"""The notes statements compiled once for one engine's dialect, run on its pooled connections.

SQLAlchemy builds the SQL (Core statements from `tables.py`, compiled here once per dialect:
`$1` for asyncpg, `%(name)s` for psycopg, `?` for SQLite), owns the pool (same size, pre-ping,
AUTOCOMMIT) and adapts the driver (asyncpg and aiosqlite behind a DBAPI face). Per request we
skip only its `Connection` / execution-context / `Result` layer, which costs about as much CPU
as the INSERT itself here (measured in docs/notes.md): a request checks a connection out, runs
one cursor `execute` with the precompiled SQL and returns the connection.

On asyncpg the statement runs on the driver's own connection (`driver_connection`, SQLAlchemy's
public handle for it) with `Connection.fetch`, rather than through the DBAPI cursor that
SQLAlchemy emulates over it: that emulation (a lock, its own statement cache, a result deque,
a regex for the row count) measured ~20 us of a ~230 us request. asyncpg still prepares and
caches the statement per connection, as psycopg does for the sync variant (it prepares a
statement from its fifth run on a connection).

What that layer would otherwise do for us, and so is done here: parameter order for positional
styles, and invalidating a connection that a disconnect broke mid-statement (`liveness` catches
the ones that died while idle in the pool) or that gave no answer within the time limit
(`timeouts.py`: its state is unknown, so it must never serve another request). Its type
processing is not needed: the columns are integers and strings, which none of the four drivers
needs converted either way (the API tests round-trip ids and arbitrary text on both databases).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any

import asyncpg
from sqlalchemy import Engine, exc
from sqlalchemy.pool import PoolProxiedConnection
from sqlalchemy.sql import ClauseElement
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.util import await_

from perflab.app.errors import Overloaded, Unavailable
from perflab.app.notes.tables import (
    DELETE_NOTE,
    INSERT_NOTE,
    SELECT_NOTE,
    SELECT_PAGE,
    UPDATE_NOTE,
)
from perflab.app.notes.timeouts import (
    CLIENT_GRACE_S,
    AsyncWriteTurn,
    Execute,
    Watchdog,
    WriteTurn,
    asyncpg_terminator,
    shut_psycopg_socket,
)

Parameters = Sequence[Any] | Mapping[str, Any]  # positional or named, as the driver takes them


@dataclass(frozen=True)
class Compiled:
    """One statement's SQL for one dialect, and how to lay out its parameters."""

    sql: str
    positional_names: tuple[str, ...] | None  # None: the driver takes a mapping
    defaults: Mapping[str, Any]  # values SQLAlchemy bound itself (a literal OFFSET 0, ...)
    writes: bool

    @classmethod
    def of(cls, statement: ClauseElement, engine: Engine, names: Sequence[str]) -> Compiled:
        compiled = statement.compile(dialect=engine.dialect)
        assert isinstance(compiled, SQLCompiler)  # a DML/SELECT statement, never DDL
        defaults = compiled.construct_params(dict.fromkeys(names)) or {}
        positional = tuple(compiled.positiontup or ()) if compiled.positional else None
        writes = bool(compiled.isinsert or compiled.isupdate or compiled.isdelete)
        return cls(str(compiled), positional, defaults, writes)

    def parameters(self, values: Mapping[str, Any]) -> Parameters:
        merged = {**self.defaults, **values}
        if self.positional_names is None:
            return merged
        return tuple(merged[name] for name in self.positional_names)


_UNAVAILABLE = ("OperationalError", "InterfaceError")


class NotesStore:
    """Runs the notes statements, compiled here once for `engine`'s dialect, on its pool.

    The async engine's store must be made on the event loop its connections will belong to, and
    called inside `greenlet_spawn` (its driver awaits on that loop); the sync one anywhere.

    Errors: a database that is unreachable, drops the connection, is locked (SQLite) or runs a
    statement past `timeout_s` raises `Unavailable` (503 + Retry-After); no pooled connection
    free in time raises `Overloaded`. Any other driver error (integrity, programming) is a bug
    and propagates as it is (500). `timeout_s` must be the limit the engine's connections were
    made with (`engines.make_engines`); the store adds the client-side part where needed.

    Usage: `rows = NotesStore(engine, 10.0).fetch(store.select_one, {"note_id": 1})`
    """

    def __init__(self, engine: Engine, timeout_s: float) -> None:
        self.engine = engine
        self.timeout_s = timeout_s
        self.dialect = engine.dialect
        self.dbapi = engine.dialect.loaded_dbapi
        self._pool = engine.pool
        # Errors meaning "the database cannot serve this now" rather than "this request is bad".
        # (The aiosqlite adapter has no InterfaceError: take the classes the driver defines.)
        self._unavailable = (
            *(getattr(self.dbapi, name) for name in _UNAVAILABLE if hasattr(self.dbapi, name)),
            OSError,
        )
        self._write_turn = _write_turn(engine, timeout_s)
        self._execute: Execute = _execute_with_cursor
        self._driver_errors: tuple[type[BaseException], ...] = (self.dbapi.Error,)
        breaker: Callable[[PoolProxiedConnection], None] | None = None
        if engine.dialect.driver == "asyncpg":
            self._execute = _execute_on_asyncpg
            self._driver_errors += _ASYNCPG_ERRORS
            # The watchdog's thread can only ask an asyncpg connection's loop to terminate it.
            breaker = asyncpg_terminator(asyncio.get_running_loop())
        elif engine.dialect.driver == "psycopg":
            breaker = shut_psycopg_socket
        self._watchdog: Watchdog | None = None
        if breaker is not None:
            # PostgreSQL cancels a statement past the limit itself (statement_timeout); when no
            # answer comes at all, the watchdog breaks the connection a little later.
            self._watchdog = Watchdog(timeout_s + CLIENT_GRACE_S, breaker)
            self._execute = self._watchdog.guard(self._execute)
        self.insert = self.compile(INSERT_NOTE, "title", "description")
        self.select_one = self.compile(SELECT_NOTE, "note_id")
        self.select_page = self.compile(SELECT_PAGE, "after", "limit")
        self.update = self.compile(UPDATE_NOTE, "note_id", "title", "description")
        self.delete = self.compile(DELETE_NOTE, "note_id")

    def close(self) -> None:
        """Stop the store's watchdog thread, if it has one (the engine is the caller's)."""
        if self._watchdog is not None:
            self._watchdog.stop()

    def _is_disconnect(self, error: BaseException, connection: PoolProxiedConnection) -> bool:
        if isinstance(error, _ASYNCPG_ERRORS):
            return _asyncpg_disconnect(error)
        assert isinstance(error, self.dbapi.Error)
        return self.dialect.is_disconnect(error, connection.dbapi_connection, None)

    def compile(self, statement: ClauseElement, *names: str) -> Compiled:
        return Compiled.of(statement, self.engine, names)

    def fetch(self, compiled: Compiled, values: Mapping[str, Any]) -> Sequence[Sequence[Any]]:
        """Execute one statement and return all its rows (a checkout, one round trip)."""
        if compiled.writes:
            with self._write_turn:
                return self._fetch(compiled, values)
        return self._fetch(compiled, values)

    def _fetch(self, compiled: Compiled, values: Mapping[str, Any]) -> Sequence[Sequence[Any]]:
        connection = self._checkout()
        try:
            return self._execute(connection, compiled.sql, compiled.parameters(values))
        except TimeoutError:
            # No answer within the client-side limit: what the server did with the statement
            # is unknown (a write either fully happened or not at all), and so is the state of
            # the connection, which must go.
            _discard(connection)
            raise Unavailable(
                f"no answer from the notes database within {self.timeout_s + CLIENT_GRACE_S:g} s",
                retry_after_s=1.0,
            ) from None
        except self._driver_errors as error:
            if self._is_disconnect(error, connection):
                connection.invalidate(error)  # never hand a broken connection out again
                raise _unavailable("the database connection was lost", error) from None
            if isinstance(error, self._unavailable) or _asyncpg_unavailable(error):
                raise _unavailable("the notes database is unavailable", error) from None
            raise
        except BaseException:
            # Cancelled (shutdown) or interrupted mid-statement: the connection's protocol
            # state is unknown, so it must not serve another request.
            connection.invalidate()
            raise
        finally:
            connection.close()  # back to the pool (or discarded, if invalidated)

    def _checkout(self) -> PoolProxiedConnection:
        try:
            return self._pool.connect()  # pings first; a dead connection is replaced
        except exc.TimeoutError:
            raise Overloaded("no database connection became free in time") from None
        except (self.dbapi.Error, OSError) as error:
            raise _unavailable("the notes database is unreachable", error) from None


def _execute_with_cursor(
    connection: PoolProxiedConnection, sql: str, parameters: Parameters
) -> Sequence[Sequence[Any]]:
    """One statement through the DBAPI cursor; its rows."""
    cursor = connection.cursor()
    cursor.execute(sql, parameters)
    rows: Sequence[Sequence[Any]] = cursor.fetchall()
    cursor.close()
    return rows


def _execute_on_asyncpg(
    connection: PoolProxiedConnection, sql: str, parameters: Parameters
) -> Sequence[Sequence[Any]]:
    """One statement on the asyncpg connection itself (inside the request's greenlet)."""
    assert isinstance(parameters, tuple)  # asyncpg's $n placeholders are positional
    driver_connection: asyncpg.Connection = connection.driver_connection
    rows: Sequence[Sequence[Any]] = await_(driver_connection.fetch(sql, *parameters))
    return rows


# asyncpg's own errors, met only on the path above (elsewhere SQLAlchemy translates them).
# InternalClientError: a protocol left mid-operation by a connection the server closed under
# it ("cannot switch to state 12; another operation is in progress"), seen when PostgreSQL
# restarts or terminates sessions under load: the connection is broken, not the statement.
_ASYNCPG_ERRORS = (asyncpg.PostgresError, asyncpg.InterfaceError, asyncpg.InternalClientError)
# SQLSTATE classes and codes that mean the connection, not the statement, failed.
_DISCONNECT_SQLSTATES = ("08", "57P01", "57P02", "57P03")
# ...and those that mean the server cannot serve now (connection, insufficient resources,
# operator intervention such as a cancelled statement): 503. Any other SQLSTATE (a bad table,
# a division by zero, a data error) is a bug in a statement here, and stays a 500.
_UNAVAILABLE_SQLSTATES = ("08", "53", "57")


def _asyncpg_disconnect(error: BaseException) -> bool:
    """Whether an asyncpg error leaves its connection unusable: closed under it, an interface
    error (asyncpg raises these for a connection it has given up on), or a server shutdown."""
    if isinstance(error, asyncpg.InterfaceError | asyncpg.InternalClientError):
        return True
    sqlstate = getattr(error, "sqlstate", None) or ""
    return sqlstate.startswith(_DISCONNECT_SQLSTATES)


def _asyncpg_unavailable(error: BaseException) -> bool:
    if not isinstance(error, _ASYNCPG_ERRORS):
        return False
    sqlstate = getattr(error, "sqlstate", None) or ""
    broken = isinstance(error, asyncpg.InterfaceError | asyncpg.InternalClientError)
    return broken or sqlstate.startswith(_UNAVAILABLE_SQLSTATES)


def _discard(connection: PoolProxiedConnection) -> None:
    """Invalidate a connection whose state is unknown, without waiting on it.

    SQLAlchemy's invalidation of an asyncpg connection tries a graceful close first (up to
    2 s, on a network that may be dead); aborting it first makes that wait nothing. The watchdog
    has usually done so already, or shut psycopg's socket down.
    """
    driver_connection = connection.driver_connection
    if isinstance(driver_connection, asyncpg.Connection):
        driver_connection.terminate()
    connection.invalidate()


def _write_turn(engine: Engine, timeout_s: float) -> AbstractContextManager[Any]:
    """One writer at a time per process, on SQLite only.

    SQLite has one write lock per database; a connection that finds it taken sleeps in steps
    of up to 100 ms (its busy handler) before trying again, so ten pooled connections writing
    at once made p99 ~180 ms. Queueing the writers in the process instead costs nothing: they
    would have run one after another anyway. (Readers are not queued: WAL lets them run beside
    the writer.) The async store needs a lock it can wait on inside its greenlet. Waiting for a
    turn is bounded by the time limit, as SQLite's own wait for its lock is (busy timeout).
    """
    if engine.dialect.name != "sqlite":
        return contextlib.nullcontext()
    return AsyncWriteTurn(timeout_s) if engine.dialect.is_async else WriteTurn(timeout_s)


def _unavailable(what: str, error: BaseException) -> Unavailable:
    reason = f"{type(error).__name__}: {error}".splitlines()[0][:200]
    return Unavailable(f"{what} ({reason})", retry_after_s=1.0)
