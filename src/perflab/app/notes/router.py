"""Seed 002's endpoints, the two variants side by side: `/notes/` (`async def`, async engine)
and `/notes/sync/` (plain `def` in the threadpool, sync engine). Each pair of handlers calls the
same service function with the same statement; only the handler style and the driver differ.

Answers are serialised straight from the database row with orjson: the row is already exactly
the `Note` shape, so validating it again through the response model would be pure per-request
overhead (the model still documents the answer in OpenAPI).
"""

from __future__ import annotations

from enum import Enum
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Path, Query, Request, Response
from starlette.convertors import StringConvertor, register_url_convertor

from perflab.app.deps import resources_of
from perflab.app.error_handlers import error_responses
from perflab.app.errors import NotFound
from perflab.app.lean_route import LeanRoute
from perflab.app.notes import service
from perflab.app.notes.resources import NotesResources
from perflab.app.notes.schemas import MAX_NOTE_ID, MAX_PAGE_LIMIT, Note, NoteIn
from perflab.app.notes.service import run_async

# What each kind of operation really answers besides its success (the body ones: an empty or
# malformed body is 400, a body over PERFLAB_MAX_BODY_BYTES 413, another content type 415).
_READ_ERRORS = error_responses(422, 503)
_ID_ERRORS = error_responses(404, 422, 503)
_CREATE_ERRORS = error_responses(400, 413, 415, 422, 503)
_REPLACE_ERRORS = error_responses(400, 404, 413, 415, 422, 503)


def notes_resources(request: Request) -> NotesResources:
    """The worker's notes database; 503 until its schema exists.

    Called in each handler rather than declared as a `Depends`: FastAPI's dependency solving
    measured ~27 us per request, ~4% of a whole notes request (docs/notes.md).
    """
    db = resources_of(request).extras["notes"]
    assert isinstance(db, NotesResources)
    db.require_schema()
    return db


NoteId = Annotated[int, Path(ge=1, le=MAX_NOTE_ID, description="The note's id.")]
Limit = Annotated[int, Query(ge=1, le=MAX_PAGE_LIMIT, description="Notes per page.")]
After = Annotated[
    int, Query(ge=0, le=MAX_NOTE_ID, description="Cursor: the last id of the previous page.")
]


def _json(body: Any, status_code: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(orjson.dumps(body), status_code, headers, media_type="application/json")


def _found(row: service.NoteRow | None, note_id: int) -> Response:
    if row is None:
        raise NotFound(f"note {note_id} not found")
    return _json(row)


def _page(request: Request, rows: list[service.NoteRow], limit: int) -> Response:
    """A page of notes; a full page links to the next one (RFC 8288), so clients need no maths."""
    headers = None
    if len(rows) == limit:
        next_url = request.url.include_query_params(after=rows[-1]["id"], limit=limit)
        headers = {"Link": f'<{next_url}>; rel="next"'}
    return _json(rows, headers=headers)


class _NoteIdSegment(StringConvertor):
    """A note id's path segment: anything but `sync`, which names the sync variant's collection.

    So `PUT /notes/sync/` is a 405 (the collection takes GET and POST) rather than a 422 for a
    note id "sync"; any other segment still reaches the endpoint, where a non-integer is a 422.
    """

    regex = "(?!sync/)[^/]+"


register_url_convertor("note_id", _NoteIdSegment())


# One router for both variants, in matching order. FastAPI tries routes in order at ~2-3 us per
# candidate, so the collection routes come first; `/notes/sync/...` must come before
# `/notes/{note_id}/`, which would otherwise claim "sync" as a (bad) id. Both variants are served
# by `LeanRoute` (lean_route.py), so they differ only in handler style and driver.
router = APIRouter(prefix="/notes", route_class=LeanRoute)
ASYNC: list[str | Enum] = [
    "notes (seed 002): async"
]  # async def, async engine (asyncpg / aiosqlite)
SYNC: list[str | Enum] = [
    "notes (seed 002): sync"
]  # plain def in the threadpool, sync engine (psycopg / sqlite3)


@router.post("/", status_code=201, response_model=Note, responses=_CREATE_ERRORS, tags=ASYNC)
async def create_note(note: NoteIn, request: Request) -> Response:
    store = notes_resources(request).async_store
    return _json(await run_async(store, service.create_note, note.title, note.description), 201)


@router.get("/", response_model=list[Note], responses=_READ_ERRORS, tags=ASYNC)
async def list_notes(request: Request, limit: Limit = 20, after: After = 0) -> Response:
    store = notes_resources(request).async_store
    return _page(request, await run_async(store, service.list_notes, after, limit), limit)


@router.post("/sync/", status_code=201, response_model=Note, responses=_CREATE_ERRORS, tags=SYNC)
def create_note_sync(note: NoteIn, request: Request) -> Response:
    store = notes_resources(request).sync_store
    return _json(service.create_note(store, note.title, note.description), 201)


@router.get("/sync/", response_model=list[Note], responses=_READ_ERRORS, tags=SYNC)
def list_notes_sync(request: Request, limit: Limit = 20, after: After = 0) -> Response:
    store = notes_resources(request).sync_store
    return _page(request, service.list_notes(store, after, limit), limit)


@router.get("/sync/{note_id}/", response_model=Note, responses=_ID_ERRORS, tags=SYNC)
def get_note_sync(note_id: NoteId, request: Request) -> Response:
    store = notes_resources(request).sync_store
    return _found(service.get_note(store, note_id), note_id)


@router.put("/sync/{note_id}/", response_model=Note, responses=_REPLACE_ERRORS, tags=SYNC)
def update_note_sync(note_id: NoteId, note: NoteIn, request: Request) -> Response:
    store, args = notes_resources(request).sync_store, (note_id, note.title, note.description)
    return _found(service.update_note(store, *args), note_id)


@router.delete("/sync/{note_id}/", response_model=Note, responses=_ID_ERRORS, tags=SYNC)
def delete_note_sync(note_id: NoteId, request: Request) -> Response:
    store = notes_resources(request).sync_store
    return _found(service.delete_note(store, note_id), note_id)


@router.get("/{note_id:note_id}/", response_model=Note, responses=_ID_ERRORS, tags=ASYNC)
async def get_note(note_id: NoteId, request: Request) -> Response:
    store = notes_resources(request).async_store
    return _found(await run_async(store, service.get_note, note_id), note_id)


@router.put("/{note_id:note_id}/", response_model=Note, responses=_REPLACE_ERRORS, tags=ASYNC)
async def update_note(note_id: NoteId, note: NoteIn, request: Request) -> Response:
    store, args = notes_resources(request).async_store, (note_id, note.title, note.description)
    return _found(await run_async(store, service.update_note, *args), note_id)


@router.delete("/{note_id:note_id}/", response_model=Note, responses=_ID_ERRORS, tags=ASYNC)
async def delete_note(note_id: NoteId, request: Request) -> Response:
    store = notes_resources(request).async_store
    return _found(await run_async(store, service.delete_note, note_id), note_id)
