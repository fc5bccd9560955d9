"""Notes CRUD: plain functions on a `NotesStore`, shared by both variants (no FastAPI).

The sync variant calls them in a worker thread with the psycopg / sqlite3 store. The async
variant runs the very same functions with the asyncpg / aiosqlite store inside one greenlet
(`run_async`), where the driver awaits on the event loop at each round trip. One greenlet per
request, rather than one per `await conn.execute()`, `connect()` and `close()`, is part of what
keeps SQLAlchemy's share of a request small (docs/notes.md has the measurements).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from sqlalchemy.util import greenlet_spawn

from perflab.app.notes.store import NotesStore

T = TypeVar("T")
NoteRow = dict[str, Any]


def _note(row: Sequence[Any]) -> NoteRow:
    # The statements return (id, title, description), in that order.
    return {"id": row[0], "title": row[1], "description": row[2]}


def _first(rows: Sequence[Sequence[Any]]) -> NoteRow | None:
    return _note(rows[0]) if rows else None


def create_note(store: NotesStore, title: str, description: str) -> NoteRow:
    return _note(store.fetch(store.insert, {"title": title, "description": description})[0])


def get_note(store: NotesStore, note_id: int) -> NoteRow | None:
    return _first(store.fetch(store.select_one, {"note_id": note_id}))


def list_notes(store: NotesStore, after_id: int, limit: int) -> list[NoteRow]:
    """Notes with id > `after_id`, oldest first: pass the last id seen to get the next page."""
    return [
        _note(row) for row in store.fetch(store.select_page, {"after": after_id, "limit": limit})
    ]


def update_note(store: NotesStore, note_id: int, title: str, description: str) -> NoteRow | None:
    values = {"note_id": note_id, "title": title, "description": description}
    return _first(store.fetch(store.update, values))


def delete_note(store: NotesStore, note_id: int) -> NoteRow | None:
    return _first(store.fetch(store.delete, {"note_id": note_id}))


async def run_async(store: NotesStore, fn: Callable[..., T], *args: Any) -> T:
    """Run service function `fn` with the async engine's store, in one greenlet on the loop.

    Usage: `note = await run_async(async_store, create_note, "title", "description")`
    """
    return await greenlet_spawn(fn, store, *args)
