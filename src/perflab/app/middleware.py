"""Pure-ASGI middleware: request ids + metrics + last-resort 500 (the body limit: body_limit.py).

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
