"""The request-body limit, and the bounded drain that lets every client read an early answer.

A server that answers before it has read the request body (a 413 from Content-Length, a 415, a
503 that refuses a big body unread) and then closes the connection leaves the unread bytes in
its kernel buffer, and the kernel answers them with a RST. Clients that send the whole body
before they read (http.client, urllib, requests) then get ConnectionResetError instead of the
answer; only clients that read while they send (curl, aiohttp) see it. The cure is nginx's
lingering close: keep reading and discarding the rest of the body, for a bounded time and size,
and only then close.

Where the drain sits: uvicorn (httptools and h11) returns http.disconnect from receive() once
the response is complete, and closes at that moment when the answer says `Connection: close`;
so the drain reads through receive() after the answer has started and before its last message.
By default the answer's last byte waits for the drain: granian (hyper) stops reading the request
once an answer's declared Content-Length has been written, and then closes with the rest unread.
With `answer_before_drain=True` (uvicorn) the whole answer goes out first, as nginx does, so a
client that reads while it sends (curl) sees it at once and stops sending; a last empty message
ends the response after the drain.

Not drained: a client that sent `Expect: 100-continue` and was never told to continue (the app
never called receive(), so the server sent no `100 Continue`): it has not sent the body and
should not, so the answer goes out at once. Nor a body declared larger than the drain could
read: reading part of it would not save that client from the RST.
"""

from __future__ import annotations

import anyio
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from perflab.app.error_handlers import error_response
from perflab.app.errors import PayloadTooLarge

# Defaults, documented in the README. Bounded so that a refused client cannot hold a worker's
# attention for long: at most this many bytes past the limit, for at most this long.
DRAIN_EXTRA_BYTES = 32 * 1024 * 1024
DRAIN_TIMEOUT_S = 10.0
# A declared body up to this size passes unwrapped: the notes endpoints' fast path (a wrapped
# receive/send costs ~4 us a request, measured). An early answer to one is still read: such a
# body travels with the headers, uvicorn takes 64 KiB from the socket before it pauses reading,
# and it discards what the app left unread itself when the answer keeps the connection alive.
SMALL_BODY_BYTES = 64 * 1024


class BodyLimitMiddleware:
    """Refuses bodies over `max_body_bytes` with 413: from Content-Length before the handler
    runs, or the moment a streamed body passes the limit, never after buffering all of it.
    Any answer that starts before the body was read (a 413, 415, 503, ...) says
    `Connection: close` and is followed by a bounded drain of the rest of the body.

    - `drain_extra_bytes` (32 MiB): the drain stops once the body read in all passes
      `max_body_bytes` by this much; a body declared larger than that is not drained at all.
    - `drain_timeout_s` (10 s): the drain's time limit, however fast the bytes come.
    - `small_body_bytes` (64 KiB): declared bodies up to this size pass unwrapped.
    - `answer_before_drain` (False): send all of the answer before the drain, not all but its
      last byte; only for servers that read the request until the ASGI response ends (uvicorn).

    Starlette's own RequestBodyLimitMiddleware answers plain text and still runs a handler that
    does not read the body; this one answers our JSON error at once.

    Usage: `app.add_middleware(BodyLimitMiddleware, max_body_bytes=64 * 1024 * 1024)`
    """

    def __init__(
        self,
        app: ASGIApp,
        max_body_bytes: int,
        *,
        drain_extra_bytes: int = DRAIN_EXTRA_BYTES,
        drain_timeout_s: float = DRAIN_TIMEOUT_S,
        small_body_bytes: int = SMALL_BODY_BYTES,
        answer_before_drain: bool = False,
    ) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        # Body bytes read in all (by the app, then by the drain) before the drain gives up.
        self.drain_max_bytes = max_body_bytes + drain_extra_bytes
        self.drain_timeout_s = drain_timeout_s
        self.unwrapped_bytes = min(small_body_bytes, max_body_bytes)
        self.answer_before_drain = answer_before_drain

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared, chunked, expects_continue = _body_framing(scope)
        if not chunked:
            # HTTP/1.x without Content-Length or Transfer-Encoding has no body (HTTP/2 may).
            # Not with Transfer-Encoding as well: some parsers (h11) then read the chunks,
            # whatever the declared length.
            no_body = declared is None and scope.get("http_version") in ("1.1", "1.0")
            if no_body or (declared is not None and declared <= self.unwrapped_bytes):
                # The server's parser delivers exactly Content-Length bytes, so the common case
                # pays for no wrapped receive/send.
                await self.app(scope, receive, send)
                return
        exchange = _Exchange(self, scope, receive, send, declared, expects_continue)
        if declared is not None and declared > self.max_body_bytes:
            await exchange.refuse()
            return
        try:
            await self.app(scope, exchange.receive, exchange.send)
        except PayloadTooLarge:
            if exchange.started or exchange.replaced:
                raise
            await exchange.refuse()

    def message(self) -> str:
        return f"request body is larger than {self.max_body_bytes} bytes"


