"""The one place that maps errors to HTTP answers: perflab's tree, FastAPI's and Starlette's.

Every error answer is `{"error": {"code", "message", "request_id"?, "details"?}}` with the status
the tree in `perflab.app.errors` gives; unexpected exceptions are answered by
`perflab.app.middleware.ObserveMiddleware` (500, logged with the request id).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import BaseRoute, Match, Route

from perflab.app.errors import PerflabError, ServerError
from perflab.app.observe import current_request_id

log = logging.getLogger("perflab.errors")


class ErrorDetail(BaseModel):
    code: str
    message: str
    request_id: str | None = None
    details: list[dict[str, Any]] | None = None


class ErrorBody(BaseModel):
    """The JSON body of every error answer."""

    error: ErrorDetail


_DESCRIPTIONS = {
    400: "The request cannot be understood (malformed body, undecodable image).",
    404: "No such resource.",
    413: "The body is larger than PERFLAB_MAX_BODY_BYTES, or an image declares more pixels "
    "than PERFLAB_MAX_IMAGE_PIXELS.",
    415: "The body has a content type this endpoint does not take.",
    422: "The body or parameters do not match the schema.",
    500: "A kernel failed: a bug on our side, or a job that every worker it was handed to "
    "died running (the log has the request id).",
    502: "A downstream service failed.",
    503: "Overloaded or a backing service is down; retry after Retry-After seconds.",
    504: "A downstream service did not answer in time.",
}


# Every 503 says when to come back (perflab.app.errors.Unavailable.headers): whole seconds, >= 1.
RETRY_AFTER_HEADER: dict[str, Any] = {
    "Retry-After": {
        "description": "Seconds to wait before retrying (the expected wait, at least 1).",
        "required": True,
        "schema": {"type": "string", "pattern": "^[1-9][0-9]*$"},
    }
}


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses=` for the given statuses, each documented with the error body.

    Usage: `@router.get("/x", responses=error_responses(422, 503))`
    """
    responses: dict[int | str, dict[str, Any]] = {}
    for status in statuses:
        responses[status] = {"model": ErrorBody, "description": _DESCRIPTIONS[status]}
        if status == 503:
            responses[status]["headers"] = RETRY_AFTER_HEADER
    return responses


_HTTP_CODES = {
    400: "bad_request",
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "validation_error",
}


def error_response(
    status: int,
    code: str,
    message: str,
    *,
    details: Sequence[dict[str, Any]] | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    """The one way an error becomes an HTTP answer."""
    body = error_body(code, message, details=details)
    return JSONResponse(body, status_code=status, headers=headers)


def error_body(
    code: str, message: str, *, details: Sequence[dict[str, Any]] | None = None
) -> dict[str, Any]:
    """`{"error": {...}}` for an answer an endpoint builds itself (e.g. with extra fields)."""
    detail = ErrorDetail(
        code=code,
        message=message,
        request_id=current_request_id(),
        details=list(details) if details else None,
    )
    return ErrorBody(error=detail).model_dump(exclude_none=True)


def _validation_details(errors: Sequence[Any]) -> list[dict[str, Any]]:
    # The raw pydantic errors can echo the whole (possibly huge) input back: keep loc/msg/type.
    return [
        {"loc": list(e.get("loc", ())), "msg": str(e.get("msg", "")), "type": e.get("type", "")}
        for e in errors
    ]


async def _on_perflab_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, PerflabError)
    if isinstance(exc, ServerError):
        log.warning("%s (%s): %s", exc.code, exc.status, exc.message)
    return error_response(
        exc.status, exc.code, exc.message, details=exc.details, headers=exc.headers()
    )


async def _on_validation_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    errors = exc.errors()
    details = _validation_details(errors)
    if any(e.get("type") == "json_invalid" for e in errors):
        return error_response(400, "bad_request", "the body is not valid JSON", details=details)
    if any(e.get("type") == "missing" and tuple(e.get("loc", ())) == ("body",) for e in errors):
        return error_response(400, "bad_request", "the request body is empty", details=details)
    first = details[0] if details else {"loc": [], "msg": "invalid request"}
    where = ".".join(str(part) for part in first["loc"])
    return error_response(422, "validation_error", f"{where}: {first['msg']}", details=details)


def _plain_routes(routes: Iterable[BaseRoute]) -> Iterator[Route]:
    # FastAPI 0.165 keeps each included router as one entry (its `original_router` holds the
    # routes, with their full paths: this app includes routers without a further prefix).
    for route in routes:
        if isinstance(route, Route):
            yield route
        elif (included := getattr(route, "original_router", None)) is not None:
            yield from _plain_routes(included.routes)


def _allowed_methods(request: Request) -> str | None:
    """Every method the request's path takes, across all the routes declared for that path.

    Starlette answers a 405 with the methods of the first route whose path matched, so
    `OPTIONS /notes/` said `Allow: POST` although `GET /notes/` is served too.
    """
    routes = list(_plain_routes(request.app.router.routes))
    template = next((r.path for r in routes if r.matches(request.scope)[0] != Match.NONE), None)
    if template is None:
        return None
    methods = {m for r in routes if r.path == template and r.methods for m in r.methods}
    return ", ".join(sorted(methods))


async def _on_http_exception(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    code = _HTTP_CODES.get(exc.status_code, "http_error")
    headers = dict(exc.headers) if exc.headers else None
    if exc.status_code == 405 and (allowed := _allowed_methods(request)):
        headers = {**(headers or {}), "Allow": allowed}
    return error_response(exc.status_code, code, str(exc.detail), headers=headers)


def install_error_handlers(app: FastAPI) -> None:
    """Map every error a client can cause to its JSON answer (unexpected ones: see observe)."""
    app.add_exception_handler(PerflabError, _on_perflab_error)
    app.add_exception_handler(RequestValidationError, _on_validation_error)
    app.add_exception_handler(StarletteHTTPException, _on_http_exception)
