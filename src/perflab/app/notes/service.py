"""Notes CRUD: plain functions on a SQLAlchemy `Engine`, shared by both variants (no FastAPI).

The sync variant calls them in a worker thread on the psycopg / sqlite3 engine. The async
variant runs the very same functions on the async engine's `sync_engine` inside one greenlet
(`run_async`): the asyncpg / aiosqlite driver then awaits on the event loop at each round trip.
One greenlet per request, rather than one per `await conn.execute()`, `connect()` and `close()`,
is what keeps SQLAlchemy's share of a request small (see docs/notes.md for the measurements).

Errors: a database that cannot be reached, drops the connection or is locked becomes
`Unavailable` (503 + Retry-After); no free pooled connection in time becomes `Overloaded`.
Anything else (an integrity or programming error) is a bug and stays a 500.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, ParamSpec, TypeVar

from sqlalchemy import Engine, Row, exc
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.util import greenlet_spawn

from perflab.app.errors import Overloaded, Unavailable
from perflab.app.notes.tables import (
    DELETE_NOTE,
    INSERT_NOTE,
    SELECT_NOTE,
    SELECT_PAGE,
    UPDATE_NOTE,
)

P = ParamSpec("P")
T = TypeVar("T")

NoteRow = dict[str, Any]


def _unavailable_on_database_errors(fn: Callable[P, T]) -> Callable[P, T]:
    @wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> T:
        try:
            return fn(*args, **kwargs)
        except exc.TimeoutError:
            raise Overloaded("no database connection became free in time") from None
        except (exc.OperationalError, exc.InterfaceError) as error:
            raise Unavailable(f"the notes database is unavailable: {_reason(error)}") from None
        except exc.DBAPIError as error:
            if error.connection_invalidated:
                raise Unavailable(f"the database connection was lost: {_reason(error)}") from None
            raise
        except OSError as error:  # a refused or reset connection before the driver wraps it
            raise Unavailable(f"the notes database is unreachable: {error}") from None

    return wrapper


def _reason(error: exc.DBAPIError) -> str:
    orig = error.orig
    return f"{type(orig).__name__}: {orig}".splitlines()[0][:200]


def _note(row: Row[Any, Any, Any]) -> NoteRow:
    # Plain str keys in the statements' column order (`_asdict()` keys are `quoted_name`s,
    # which orjson refuses).
    return {"id": row[0], "title": row[1], "description": row[2]}


def _as_note(row: Row[Any, Any, Any] | None) -> NoteRow | None:
    return None if row is None else _note(row)


@_unavailable_on_database_errors
def create_note(engine: Engine, title: str, description: str) -> NoteRow:
    with engine.connect() as connection:
        row = connection.execute(INSERT_NOTE, {"title": title, "description": description})
        return _note(row.one())


@_unavailable_on_database_errors
def get_note(engine: Engine, note_id: int) -> NoteRow | None:
    with engine.connect() as connection:
        return _as_note(connection.execute(SELECT_NOTE, {"note_id": note_id}).first())


@_unavailable_on_database_errors
def list_notes(engine: Engine, after_id: int, limit: int) -> list[NoteRow]:
    """Notes with id > `after_id`, oldest first: pass the last id seen to get the next page."""
    with engine.connect() as connection:
        result = connection.execute(SELECT_PAGE, {"after": after_id, "limit": limit})
        return [_note(row) for row in result]


@_unavailable_on_database_errors
def update_note(engine: Engine, note_id: int, title: str, description: str) -> NoteRow | None:
    params = {"note_id": note_id, "title": title, "description": description}
    with engine.connect() as connection:
        return _as_note(connection.execute(UPDATE_NOTE, params).first())


@_unavailable_on_database_errors
def delete_note(engine: Engine, note_id: int) -> NoteRow | None:
    with engine.connect() as connection:
        return _as_note(connection.execute(DELETE_NOTE, {"note_id": note_id}).first())


async def run_async(engine: AsyncEngine, fn: Callable[..., T], *args: Any) -> T:
    """Run service function `fn` on the async engine, in one greenlet on the event loop.

    Usage: `note = await run_async(async_engine, create_note, "title", "description")`
    """
    return await greenlet_spawn(fn, engine.sync_engine, *args)
