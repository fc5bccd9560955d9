"""Which asyncpg errors mean "this connection is broken" (503, connection dropped) rather than
"this statement is wrong" (500): found under faults, when PostgreSQL restarts mid-load."""

from __future__ import annotations

import asyncpg
import pytest

from perflab.app.notes.store import _asyncpg_disconnect, _asyncpg_unavailable


@pytest.mark.parametrize(
    "error",
    [
        # What asyncpg raised on a connection the server closed mid-operation, seen in the
        # faults study as a 500 before it was classified.
        asyncpg.InternalClientError(
            "cannot switch to state 12; another operation (2) is in progress"
        ),
        asyncpg.InterfaceError("connection is closed"),
        asyncpg.AdminShutdownError("terminating connection due to administrator command"),
    ],
)
def test_a_broken_connection_is_a_disconnect(error: BaseException) -> None:
    assert _asyncpg_disconnect(error)
    assert _asyncpg_unavailable(error)


def test_a_bad_statement_is_not() -> None:
    error = asyncpg.UndefinedTableError("relation does not exist")
    assert not _asyncpg_disconnect(error)
    assert not _asyncpg_unavailable(error)
