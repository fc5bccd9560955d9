"""Two engines from one plain URL: the async one (asyncpg / aiosqlite) and the sync one
(psycopg 3 / sqlite3), with the same pool, the same liveness check, the same isolation level.

`PERFLAB_DATABASE_URL` names the database, not a driver (`postgresql://user@host:5432/db`,
`sqlite:///path/notes.db`); each engine picks its own. Unset, it is `notes.db` in the data
directory, so `perflab serve` needs no database server.

Both engines check a connection's socket at checkout (`liveness`), so a restarted database is
picked up without restarting the service. Both run in AUTOCOMMIT: every operation here is a
single statement, so the BEGIN and COMMIT of a transaction would be two extra round trips per
request, for nothing.

Every statement is limited to `PERFLAB_DB_TIMEOUT_S` (`timeouts.py` has the whole story). Here
is the database's half: PostgreSQL's `statement_timeout`, set for the session as each connection
starts (a startup parameter: no extra round trip, nothing per request), makes the server cancel
and roll back a statement past the limit; SQLite's busy timeout bounds the wait for another
connection's write lock.
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, make_url
from sqlalchemy.engine import URL
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from perflab.app.notes.liveness import check_liveness_at_checkout
from perflab.config import Settings

# How long a request waits for a pooled connection before it gets 503 Overloaded.
POOL_TIMEOUT_S = 30.0

_DRIVERS = {
    "postgresql": ("postgresql+asyncpg", "postgresql+psycopg"),
    "sqlite": ("sqlite+aiosqlite", "sqlite+pysqlite"),
}


def database_urls(settings: Settings) -> tuple[URL, URL]:
    """(async URL, sync URL) for the configured database, each with its driver."""
    raw = settings.database_url
    # "None": what `Settings.to_env()` hands server workers for an unset URL (str(None)).
    if raw is None or raw.strip() in ("", "None"):
        raw = f"sqlite:///{settings.data_dir / 'notes.db'}"
    url = make_url(raw)
    backend = url.get_backend_name()
    backend = "postgresql" if backend == "postgres" else backend
    if backend not in _DRIVERS:
        raise ValueError(f"PERFLAB_DATABASE_URL: unsupported database {backend!r} ({raw})")
    if backend == "sqlite" and url.database in (None, "", ":memory:"):
        # Each engine (and each pooled connection) would get its own empty database.
        raise ValueError("PERFLAB_DATABASE_URL: the notes study needs a SQLite file, not :memory:")
    async_driver, sync_driver = _DRIVERS[backend]
    return url.set(drivername=async_driver), url.set(drivername=sync_driver)


def _pool_options(settings: Settings) -> dict[str, Any]:
    # Identical for both engines: the seed's 4x came partly from comparing different pools.
    return {
        "pool_size": settings.db_pool_size,
        "max_overflow": 0,
        "pool_timeout": POOL_TIMEOUT_S,
        # No ping query at checkout (a round trip per request): `liveness` checks the socket
        # instead, which replaces what a database restart closed just as well.
        "pool_pre_ping": False,
        "isolation_level": "AUTOCOMMIT",
    }


def _connect_args(url: URL, settings: Settings) -> dict[str, Any]:
    timeout_s = settings.db_connect_timeout_s
    # In milliseconds, and never 0, which would mean no limit at all.
    statement_timeout = str(max(1, round(settings.db_timeout_s * 1000)))
    if url.drivername == "postgresql+asyncpg":
        return {
            "timeout": timeout_s,
            "server_settings": {
                "application_name": "perflab-notes",
                "statement_timeout": statement_timeout,
            },
        }
    if url.drivername == "postgresql+psycopg":
        return {
            # libpq takes whole seconds and treats anything under 2 as 2.
            "connect_timeout": max(2, round(timeout_s)),
            "application_name": "perflab-notes",
            "options": f"-c statement_timeout={statement_timeout}",
        }
    # sqlite3 and aiosqlite: `timeout` is the busy timeout on a locked database.
    return {"timeout": settings.db_timeout_s, "check_same_thread": False}


def _tune_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def on_connect(dbapi_connection: Any, connection_record: Any) -> None:
        cursor = dbapi_connection.cursor()
        # WAL: readers never block the writer (the setting persists in the file). NORMAL sync
        # is safe with WAL (no corruption; a power cut may lose the last commits) and avoids
        # an fsync per insert.
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()


def make_engines(settings: Settings) -> tuple[AsyncEngine, Engine]:
    """The async and the sync engine for `settings.database_url`; neither connects yet."""
    async_url, sync_url = database_urls(settings)
    if async_url.get_backend_name() == "sqlite" and async_url.database:
        # sqlite3 does not create the directory a file lives in. If we cannot either, the
        # first connection fails: 503 and `/healthz` say why, like an unreachable server.
        with contextlib.suppress(OSError):
            Path(async_url.database).parent.mkdir(parents=True, exist_ok=True)
    async_engine = create_async_engine(
        async_url, connect_args=_connect_args(async_url, settings), **_pool_options(settings)
    )
    sync_engine = create_engine(
        sync_url, connect_args=_connect_args(sync_url, settings), **_pool_options(settings)
    )
    if async_url.get_backend_name() == "sqlite":
        _tune_sqlite(async_engine.sync_engine)
        _tune_sqlite(sync_engine)
    check_liveness_at_checkout(async_engine.sync_engine)
    check_liveness_at_checkout(sync_engine)
    return async_engine, sync_engine
