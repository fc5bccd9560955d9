"""The notes table and every statement the service runs, built once at import.

Building a Core statement per request costs more than running it on this box; built here once,
each request only binds parameters, and SQLAlchemy's compiled cache finds the SQL string for the
dialect at hand. The async and the sync engine execute these very objects, so the two variants
cannot drift apart. Every write is a single `... RETURNING` statement: one round trip, atomic
on its own, so a concurrent update and delete of one note simply find the row or not.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    Identity,
    Integer,
    MetaData,
    String,
    Table,
    bindparam,
    delete,
    insert,
    select,
    update,
)

metadata = MetaData()

notes = Table(
    "notes",
    metadata,
    # BIGINT identity on PostgreSQL; SQLite needs INTEGER PRIMARY KEY to alias its 64-bit rowid.
    Column("id", BigInteger().with_variant(Integer(), "sqlite"), Identity(), primary_key=True),
    # The API allows 50 characters; the column leaves room for a later, larger limit.
    Column("title", String(200), nullable=False),
    Column("description", String(200), nullable=False),
    # AUTOINCREMENT: SQLite would otherwise reuse the id of a deleted last row, so a stale id
    # (or a pagination cursor) could silently point at a different note.
    sqlite_autoincrement=True,
)

_RETURNED = (notes.c.id, notes.c.title, notes.c.description)

INSERT_NOTE = (
    insert(notes)
    .values(title=bindparam("title"), description=bindparam("description"))
    .returning(*_RETURNED)
)

SELECT_NOTE = select(*_RETURNED).where(notes.c.id == bindparam("note_id"))

# Keyset pagination: stable under concurrent inserts and deletes, and O(log n) at any depth.
SELECT_PAGE = (
    select(*_RETURNED)
    .where(notes.c.id > bindparam("after"))
    .order_by(notes.c.id)
    .limit(bindparam("limit"))
)

UPDATE_NOTE = (
    update(notes)
    .where(notes.c.id == bindparam("note_id"))
    .values(title=bindparam("title"), description=bindparam("description"))
    .returning(*_RETURNED)
)

DELETE_NOTE = delete(notes).where(notes.c.id == bindparam("note_id")).returning(*_RETURNED)
