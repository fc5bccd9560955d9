"""Validate a large-body document and summarise it without ever building its dict (no FastAPI).

`summarize` walks parse events (`perflab.app.payload.json_events`): yajl's, as fast here as
orjson or msgspec on a 26 MB body (about 0.5 s) but in constant memory, where materialising
the 1.25 M-key dict costs 6-11x the body (msgspec 146 MB, orjson 218 MB, pydantic 295 MB
measured on a 26 MB body); or, for the rare body on which yajl and `json.loads` disagree,
the exact walk (about 7x slower, holding the decoded text: about 2x the body).

It answers with the status `/ping` answers for every body (FastAPI's `json.loads`, then the
pydantic model), and the same answer but for repeated keys (`perflab.app.payload.entries`):

- a syntax error anywhere is 400, even after a shape error (`json.loads` runs first), so the
  whole body is always read;
- validation errors come in pydantic's order (name, then data in key order), a repeated field
  or key judged by its last value;
- nesting deeper than `MAX_DEPTH` (900) is 400. `/ping` fails on `json.loads`'s recursion
  limit instead: Python's 1000 frames less those FastAPI has on the stack, 952 levels with
  uvicorn here. 900 leaves that stack room to grow; between the two the endpoints differ.
"""

from __future__ import annotations

from typing import Any

import ijson

from perflab.app.errors import BadRequest
from perflab.app.payload.document import MAX_DEPTH, Document, walk
from perflab.app.payload.entries import COUNT, Pass
from perflab.app.payload.json_events import FastEvents, decode, exact_events
from perflab.app.payload.spool import BodySource, MemoryBody

__all__ = ["MAX_DEPTH", "summarize", "summarize_bytes"]


def _fast(source: BodySource, how: Pass) -> Document | None:
    """The document from yajl's events, or None when only the exact walk can decide."""
    with source.open() as stream:
        fast = FastEvents(stream)
        try:
            document = walk(fast.events, how)
        except (ijson.JSONError, ValueError, StopIteration):
            return None  # yajl refused it (UnicodeDecodeError is a ValueError): json decides
    return document if fast.trusted else None


def _exact(source: BodySource, how: Pass) -> Document:
    with source.open() as stream:
        raw = stream.read()
    try:
        return walk(exact_events(decode(raw)), how)
    except StopIteration:
        raise BadRequest("the body is not valid JSON: it ends early") from None
    except ValueError as exc:  # JSONDecodeError, UnicodeDecodeError, the int digit limit
        text = str(exc).strip()
        reason = text.splitlines()[0][:200] if text else type(exc).__name__
        raise BadRequest(f"the body is not valid JSON: {reason}") from None


def summarize(source: BodySource) -> dict[str, Any]:
    """Validate `{"name": str, "data": {str: int}}` and return name, entry count and max value.

    Raises BadRequest (400) for an empty, malformed or too deeply nested body, Unprocessable
    (422, with the location of the first bad field, as pydantic reports it) for a body of the
    wrong shape. Usage: `summarize(MemoryBody(bytearray(b'{"name": "x", "data": {}}')))`
    """
    if source.size == 0:
        raise BadRequest("the request body is empty")
    document = _fast(source, COUNT)
    exact = document is None

    def read_again(how: Pass) -> Document:
        again = _exact(source, how) if exact else _fast(source, how)
        assert again is not None  # the same bytes read the same way are trusted again
        return again

    if document is None:
        document = _exact(source, COUNT)
    entries = document.entries
    if entries is not None and entries.bad_key is not None:
        # Whether the dict would keep a bad value depends on repeats: find them, then judge.
        hashed = read_again(Pass(keep_hashes=True)).entries
        assert hashed is not None
        if hashed.repeated_hashes:
            judged = read_again(Pass(repeated_hashes=hashed.repeated_hashes)).entries
            assert judged is not None
            entries.bad_key = judged.bad_key
    return document.answer()


def summarize_bytes(body: bytes) -> dict[str, Any]:
    """`summarize` for a body already in memory (tests, benchmarks)."""
    return summarize(MemoryBody(bytearray(body)))
