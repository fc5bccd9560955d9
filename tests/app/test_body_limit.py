"""The body limit and the bounded drain, in process: the order of the messages and the bounds.

What clients make of it on real servers is in test_body_limit_clients.py.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import anyio
import pytest
from fastapi import FastAPI
from pydantic import BaseModel
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from perflab.app.body_limit import BodyLimitMiddleware
from perflab.app.error_handlers import error_response
from perflab.app.main import create_app
from perflab.config import Settings

LIMIT = 1000
CHUNKED = [("transfer-encoding", "chunked")]


def assert_error(body: Any, code: str) -> None:
    assert body["error"]["code"] == code
    assert body["error"]["message"]


@dataclass
class Transcript:
    # ("start", status, chunks read by then) or ("body", bytes, more_body, chunks read by then)
    events: list[tuple[Any, ...]] = field(default_factory=list)
    headers: dict[str, str] = field(default_factory=dict)
    chunks_read: int = 0
    receive_calls: int = 0
    read_when_answered: int = -1  # chunks read when the answer started
    unwrapped: bool = False  # the app got the server's own receive

    @property
    def status(self) -> int:
        return int(self.events[0][1])

    @property
    def ended(self) -> bool:
        return self.events[-1][0] == "body" and self.events[-1][2] is False

    def json(self) -> Any:
        return json.loads(b"".join(e[1] for e in self.events if e[0] == "body"))


async def drive(
    app: ASGIApp,
    limit: int | None,
    chunks: Iterable[bytes],
    headers: list[tuple[str, str]],
    *,
    then: str = "end",  # after the chunks: "end" the body, "stall" forever, or "leave"
    http_version: str = "1.1",
    path: str = "/",
    **options: Any,
) -> Transcript:
    """One request through BodyLimitMiddleware(app, limit, **options) (or `app` alone when
    limit is None), its body arriving as `chunks`; returns what the server would have seen."""
    t = Transcript()
    source = iter(chunks)
    pending = next(source, None)

    async def receive() -> Message:
        nonlocal pending
        t.receive_calls += 1
        if pending is None:
            if then == "stall":
                await anyio.sleep_forever()
            if then == "leave":
                return {"type": "http.disconnect"}
            return {"type": "http.request", "body": b"", "more_body": False}
        chunk, pending = pending, next(source, None)
        t.chunks_read += 1
        return {
            "type": "http.request",
            "body": chunk,
            "more_body": pending is not None or then != "end",
        }

    async def send(message: Message) -> None:
        if message["type"] == "http.response.start":
            t.read_when_answered = t.chunks_read
            t.headers = {k.decode(): v.decode() for k, v in message.get("headers", [])}
            t.events.append(("start", message["status"], t.chunks_read))
        else:
            body, more = message.get("body", b""), message.get("more_body", False)
            t.events.append(("body", body, more, t.chunks_read))

    async def probe(scope: Scope, inner_receive: Receive, inner_send: Send) -> None:
        t.unwrapped = inner_receive is receive
        await app(scope, inner_receive, inner_send)

    outer = app if limit is None else BodyLimitMiddleware(probe, limit, **options)
    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": http_version,
        "method": "POST", "scheme": "http", "path": path, "raw_path": path.encode(),
        "root_path": "", "query_string": b"", "client": ("127.0.0.1", 1), "server": None,
        "headers": [(k.encode(), v.encode()) for k, v in headers], "state": {},
    }  # fmt: skip
    with anyio.fail_after(10):  # a hang is a failure here, not a slow test
        await outer(scope, receive, send)
    return t


async def echo_size(scope: Scope, receive: Receive, send: Send) -> None:
    """Reads the whole body, answers its size."""
    size, more = 0, True
    while more:
        message = await receive()
        size += len(message.get("body", b""))
        more = message.get("more_body", False)
    await JSONResponse({"size": size})(scope, receive, send)


async def refuse_unread(scope: Scope, receive: Receive, send: Send) -> None:
    """Answers 415 without reading the body, as a content-type check does."""
    await error_response(415, "unsupported_media_type", "no")(scope, receive, send)


@pytest.mark.anyio
async def test_declared_oversize_is_answered_before_reading_then_drained() -> None:
    t = await drive(echo_size, LIMIT, [b"x" * 100] * 20, [("content-length", "2000")])
    assert t.status == 413
    assert_error(t.json(), "payload_too_large")
    assert t.headers["connection"] == "close"
    # All of the answer but its last byte went out before a byte was read; the drain then read
    # the rest, and only then did the last byte end the response (and, on a server, the
    # connection): a server may stop reading once an answer's Content-Length is all written.
    (_, _, started), (_, _, _, before), (_, tail, _, after) = t.events
    assert (started, before, after) == (0, 0, 20)
    assert len(tail) == 1
    assert t.ended


@pytest.mark.anyio
async def test_answer_before_drain_sends_all_of_it_first() -> None:
    # nginx's order, for servers that read until the ASGI response ends (uvicorn): a client
    # that reads while it sends has the whole answer at once.
    t = await drive(
        echo_size, LIMIT, [b"x" * 100] * 20, [("content-length", "2000")],
        answer_before_drain=True,
    )  # fmt: skip
    assert_error(t.json(), "payload_too_large")
    assert [e[3] for e in t.events[1:]] == [0, 20]
    assert t.events[-1][1] == b""


@pytest.mark.anyio
async def test_streamed_oversize_is_refused_as_it_passes_then_drained() -> None:
    t = await drive(echo_size, LIMIT, [b"x" * 100] * 20, CHUNKED)
    assert t.status == 413
    assert (t.read_when_answered, t.chunks_read) == (LIMIT // 100 + 1, 20)


@pytest.mark.anyio
async def test_an_app_answer_before_the_body_is_drained_too() -> None:
    t = await drive(refuse_unread, LIMIT, [b"x" * 100] * 5, CHUNKED)
    assert (t.status, t.headers["connection"]) == (415, "close")
    assert (t.read_when_answered, t.chunks_read) == (0, 5)


@pytest.mark.anyio
async def test_the_drain_stops_at_its_byte_bound() -> None:
    endless = itertools.repeat(b"x" * 100)
    t = await drive(refuse_unread, LIMIT, endless, CHUNKED, drain_extra_bytes=5000)
    assert t.ended
    assert LIMIT + 5000 < t.chunks_read * 100 <= LIMIT + 5000 + 100


@pytest.mark.anyio
async def test_the_drain_stops_at_its_time_bound() -> None:
    # Three chunks, then a client that sends nothing more and never leaves.
    t = await drive(refuse_unread, LIMIT, [b"x"] * 3, CHUNKED, then="stall", drain_timeout_s=0.05)
    assert (t.status, t.chunks_read) == (415, 3)
    assert t.ended


@pytest.mark.anyio
async def test_a_client_leaving_ends_the_drain() -> None:
    t = await drive(refuse_unread, LIMIT, [b"x"] * 3, CHUNKED, then="leave")
    assert (t.status, t.chunks_read) == (415, 3)
    assert t.ended


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("app", "framing", "status"),
    [(echo_size, [("content-length", "2000")], 413), (refuse_unread, CHUNKED, 415)],
    ids=["413-from-length", "415-from-app"],
)
async def test_an_unanswered_expect_continue_is_not_drained(
    app: ASGIApp, framing: list[tuple[str, str]], status: int
) -> None:
    # Nobody called receive(), so the server sent no `100 Continue` and no body will come.
    t = await drive(app, LIMIT, [b"x" * 100] * 20, [*framing, ("expect", "100-continue")])
    assert (t.status, t.receive_calls, t.headers["connection"]) == (status, 0, "close")
    assert t.ended


@pytest.mark.anyio
async def test_a_body_declared_beyond_the_drain_bound_is_not_drained() -> None:
    headers = [("content-length", str(LIMIT + 5001))]
    t = await drive(echo_size, LIMIT, [b"x" * 100] * 70, headers, drain_extra_bytes=5000)
    assert (t.status, t.receive_calls) == (413, 0)


@pytest.mark.anyio
@pytest.mark.parametrize("headers", [[("content-length", "10")], []], ids=["small", "no-body"])
async def test_the_fast_path_is_unwrapped(headers: list[tuple[str, str]]) -> None:
    t = await drive(echo_size, LIMIT, [b"x" * 10], headers)
    assert (t.status, t.unwrapped) == (200, True)
    assert "connection" not in t.headers


@pytest.mark.anyio
async def test_http2_without_content_length_is_still_counted() -> None:
    t = await drive(echo_size, LIMIT, [b"x" * 100] * 20, [], http_version="2")
    assert (t.status, t.read_when_answered) == (413, LIMIT // 100 + 1)


@pytest.mark.anyio
async def test_http2_refusals_neither_close_nor_drain() -> None:
    headers = [("content-length", "2000")]
    t = await drive(echo_size, LIMIT, [b"x" * 100] * 20, headers, http_version="2")
    assert (t.status, t.receive_calls) == (413, 0)
    assert "connection" not in t.headers
    assert [e[0] for e in t.events] == ["start", "body"]


@pytest.mark.anyio
async def test_a_body_read_in_full_is_answered_as_usual() -> None:
    t = await drive(echo_size, LIMIT, [b"x" * 100] * 10, CHUNKED)
    assert (t.status, t.json()) == (200, {"size": 1000})
    assert "connection" not in t.headers
    assert [e[0] for e in t.events] == ["start", "body"]


class Item(BaseModel):
    name: str


@pytest.fixture
def service() -> FastAPI:
    app = create_app(Settings(max_body_bytes=LIMIT))

    @app.post("/test/items")
    async def items(item: Item) -> Item:
        return item

    return app


@pytest.mark.anyio
@pytest.mark.parametrize(
    "framing", [CHUNKED, [("content-length", "5"), *CHUNKED]], ids=["chunked", "length-and-chunked"]
)
async def test_the_service_answers_413_not_fastapis_400(
    service: FastAPI, framing: list[tuple[str, str]]
) -> None:
    # FastAPI turns an error raised while it reads a pydantic body into a 400; and h11 reads
    # the chunks of a request that declares both, whatever its Content-Length says.
    headers = [("content-type", "application/json"), *framing]
    t = await drive(service, None, [b"x" * 100] * 20, headers, path="/test/items")
    assert (t.status, t.read_when_answered) == (413, LIMIT // 100 + 1)
    assert_error(t.json(), "payload_too_large")


@pytest.mark.anyio
async def test_the_service_serves_a_chunked_body_within_the_limit(service: FastAPI) -> None:
    headers = [("content-type", "application/json"), *CHUNKED]
    t = await drive(service, None, [b'{"name": ', b'"a"}'], headers, path="/test/items")
    assert (t.status, t.json()) == (200, {"name": "a"})
    assert "connection" not in t.headers
