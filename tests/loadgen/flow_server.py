"""A real HTTP/1.1 server on 127.0.0.1 with logins and owned items, for flow tests.

It runs its own event loop in a thread. Every token belongs to one login; an item belongs to
the token that created it, and any other token that touches it gets 403 (counted in
`foreign`), so a test can prove that users never send each other's ids. Paths:

- ``POST /login`` ``{"user", "password"}``: 200 ``{"token": ...}`` (a new token per login);
  password ``"wrong"``: 401
- ``POST /login-without-token``: 200 ``{"user": ...}`` (no token: a capture that fails)
- ``POST /items`` ``{"title"}`` with ``Authorization: Bearer TOKEN``: 201 ``{"id", "title"}``
  with ``Location: /items/ID`` and ``X-Item: ID``; a missing or unknown token: 401
- ``GET /items/ID``: 200 ``{"id", "title", "owner"}``; ``DELETE /items/ID``: 204;
  another token's item: 403, no such item: 404
"""

from __future__ import annotations

import asyncio
import collections
import itertools
from typing import Any

import orjson

from tests.loadgen.scripted_server import Protocol, ThreadedServer

REASONS = {200: "OK", 201: "Created", 204: "No Content", 401: "Unauthorized", 403: "Forbidden"}


def _answer(status: int, document: Any = None, extra: str = "") -> bytes:
    body = b"" if document is None else orjson.dumps(document)
    head = f"HTTP/1.1 {status} {REASONS.get(status, 'Not Found')}\r\n"
    head += f"Content-Length: {len(body)}\r\nContent-Type: application/json\r\n{extra}\r\n"
    return head.encode() + body


class _Protocol(Protocol):
    def __init__(self, server: FlowServer) -> None:
        super().__init__(server)
        self.flow_server = server
        self._reset()

    def _reset(self) -> None:
        self.url = b""
        self.headers: dict[bytes, bytes] = {}
        self.body: list[bytes] = []

    def on_url(self, url: bytes) -> None:
        self.url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers[name.lower()] = value

    def on_body(self, body: bytes) -> None:
        self.body.append(body)

    def on_message_complete(self) -> None:
        method = self.parser.get_method().decode()
        token = self.headers.get(b"authorization", b"").removeprefix(b"Bearer ").decode()
        answer = self.flow_server.handle(method, self.url.decode(), token, b"".join(self.body))
        self._reset()
        self.transport.write(answer)
        if not self.parser.should_keep_alive():
            self.transport.close()


class FlowServer(ThreadedServer):
    """Start with `start()`, stop with `stop()`; `counts[(method, route)]` is requests received."""

    def __init__(self) -> None:
        super().__init__()
        self.counts: collections.Counter[tuple[str, str]] = collections.Counter()
        self.tokens: dict[str, str] = {}  # token -> user
        self.items: dict[int, tuple[str, str]] = {}  # id -> (token, title)
        self.foreign = 0  # requests that touched another token's item
        self._ids = itertools.count(1)

    def protocol(self) -> asyncio.Protocol:
        return _Protocol(self)

    def handle(self, method: str, url: str, token: str, body: bytes) -> bytes:
        parts = url.strip("/").split("/")
        route = "/" + parts[0] + ("/ID" if len(parts) > 1 else "")
        self.counts[(method, route)] += 1
        if route == "/login":
            login = orjson.loads(body)
            if login.get("password") == "wrong":
                return _answer(401, {"error": "bad password"})
            new_token = f"t{next(self._ids)}-{login['user']}"
            self.tokens[new_token] = login["user"]
            return _answer(200, {"token": new_token})
        if route == "/login-without-token":
            return _answer(200, {"user": orjson.loads(body)["user"]})
        if token not in self.tokens:
            return _answer(401, {"error": "no token"})
        if (method, route) == ("POST", "/items"):
            item = next(self._ids)
            self.items[item] = (token, orjson.loads(body)["title"])
            location = f"Location: /items/{item}\r\nX-Item: {item}\r\n"
            return _answer(201, {"id": item, "title": self.items[item][1]}, location)
        if len(parts) < 2 or not parts[1].isdigit():
            return _answer(404, {"error": "no such route"})
        item = int(parts[1])
        if item not in self.items:
            return _answer(404, {"error": "no such item"})
        owner, title = self.items[item]
        if owner != token:
            self.foreign += 1
            return _answer(403, {"error": "not yours"})
        if method == "DELETE":
            del self.items[item]
            return _answer(204)
        return _answer(200, {"id": item, "title": title, "owner": self.tokens[owner]})
