"""Creates the notes table at start-up, never touching rows that are already there.

Several server workers start at once and each runs this: on PostgreSQL a session advisory lock
serialises them (concurrent `CREATE TABLE IF NOT EXISTS` can still collide in the catalogue);
on SQLite the database's own write lock does.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Connection, inspect, text
from sqlalchemy.schema import CreateTable

from perflab.app.notes.tables import notes

# An arbitrary 64-bit key naming "perflab notes schema" among the database's advisory locks.
SCHEMA_LOCK_KEY = 0x7065_7266_6E6F_7465


class SchemaMismatch(RuntimeError):
    """The existing table lacks columns this version needs; refuse to start rather than 500."""


@contextmanager
def _schema_lock(connection: Connection) -> Iterator[None]:
    if connection.dialect.name != "postgresql":
        yield
        return
    connection.execute(text("SELECT pg_advisory_lock(:key)"), {"key": SCHEMA_LOCK_KEY})
    try:
        yield
    finally:
        connection.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": SCHEMA_LOCK_KEY})


def ensure_schema(connection: Connection) -> None:
    """Create the table if it is missing; check an existing one has every column we use.

    Usage: `await async_connection.run_sync(ensure_schema)` (the engine is in AUTOCOMMIT).
    """
    with _schema_lock(connection):
        connection.execute(CreateTable(notes, if_not_exists=True))
        existing = {column["name"] for column in inspect(connection).get_columns(notes.name)}
    missing = [column.name for column in notes.columns if column.name not in existing]
    if missing:
        raise SchemaMismatch(f"table {notes.name!r} lacks columns {missing}; migrate it first")
