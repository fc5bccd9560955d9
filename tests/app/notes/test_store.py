"""`Store` on the real PostgreSQL: a connection that dies in the middle of a statement gives a
503 error (never a driver exception, which would be a 500) and is not handed out again.

Both stores, since each runs statements its own way: the sync one through psycopg's cursor, the
async one on asyncpg's connection inside a greenlet.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import TypeVar

import anyio
import pytest
from sqlalchemy import Engine, bindparam, func, select, text
from sqlalchemy.util import greenlet_spawn

from perflab.app.errors import Unavailable
from perflab.app.notes.engines import make_engines
from perflab.app.notes.store import Store
from perflab.config import Settings
from tests.app.notes.conftest import direct_engine

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


def _killed_mid_statement(store: Store, pg_notes_url: str) -> tuple[int, int]:
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


def with_store(variant: str, pg_notes_url: str, scenario: Callable[[Store], T]) -> T:
    """Run `scenario` with the sync or the async store (pool of one connection) and return
    what it returns. The async store's calls must run in a greenlet, and asyncpg connections
    belong to the loop that opened them: one loop for the whole scenario."""
    async_engine, sync_engine = make_engines(Settings(database_url=pg_notes_url, db_pool_size=1))
    try:
        if variant == "sync":
            return scenario(Store(sync_engine))

        async def in_one_loop() -> T:
            try:
                return await greenlet_spawn(scenario, Store(async_engine.sync_engine))
            finally:
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


def _statement_error(store: Store) -> BaseException:
    """What a statement that the server refuses (not a connection problem) raises."""
    with pytest.raises(Exception, match="division by zero") as raised:
        store.fetch(store.compile(DIVIDE, "one", "zero"), {"one": 1, "zero": 0})
    return raised.value


@pytest.mark.parametrize("variant", ["async", "sync"])
def test_a_statement_error_is_a_bug_not_an_outage(variant: str, pg_notes_url: str) -> None:
    """A division by zero is a bug in the statement: it must stay a 500, not turn into a 503
    telling clients to retry."""
    assert not isinstance(with_store(variant, pg_notes_url, _statement_error), Unavailable)
