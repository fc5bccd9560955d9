"""Content-type checks shared by endpoints that read their body themselves.

`async def` on purpose: FastAPI runs a plain `def` dependency in the threadpool, which would
cost every request a thread round trip for a string comparison.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from perflab.app.errors import UnsupportedMediaType


def media_type(request: Request) -> str:
    """The request's media type, lower-cased, without parameters ("" when none is declared)."""
    return request.headers.get("content-type", "").split(";", 1)[0].strip().lower()


def declared_length(request: Request) -> int | None:
    """The body's Content-Length, unless it is chunked (Transfer-Encoding overrides it) or
    unreadable: what admission counts a body as before reading it."""
    headers = request.headers
    if "transfer-encoding" in headers:
        return None
    try:
        return int(headers["content-length"])
    except (KeyError, ValueError):
        return None


def check_json(request: Request) -> None:
    """415 for a body declared as anything but JSON (FastAPI would read a text/plain body as
    a string and answer 422). A body with no content type at all is read as JSON, as curl and
    ab users expect; FastAPI's own strict default would refuse it with 422."""
    declared = media_type(request)
    if declared and declared != "application/json" and not declared.endswith("+json"):
        raise UnsupportedMediaType(f"expected application/json, got {declared}")


async def require_json(request: Request) -> None:
    """`check_json` as a dependency."""
    check_json(request)


async def require_multipart(request: Request) -> None:
    """415 for anything but multipart/form-data."""
    declared = media_type(request)
    if declared != "multipart/form-data":
        raise UnsupportedMediaType(f"expected multipart/form-data, got {declared or 'none'}")


JsonOnly = Annotated[None, Depends(require_json)]
MultipartOnly = Annotated[None, Depends(require_multipart)]