class _Exchange:
    """One request on the guarded path: counts its body as the app reads it, and drains what
    is left of it when the answer ends first."""

    def __init__(
        self,
        limit: BodyLimitMiddleware,
        scope: Scope,
        receive: Receive,
        send: Send,
        declared: int | None,
        expects_continue: bool,
    ) -> None:
        self.limit = limit
        self.scope = scope
        self._receive = receive
        self._send = send
        self.declared = declared
        self.expects_continue = expects_continue
        self.received = 0
        # HTTP/2 and 3 refuse the rest of a body by resetting the stream, not the connection,
        # and forbid `Connection` headers: there, nothing to drain.
        self.body_done = scope.get("http_version") not in ("1.1", "1.0")
        self.asked = False  # the app called receive(): the server has sent any 100 Continue
        self.exceeded = False
        self.started = False
        self.replaced = False

    async def receive(self) -> Message:
        self.asked = True
        message = await self._receive()
        self._count(message)
        if self.received > self.limit.max_body_bytes:
            self.exceeded = True
            raise PayloadTooLarge(self.limit.message())
        return message

    async def send(self, message: Message) -> None:
        if self.replaced:
            return
        if message["type"] == "http.response.start":
            # FastAPI turns an error raised while reading the body into its own 400; once the
            # limit was passed the only true answer is 413, so it replaces the app's.
            if self.exceeded:
                self.replaced = True
                await self.refuse()
                return
            self.started = True
        await self._forward(message)

    async def refuse(self) -> None:
        response = error_response(413, PayloadTooLarge.code, self.limit.message())
        await response(self.scope, self._receive, self._forward)

    async def _forward(self, message: Message) -> None:
        if self.body_done:
            await self._send(message)
        elif message["type"] == "http.response.start":
            # The rest of the body is still on the wire: this connection ends with this answer.
            headers = [(k, v) for k, v in message.get("headers", []) if k != b"connection"]
            headers.append((b"connection", b"close"))
            await self._send({**message, "headers": headers})
        elif message["type"] == "http.response.body" and not message.get("more_body", False):
            if not self._worth_draining():
                await self._send(message)
                return
            body = message.get("body", b"")
            held = 0 if self.limit.answer_before_drain else min(len(body), 1)
            await self._send({**message, "body": body[: len(body) - held], "more_body": True})
            await self._drain()
            await self._send({**message, "body": body[len(body) - held :], "more_body": False})
        else:
            await self._send(message)

    def _worth_draining(self) -> bool:
        if self.expects_continue and not self.asked:
            return False
        return self.declared is None or self.declared <= self.limit.drain_max_bytes

    async def _drain(self) -> None:
        with anyio.move_on_after(self.limit.drain_timeout_s):
            while not self.body_done and self.received <= self.limit.drain_max_bytes:
                self._count(await self._receive())

    def _count(self, message: Message) -> None:
        if message["type"] == "http.request":
            self.received += len(message.get("body", b""))
            if not message.get("more_body", False):
                self.body_done = True
        else:
            self.body_done = True  # http.disconnect: nothing more will arrive


def _body_framing(scope: Scope) -> tuple[int | None, bool, bool]:
    """(the declared Content-Length if any and readable, whether Transfer-Encoding is set,
    whether the client waits for `100 Continue` before it sends the body)."""
    declared: int | None = None
    chunked = False
    expects_continue = False
    for name, value in scope["headers"]:
        if name == b"content-length":
            try:
                declared = int(value)
            except ValueError:
                declared = None
        elif name == b"transfer-encoding":
            chunked = True
        elif name == b"expect":
            expects_continue = value.lower() == b"100-continue"
    return declared, chunked, expects_continue
