"""Pre-ping without the round trip: a pooled PostgreSQL connection is checked at checkout by
looking at its socket, and replaced if the server has closed it (a restart, a terminated
backend, an idle timeout).

SQLAlchemy's `pool_pre_ping=True` sends a query at every checkout: one more round trip per
request, which measured 70-130 us of server CPU per request on the async variant and 100-300 us
on the sync one (docs/notes.md), on top of the database's own work for it. A server that goes
away closes the connection, and that is visible locally for free: asyncpg's protocol marks the
connection closed as soon as the event loop sees the EOF, and psycopg's idle socket turns
readable (EOF or the server's last FATAL message). What neither check can see, a silently
vanished network, a round-trip ping would only wait on too: the first statement on such a
connection runs into the time limit (`timeouts.py`), and `NotesStore.fetch` invalidates it, as it
does a connection that breaks mid-statement.

Raising `DisconnectionError` in a checkout listener is SQLAlchemy's documented way to make the
pool discard that connection and hand out a fresh one (it tries three times).
"""

from __future__ import annotations

import select
from typing import Any

from sqlalchemy import Engine, event, exc
from sqlalchemy.pool import ConnectionPoolEntry, PoolProxiedConnection


def _asyncpg_alive(dbapi_connection: Any) -> bool:
    return not dbapi_connection.driver_connection.is_closed()


def _psycopg_alive(dbapi_connection: Any) -> bool:
    if dbapi_connection.closed or dbapi_connection.broken:
        return False
    # poll, not select: select cannot take descriptors above 1023, and a busy worker has more.
    poller = select.poll()
    poller.register(dbapi_connection.pgconn.socket, select.POLLIN)
    # An idle connection in autocommit has nothing to say; anything readable is its end.
    return not poller.poll(0)


_CHECKS = {"asyncpg": _asyncpg_alive, "psycopg": _psycopg_alive}


def check_liveness_at_checkout(engine: Engine) -> None:
    """Make `engine`'s pool replace connections the server has closed (PostgreSQL drivers).

    Usage: `check_liveness_at_checkout(async_engine.sync_engine)`
    """
    alive = _CHECKS.get(engine.dialect.driver)
    if alive is None:  # SQLite: a file, no server that could have gone away
        return

    @event.listens_for(engine, "checkout")
    def on_checkout(
        dbapi_connection: Any, record: ConnectionPoolEntry, proxy: PoolProxiedConnection
    ) -> None:
        try:
            ok = alive(dbapi_connection)
        except Exception as error:  # a socket that cannot even be looked at is as good as dead
            raise exc.DisconnectionError(f"connection unusable: {error}") from error
        if not ok:
            raise exc.DisconnectionError("the server closed this connection")
