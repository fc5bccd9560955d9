"""Seed 003's two endpoints, side by side: the same contract, parsed in two places.

`/ping` declares the body as a pydantic model, so FastAPI reads and parses all of it in the
event loop before the handler runs (the seed's variant, kept to measure it). `/pong` streams
the body and parses it in one of two lanes, so small work never waits behind large work:

- small (Content-Length <= `PERFLAB_INLINE_PARSE_BYTES`, or a chunked body that ends by then):
  read into memory and parsed right here in the event loop. A parse this small costs less
  than a round trip to a worker process, and never queues behind 25 MB bodies.
- large: admitted by its size before a byte is read (`offloader.admission`: 503 with
  Retry-After when its bytes would pass the memory budget or its wait the time budget), then
  streamed (to /dev/shm under the process offloader, so only a path travels) and parsed
  through the offloader, the ticket carrying the body's bytes until the parse ends.
  A chunked body declares no size: once it passes the small lane's size it is admitted for
  the most it may become, `PERFLAB_MAX_BODY_BYTES` (the limit cuts it there), so that what is
  admitted is never exceeded; a client that wants to be admitted by its real size sends
  Content-Length.
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter, Request, Response
from starlette.requests import ClientDisconnect

from perflab.app.content_types import JsonOnly, declared_length
from perflab.app.deps import ResourcesDep
from perflab.app.error_handlers import error_responses
from perflab.app.errors import ClientDisconnected
from perflab.app.middleware import STARTED_KEY
from perflab.app.offload import Offloader
from perflab.app.payload.schemas import PingAnswer, PingBody
from perflab.app.payload.service import summarize
from perflab.app.payload.spool import MemoryBody, read_up_to, received_body
from perflab.config import OffloadKind, Settings

router = APIRouter(tags=["large bodies (seed 003)"])
_ERRORS = error_responses(400, 413, 415, 422, 503)


def _answer(request: Request, name: str, count: int, maxval: int | None) -> Response:
    started: float = request.scope.get(STARTED_KEY, time.perf_counter())
    answer = {
        "name": name,
        "count": count,
        "maxval": maxval,
        "elapsed_server": round(time.perf_counter() - started, 6),
    }
    text = json.dumps(answer, ensure_ascii=False, separators=(",", ":"))
    try:
        content = text.encode()
    except UnicodeEncodeError:
        # A name with a lone surrogate (JSON allows "\ud800"; UTF-8 cannot hold it): echo it
        # escaped, as it came. pydantic's serializer would fail here with a 500.
        content = json.dumps(answer, separators=(",", ":")).encode()
    return Response(content, media_type="application/json")


@router.post(
    "/ping",
    summary="Large JSON body parsed by FastAPI/pydantic in the event loop",
    response_model=PingAnswer,
    responses=_ERRORS,
)
async def ping(body: PingBody, request: Request, _: JsonOnly) -> Response:
    """The seed's variant: every other request on this worker waits while this body parses."""
    return _answer(request, body.name, len(body.data), max(body.data.values(), default=None))


_BODY_DOC: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {"application/json": {"schema": PingBody.model_json_schema()}},
    }
}


@router.post(
    "/pong",
    summary="Large JSON body streamed; small ones parsed in the loop, large ones offloaded",
    response_model=PingAnswer,
    # Large bodies are parsed by the offloader: a parse past PERFLAB_JOB_TIMEOUT_S is a 504.
    responses=error_responses(400, 413, 415, 422, 500, 503, 504),
    openapi_extra=_BODY_DOC,
)
async def pong(request: Request, resources: ResourcesDep, _: JsonOnly) -> Response:
    """Same contract as `/ping`; see the module docstring for the two lanes."""
    settings = resources.settings
    declared = declared_length(request)
    chunks = request.stream()
    try:
        if declared is not None and declared <= settings.inline_parse_bytes:
            head, _complete = await read_up_to(chunks, declared)
            summary = summarize(MemoryBody(head))
        else:
            summary = await _large_lane(chunks, declared, resources.offloader, settings)
    except ClientDisconnect:
        raise ClientDisconnected("the client left before sending the whole body") from None
    return _answer(request, **summary)


async def _large_lane(
    chunks: AsyncIterator[bytes], declared: int | None, offloader: Offloader, settings: Settings
) -> dict[str, Any]:
    head = bytearray()
    if declared is None:
        head, complete = await read_up_to(chunks, settings.inline_parse_bytes)
        if complete:
            return summarize(MemoryBody(head))  # a small chunked body: the small lane after all
    cost_bytes = declared if declared is not None else settings.max_body_bytes
    with offloader.admission.admit(cost_bytes=cost_bytes) as ticket:
        spool = offloader.kind is OffloadKind.PROCESS
        async with received_body(chunks, spool=spool, head=head) as body:
            return await offloader.run(summarize, body, ticket=ticket)
