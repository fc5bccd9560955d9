"""`NotesStore` on the real PostgreSQL: a connection that dies in the middle of a statement gives a
503 error (never a driver exception, which would be a 500) and is not handed out again; a
statement past the time limit gives 503 and keeps its connection when the server cancelled it,
and replaces it when the server never answered. On SQLite, a locked database gives 503.

Both stores, since each runs statements its own way: the sync one through psycopg's cursor, the
async one on asyncpg's connection inside a greenlet.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import anyio
import pytest
from sqlalchemy import Engine, bindparam, func, make_url, select, text
from sqlalchemy.util import greenlet_spawn

from perflab.app.errors import Unavailable
from perflab.app.notes.ddl import ensure_schema
from perflab.app.notes.engines import make_engines
from perflab.app.notes.store import NotesStore
from perflab.app.notes.tables import INSERT_NOTE, SELECT_PAGE
from perflab.config import Settings
from tests.app.notes.conftest import direct_engine
from tests.app.notes.proxy import TcpProxy
from tests.support.servers import free_port

T = TypeVar("T")
SLEEP = select(func.pg_sleep(bindparam("seconds")))
ALIVE = select(func.pg_backend_pid())


def _terminate_sleeper(admin: Engine, deadline_s: float) -> None:
    """Kill the backend that is running pg_sleep for the store, once it is seen running."""
    stop = time.monotonic() + deadline_s
    while time.monotonic() < stop:
        with admin.connect() as connection:
            killed = connection.execute(
                text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE application_name = 'perflab-notes' AND query LIKE '%pg_sleep%' "
                    "AND state = 'active'"
                )
            ).all()
        if killed:
            return
        time.sleep(0.05)


def _killed_mid_statement(store: NotesStore, pg_notes_url: str) -> tuple[int, int]:
    """(the backend pid before, the one after) a statement whose connection was killed."""
    sleep, alive = store.compile(SLEEP, "seconds"), store.compile(ALIVE)
    first_pid = int(store.fetch(alive, {})[0][0])
    admin = direct_engine(pg_notes_url)
    killer = threading.Thread(target=_terminate_sleeper, args=(admin, 10.0))
    killer.start()
    try:
        with pytest.raises(Unavailable, match="connection was lost"):
            store.fetch(sleep, {"seconds": 10.0})
    finally:
        killer.join()
        admin.dispose()
    # The pool holds one connection: the next statement must get a new one, not the dead one.
    return first_pid, int(store.fetch(alive, {})[0][0])


def with_store(
    variant: str, url: str, scenario: Callable[[NotesStore], T], timeout_s: float = 10.0
) -> T:
    """Run `scenario` with the sync or the async store (pool of one connection, statements
    limited to `timeout_s`) and return what it returns. The async store's calls must run in a
    greenlet, and asyncpg connections belong to the loop that opened them: one loop for the
    whole scenario."""
    settings = Settings(database_url=url, db_pool_size=1, db_timeout_s=timeout_s)
    async_engine, sync_engine = make_engines(settings)
    try:
        if variant == "sync":
            store = NotesStore(sync_engine, timeout_s)
            try:
                return scenario(store)
            finally:
                store.close()

        async def in_one_loop() -> T:
            store = NotesStore(async_engine.sync_engine, timeout_s)  # made on the loop it runs on
            try:
                return await greenlet_spawn(scenario, store)
            finally:
                store.close()
                await async_engine.dispose()

        return anyio.run(in_one_loop)
    finally:
        sync_engine.dispose()


@pytest.mark.parametrize("variant", ["async", "sync"])
def test_a_connection_killed_mid_statement_is_503_and_replaced(
    variant: str, pg_notes_url: str
) -> None:
    first_pid, second_pid = with_store(
        variant, pg_notes_url, lambda store: _killed_mid_statement(store, pg_notes_url)
    )
    assert second_pid != first_pid


DIVIDE = select(bindparam("one") / bindparam("zero"))


def _statement_error(store: NotesStore) -> BaseException:
    """What a statement that the server refuses (not a connection problem) raises."""
    with pytest.raises(Exception, match="division by zero") as raised:
        store.fetch(store.compile(DIVIDE, "one", "zero"), {"one": 1, "zero": 0})
    return raised.value


@pytest.mark.parametrize("variant", ["async", "sync"])
def test_a_statement_error_is_a_bug_not_an_outage(variant: str, pg_notes_url: str) -> None:
    """A division by zero is a bug in the statement: it must stay a 500, not turn into a 503
    telling clients to retry."""
    assert not isinstance(with_store(variant, pg_notes_url, _statement_error), Unavailable)


def _past_the_limit(store: NotesStore) -> tuple[int, int]:
    """(the backend pid before, the one after) a statement the server cancelled at the limit."""
    alive = store.compile(ALIVE)
    first_pid = int(store.fetch(alive, {})[0][0])
    with pytest.raises(Unavailable, match="statement timeout"):
        store.fetch(store.compile(SLEEP, "seconds"), {"seconds": 30.0})
    return first_pid, int(store.fetch(alive, {})[0][0])


@pytest.mark.parametrize("variant", ["async", "sync"])
def test_a_statement_past_the_limit_is_503_and_keeps_its_connection(
    variant: str, pg_notes_url: str
) -> None:
    """The server cancels it (statement_timeout) and says so: the connection is still good."""
    first_pid, second_pid = with_store(variant, pg_notes_url, _past_the_limit, timeout_s=0.5)
    assert second_pid == first_pid


def _silenced(store: NotesStore, proxy: TcpProxy) -> tuple[int, int]:
    """(the backend pid before, the one after) a statement the network swallowed."""
    alive = store.compile(ALIVE)
    first_pid = int(store.fetch(alive, {})[0][0])
    proxy.black_hole()
    try:
        with pytest.raises(Unavailable, match="no answer"):
            store.fetch(alive, {})
    finally:
        proxy.restore()
    return first_pid, int(store.fetch(alive, {})[0][0])


@pytest.mark.parametrize("variant", ["async", "sync"])
def test_a_silent_network_is_503_and_the_connection_replaced(
    variant: str, pg_notes_url: str
) -> None:
    """Nothing comes back, not even the server's cancellation: the client-side limit ends the
    wait, and the connection, whose state nobody knows, is never used again."""
    real = make_url(pg_notes_url)
    proxy = TcpProxy(free_port(), real.host or "127.0.0.1", real.port or 5432)
    proxy.start()
    try:
        url = real.set(host="127.0.0.1", port=proxy.listen_port).render_as_string(False)
        first_pid, second_pid = with_store(
            variant, url, lambda store: _silenced(store, proxy), timeout_s=0.5
        )
    finally:
        proxy.close()
    assert second_pid != first_pid


def _locked(store: NotesStore, path: Path) -> int:
    """Write while another connection holds SQLite's write lock; the rows seen after."""
    insert = store.compile(INSERT_NOTE, "title", "description")
    page = store.compile(SELECT_PAGE, "after", "limit")
    assert store.fetch(page, {"after": 0, "limit": 10}) == []  # connected: the file is in WAL
    blocker = sqlite3.connect(path, isolation_level=None)
    try:
        blocker.execute("BEGIN IMMEDIATE")  # the write lock, held
        with pytest.raises(Unavailable, match="locked"):
            store.fetch(insert, {"title": "title1", "description": "desc1"})
        assert store.fetch(page, {"after": 0, "limit": 10}) == []  # readers are not blocked
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
    store.fetch(insert, {"title": "title1", "description": "desc1"})
    return len(store.fetch(page, {"after": 0, "limit": 10}))


@pytest.mark.parametrize("variant", ["async", "sync"])
def test_a_locked_sqlite_database_is_503_then_writable(variant: str, tmp_path: Path) -> None:
    path = tmp_path / "notes.db"
    engine = direct_engine(f"sqlite:///{path}")
    with engine.connect() as connection:
        ensure_schema(connection)
    engine.dispose()
    rows = with_store(
        variant, f"sqlite:///{path}", lambda store: _locked(store, path), timeout_s=0.5
    )
    assert rows == 1
