"""Seed 003's two endpoints, side by side: the same contract, parsed in two places.

`/ping` declares the body as a pydantic model, so FastAPI reads and parses all of it in the
event loop before the handler runs (the seed's variant, kept to measure it). `/pong` streams the
body (never more than the limit; 413 as soon as it passes) and hands it to the offloader, so
with `process` the loop only moves bytes.
"""

from __future__ import annotations

import time
from typing import Any

from fastapi import APIRouter, Request
from starlette.requests import ClientDisconnect

from perflab.app.content_types import JsonOnly
from perflab.app.deps import OffloaderDep
from perflab.app.error_handlers import error_responses
from perflab.app.errors import BadRequest, ClientDisconnected
from perflab.app.middleware import STARTED_KEY
from perflab.app.payload.schemas import PingAnswer, PingBody
from perflab.app.payload.service import summarize
from perflab.app.payload.spool import received_body
from perflab.config import OffloadKind

router = APIRouter(tags=["large bodies (seed 003)"])
_ERRORS = error_responses(400, 413, 415, 422, 503)


def _elapsed_s(request: Request) -> float:
    started: float = request.scope.get(STARTED_KEY, time.perf_counter())
    return round(time.perf_counter() - started, 6)


@router.post(
    "/ping",
    summary="Large JSON body parsed by FastAPI/pydantic in the event loop",
    response_model=PingAnswer,
    responses=_ERRORS,
)
async def ping(body: PingBody, request: Request, _: JsonOnly) -> PingAnswer:
    """The seed's variant: every other request on this worker waits while this body parses."""
    return PingAnswer(
        name=body.name,
        count=len(body.data),
        maxval=max(body.data.values(), default=None),
        elapsed_server=_elapsed_s(request),
    )


_BODY_DOC: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {"application/json": {"schema": PingBody.model_json_schema()}},
    }
}


@router.post(
    "/pong",
    summary="Large JSON body streamed and parsed through the offloader",
    response_model=PingAnswer,
    responses=_ERRORS,
    openapi_extra=_BODY_DOC,
)
async def pong(request: Request, offloader: OffloaderDep, _: JsonOnly) -> PingAnswer:
    """Same contract as `/ping`; the parse runs wherever the offloader runs kernels."""
    try:
        spool = offloader.kind is OffloadKind.PROCESS
        async with received_body(request.stream(), spool=spool) as body:
            if body.size == 0:
                raise BadRequest("the request body is empty")
            summary = await offloader.run(summarize, body)
    except ClientDisconnect:
        raise ClientDisconnected("the client left before sending the whole body") from None
    return PingAnswer(**summary, elapsed_server=_elapsed_s(request))
