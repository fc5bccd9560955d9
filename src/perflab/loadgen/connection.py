"""A lean HTTP/1.1 client connection: `asyncio.Protocol` + httptools, one request at a time.

Why not aiohttp: it costs ~70-78 us of CPU per request on this machine, about 4x wrk. This
protocol writes pre-serialised bytes, lets httptools (llhttp, C) parse the answer and does
no per-request allocation beyond the latency it appends: no futures, no tasks, no header
dicts. The engine that owns the connection is called back when the answer is complete
(`Engine.connection_free`), and sends the next request from inside that callback.

httptools calls back into Python only for the callbacks a protocol defines, so there are two
classes: `HttpConnection` asks for nothing but the end of each answer (its body length is
the bytes after the headers, chunk framing included), and `ExactHttpConnection` also follows
headers and body, for requests whose answers are checked byte for byte, and for HEAD.

Usage (by an engine)::

    conn = HttpConnection(engine)
    await loop.create_connection(lambda: conn, "127.0.0.1", 8000)
    conn.send(prepared, origin_ns=time.perf_counter_ns())
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from time import perf_counter_ns
from typing import Any, Protocol, cast

import httptools

from perflab.loadgen.capture import Capture
from perflab.loadgen.expectation import (
    CONNECTION_RESET,
    PROTOCOL_ERROR,
    TIMEOUT,
    Expectation,
)
from perflab.loadgen.recorder import LiveRecorder
from perflab.loadgen.template import WireTemplate

RETRY_AFTER_MARK = b"\r\nretry-after:"  # in an answer's head, lower-cased: a shed 503


class ConnectionEvents(Protocol):
    """What a connection needs from its engine: to be told when it is free, closed, or must
    resend. A Protocol (not the `Engine` class) so that this module imports no engine.

    Usage: ``HttpConnection(engine)`` with any object that has these three methods.
    """

    def connection_free(self, conn: HttpConnection) -> None:
        """An answer completed or failed on `conn`; send the next request (or not)."""

    def connection_closed(self, conn: HttpConnection) -> None:
        """`conn` closed while no request was in flight."""

    def resend(self, conn: HttpConnection, request: Prepared, origin_ns: int) -> None:
        """`conn` was closed by the server as `request` was written: send it on a new one."""


@dataclass(eq=False)
class Prepared:
    """A request ready to write, with the recorder its outcomes go to. Usage: see `Engine`."""

    name: str
    wire: bytes
    expect: Expectation
    recorder: LiveRecorder
    captures: tuple[Capture, ...] = ()  # what a flow step takes from its answer
    on_start: bool = False  # a step of on_start: what it captures lasts for the user's life
    record_captures: bool = False  # keep what it captures in the recording
    keep_body: bool = field(init=False)
    any_2xx: bool = field(init=False)  # nothing to check beyond "a 2xx status"
    is_head: bool = field(init=False)
    needs_exact: bool = field(init=False)  # needs ExactHttpConnection
    header_captures: bool = field(init=False)  # needs HeaderCapturingHttpConnection
    # Set by the flow plan: the captured names this step uses, and its bytes with holes.
    needs: frozenset[str] = field(init=False, default=frozenset())
    template: WireTemplate | None = field(init=False, default=None)

    def __post_init__(self) -> None:
        expect = self.expect
        self.keep_body = expect.needs_body or any(c.source == "json" for c in self.captures)
        self.any_2xx = not (expect.status or expect.needs_body or expect.same_length)
        self.is_head = self.wire.startswith(b"HEAD ")
        self.needs_exact = expect.needs_body or expect.same_length or self.is_head
        self.needs_exact = self.needs_exact or bool(self.captures)
        self.header_captures = any(c.source == "header" for c in self.captures)

    def rendered(self, values: dict[str, Any]) -> Prepared:
        """This step with `values` in its bytes (it has a template). Usage: see `FlowUser`."""
        assert self.template is not None
        clone = object.__new__(Prepared)  # a copy without __post_init__: only the bytes differ
        clone.__dict__.update(self.__dict__)
        clone.wire = self.template.render(values)
        return clone


class HttpConnection(asyncio.Protocol):
    """One TCP connection sending one request at a time. Usage: see the module docstring."""

    def __init__(self, engine: ConnectionEvents) -> None:
        self.engine = engine
        # The engine's slot (a user) this connection belongs to; `Any` because each engine
        # keeps its own kind there and reads it on the hot path without a cast or check.
        self.owner: Any = None
        self.captured: dict[str, Any] | None = None  # a flow step's values (capturing classes)
        self.served = 0  # answers completed on this connection
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpResponseParser(self)
        self.closed = False
        self.request: Prepared | None = None
        self.origin_ns = 0  # latency counts from here (the scheduled time in the open model)
        self.sent_ns = 0  # the timeout counts from here
        self._bytes_in = 0
        self._body_length = 0
        self._body_parts: list[bytes] | None = None
        self._headers_done = False
        self._head: bytes | None = None

    exact = False  # whether on_body counts the body (see ExactHttpConnection)

    # -- asyncio.Protocol -------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not asyncio.Transport subclasses, but have its methods.
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        if self.request is None:
            return  # bytes after an answer we already gave up on (a timeout): ignore
        self._bytes_in += len(data)
        if self._head is None:
            self._head = data
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError:
            self._give_up(PROTOCOL_ERROR)

    def eof_received(self) -> bool | None:
        return None  # close our side too; connection_lost follows

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        request = self.request
        if request is None:
            self.engine.connection_closed(self)
        elif exc is None and self._headers_seen() and self._ends_at_close():
            self.on_message_complete()  # a body without length or chunks ends when the peer closes
        elif self.served and self._bytes_in == 0:
            # A reused connection closed before any byte of the answer: the server closed
            # it while idle (keep-alive timeout) as we wrote. Like browsers and urllib3,
            # send once more on a fresh connection instead of blaming the server.
            self.request = None
            self.engine.resend(self, request, self.origin_ns)
        else:
            self._fail(CONNECTION_RESET)
            self.engine.connection_free(self)

    def _headers_seen(self) -> bool:
        return self._head is not None and b"\r\n\r\n" in self._head

    def _ends_at_close(self) -> bool:
        head = (self._head or b"").split(b"\r\n\r\n", 1)[0].lower()
        return b"\r\ncontent-length:" not in head and b"\r\ntransfer-encoding:" not in head

    # -- httptools callbacks ----------------------------------------------------------------

    def on_message_complete(self) -> None:
        now_ns = perf_counter_ns()
        request = self.request
        if request is None:
            return
        self.request = None
        self.served += 1
        latency_ns = now_ns - self.origin_ns
        bytes_in, body_length = self._bytes_in, self._body_length
        head, body_parts = self._head, self._body_parts
        if not self.parser.should_keep_alive():
            self.close()
        # Hand the connection back first: the engine writes the next request now, so the
        # server works on it while we check and record this answer (a closed loop is a
        # ping-pong, and every microsecond before that write is throughput lost). The
        # parser keeps this answer's status until the next answer's bytes arrive.
        self.engine.connection_free(self)
        status = self.parser.get_status_code()
        if not self.exact:  # the body is the bytes after the head
            end = head.find(b"\r\n\r\n") if head is not None else -1
            body_length = bytes_in - end - 4 if end >= 0 else 0
        recorder = request.recorder
        first_length = recorder.first_body_length
        if first_length < 0:
            first_length = recorder.note_first_length(body_length)
        failure: str | None = None
        if not (request.any_2xx and 200 <= status < 300):  # the common case needs no call
            retry_after = status == 503 and head is not None and RETRY_AFTER_MARK in head.lower()
            body = b"".join(body_parts) if body_parts is not None else None
            failure = request.expect.check(
                status, body, retry_after=retry_after, first_length=first_length,
                body_length=body_length,
            )  # fmt: skip
        recorder.record(latency_ns, failure, bytes_in, len(request.wire), body_length)

    # -- used by the engine -----------------------------------------------------------------

    def send(self, request: Prepared, origin_ns: int = 0) -> None:
        """Write one request; latency counts from `origin_ns` (0: now). Usage: ``conn.send(p)``"""
        now_ns = perf_counter_ns()
        assert self.transport is not None
        # Write before the bookkeeping: nothing can call back before we return to the loop.
        self.transport.write(request.wire)
        self.request = request
        self.origin_ns = origin_ns or now_ns
        self.sent_ns = now_ns
        self._bytes_in = 0
        self._body_length = 0
        self._headers_done = False
        self._head = None
        self._body_parts = [] if request.keep_body else None

    def check_timeout(self, now_ns: int, timeout_ns: int) -> bool:
        """Give up on an answer older than the timeout. Usage: ``conn.check_timeout(now, t)``"""
        if self.request is None or now_ns - self.sent_ns < timeout_ns:
            return False
        self._give_up(TIMEOUT)
        return True

    def close(self) -> None:
        """Close the connection (no request may be in flight). Usage: ``conn.close()``"""
        self.closed = True
        if self.transport is not None:
            self.transport.close()

    def _fail(self, failure: str) -> None:
        request = self.request
        assert request is not None
        self.request = None
        request.recorder.record(
            perf_counter_ns() - self.origin_ns, failure, self._bytes_in, len(request.wire), 0
        )

    def _give_up(self, failure: str) -> None:
        """Record a failure and drop the connection: its byte stream is no longer in step."""
        self._fail(failure)
        self.closed = True
        if self.transport is not None:
            self.transport.abort()
        self.engine.connection_free(self)


class ExactHttpConnection(HttpConnection):
    """Also follows headers and body: exact body lengths, kept bodies, HEAD answers.

    Usage: the engine uses it when a request needs it (see `Prepared.needs_exact`).
    """

    exact = True

    def _headers_seen(self) -> bool:
        return self._headers_done

    def on_headers_complete(self) -> None:
        self._headers_done = True
        request = self.request
        if request is not None and request.is_head:
            # An answer to HEAD has no body whatever its Content-Length says, and httptools
            # cannot be told so: complete it here and parse the next answer afresh.
            parser = self.parser
            self.on_message_complete()
            if self.parser is parser:
                self.parser = httptools.HttpResponseParser(self)

    def on_body(self, body: bytes) -> None:
        self._body_length += len(body)
        if self._body_parts is not None:
            self._body_parts.append(body)
