"""Pure-ASGI middleware: request ids + metrics + last-resort 500, and the request-body limit.

Pure ASGI rather than Starlette's BaseHTTPMiddleware: it costs a few microseconds per request
instead of a task and a memory stream, and it sees the body as it streams in.
"""

from __future__ import annotations

import logging
import os
import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from perflab.app import admission, observe
from perflab.app.error_handlers import error_response
from perflab.app.errors import PayloadTooLarge

log = logging.getLogger("perflab.app")

STARTED_KEY = "perflab.started_s"


class ObserveMiddleware:
    """Gives each request an id, counts and times it by route template, and turns an unexpected
    exception into a logged 500 JSON answer instead of a dropped connection."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming_id, budget_s = _incoming_headers(scope)
        request_id = incoming_id or os.urandom(8).hex()
        token = observe.set_request_id(request_id)
        budget_token = admission.set_request_budget(budget_s)
        started = time.perf_counter()
        # Handlers report time spent "in the server" from here, body reading included.
        scope[STARTED_KEY] = started
        status = 500
        response_started = False

        async def send_with_id(message: Message) -> None:
            nonlocal status, response_started
            if message["type"] == "http.response.start":
                status = message["status"]
                response_started = True
                headers = list(message.get("headers", []))
                headers.append((b"x-request-id", request_id.encode()))
                message = {**message, "headers": headers}
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except Exception:
            log.exception("unexpected error in %s %s", scope["method"], scope["path"])
            if not response_started:
                status = 500
                response = error_response(500, "internal_error", "unexpected server error")
                await response(scope, receive, send_with_id)
        finally:
            route = scope.get("route")
            route_label = getattr(route, "path", None) or "unmatched"
            observe.count_request(
                scope["method"], route_label, status, time.perf_counter() - started
            )
            observe.reset_request_id(token)
            admission.reset_request_budget(budget_token)


_BUDGET_HEADER = admission.BUDGET_HEADER.encode()


def _incoming_headers(scope: Scope) -> tuple[str | None, float | None]:
    """(the client's request id if usable, the queue budget it asked for if any)."""
    request_id: str | None = None
    budget_s: float | None = None
    for name, value in scope["headers"]:
        if name == b"x-request-id":
            # Bounded and printable, since it lands in logs and headers.
            text = value.decode("latin-1")[:64]
            request_id = text if text.isprintable() and text else None
        elif name == _BUDGET_HEADER:
            budget_s = admission.parse_budget_header(value)
    return request_id, budget_s


class BodyLimitMiddleware:
    """Refuses bodies over `max_body_bytes` with 413: from Content-Length before the handler
    runs, or the moment a streamed body passes the limit, never after buffering all of it.

    Starlette's own RequestBodyLimitMiddleware answers plain text and still runs a handler that
    does not read the body; this one answers our JSON error at once.
    """

    def __init__(self, app: ASGIApp, max_body_bytes: int) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared, chunked = _body_framing(scope)
        if declared is not None and declared > self.max_body_bytes:
            await self._refuse(scope, receive, send)
            return
        if declared is not None and not chunked:
            # The server's HTTP parser delivers exactly Content-Length bytes (anything after
            # them is the next request), so the common case pays for no wrapped receive/send.
            # Not with Transfer-Encoding as well: some parsers (h11) then read the chunks,
            # whatever the declared length.
            await self.app(scope, receive, send)
            return

        received = 0
        exceeded = False
        response_started = False
        replaced = False

        async def limited_receive() -> Message:
            nonlocal received, exceeded
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_body_bytes:
                    exceeded = True
                    raise PayloadTooLarge(self._message())
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal response_started, replaced
            if replaced:
                return
            if message["type"] == "http.response.start":
                # FastAPI turns an error raised while reading the body into its own 400; once
                # the limit was passed the only true answer is 413, so it replaces the app's.
                if exceeded:
                    replaced = True
                    await self._refuse(scope, receive, send)
                    return
                response_started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, guarded_send)
        except PayloadTooLarge:
            if response_started or replaced:
                raise
            await self._refuse(scope, receive, send)

    def _message(self) -> str:
        return f"request body is larger than {self.max_body_bytes} bytes"

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = error_response(413, PayloadTooLarge.code, self._message())
        # Close the connection: the rest of the body is still on the wire.
        response.headers["connection"] = "close"
        await response(scope, receive, send)


def _body_framing(scope: Scope) -> tuple[int | None, bool]:
    """(the declared Content-Length if any and readable, whether Transfer-Encoding is set)."""
    declared: int | None = None
    chunked = False
    for name, value in scope["headers"]:
        if name == b"content-length":
            try:
                declared = int(value)
            except ValueError:
                declared = None
        elif name == b"transfer-encoding":
            chunked = True
    return declared, chunked
