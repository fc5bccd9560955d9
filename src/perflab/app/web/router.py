"""`GET /`: the try-it page, and the two files it loads, served from package data.

A fixed table of files rather than a static-files mount: nothing else under `static/` is served,
no path from the request reaches the file system, and `include_router` carries plain routes
(it does not carry mounts).
"""

from __future__ import annotations

from functools import cache
from importlib import resources

from fastapi import APIRouter
from fastapi.responses import HTMLResponse, Response

from perflab.app.errors import NotFound

router = APIRouter(include_in_schema=False)

_ASSETS = {
    "app.js": "text/javascript; charset=utf-8",
    "style.css": "text/css; charset=utf-8",
}
# The page loads nothing from elsewhere and runs no inline script; say so to the browser.
_SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; object-src 'none'",
    "X-Content-Type-Options": "nosniff",
}


@cache
def _read(name: str) -> bytes:
    # Read once per process, on first request: the files ship inside the package.
    return resources.files("perflab.app.web").joinpath("static", name).read_bytes()


@router.get("/", response_class=HTMLResponse)
async def index() -> Response:
    return HTMLResponse(_read("index.html"), headers=_SECURITY_HEADERS)


@router.get("/web/{name}")
async def asset(name: str) -> Response:
    media_type = _ASSETS.get(name)
    if media_type is None:
        raise NotFound(f"no such file: /web/{name}")
    return Response(_read(name), media_type=media_type, headers=_SECURITY_HEADERS)
