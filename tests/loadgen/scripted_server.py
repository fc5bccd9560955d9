"""A real HTTP/1.1 server on 127.0.0.1 whose answers the tests script by path.

It runs its own event loop in a thread. Paths:

- ``/ok`` and anything unknown: 200 ``hello``;  ``/json``: ``{"success": true, "n": 3}``
- ``/status/<code>``: that status;  ``/shed``: 503 with Retry-After
- ``/close``: closes the connection without answering;  ``/rst``: resets it (SO_LINGER 0)
- ``/close-reused``: answers a connection's first request, closes it at the second (as a
  server whose keep-alive timeout fires just as the client writes)
- ``/garbage``: answers bytes that are not HTTP;  ``/eof-body``: a body ended by closing
- ``/chunked``: ``hello`` in two chunks
- ``/sleep/<ms>``: answers after ms (other connections go on)
- ``/block-once/<n>/<ms>``: the n-th request to it blocks the whole server for ms
- ``/alternate``: bodies alternate ``aaaa`` / ``bbbbbb`` (changing length and content)
"""

from __future__ import annotations

import asyncio
import collections
import socket
import struct
import threading
import time
from typing import Any, Self

import httptools

REASONS = {200: "OK", 201: "Created", 404: "Not Found", 500: "Internal Server Error", 503: "Busy"}


def response(status: int, body: bytes, extra: str = "", close: bool = False) -> bytes:
    head = f"HTTP/1.1 {status} {REASONS.get(status, 'X')}\r\nContent-Length: {len(body)}\r\n"
    head += "Content-Type: text/plain\r\n" + extra + ("Connection: close\r\n" if close else "")
    return (head + "\r\n").encode() + body


class Protocol(asyncio.Protocol):
    """Feeds requests to httptools; `on_message_complete` answers (see `answer`)."""

    def __init__(self, server: Any) -> None:
        self.server = server
        self.parser = httptools.HttpRequestParser(self)
        self.url = b""
        self.served = 0
        self.transport: Any = None

    def connection_made(self, transport: Any) -> None:
        self.transport = transport
        self.server.connections += 1

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError:
            self.transport.close()

    def on_url(self, url: bytes) -> None:
        self.url = url

    def on_message_complete(self) -> None:
        path = self.url.decode()
        self.server.counts[path] += 1
        keep = self.parser.should_keep_alive()
        head = self.parser.get_method() == b"HEAD"
        asyncio.get_running_loop().create_task(self.answer(path, keep, head))

    async def answer(self, path: str, keep: bool, head: bool = False) -> None:
        parts = path.strip("/").split("/")
        transport = self.transport
        self.served += 1
        if parts[0] == "close" or (parts[0] == "close-reused" and self.served > 1):
            transport.close()
            return
        if parts[0] == "rst":
            sock = transport.get_extra_info("socket")
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            transport.abort()
            return
        if parts[0] == "chunked":
            transport.write(
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                b"3\r\nhel\r\n2\r\nlo\r\n0\r\n\r\n"
            )
            return
        if parts[0] == "eof-body":  # HTTP/1.0 style: no length, the close ends the body
            transport.write(b"HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nhello")
            transport.close()
            return
        if parts[0] == "garbage":
            transport.write(b"this is not http at all\r\n\r\n")
            return
        status, body, extra = 200, b"hello", ""
        if parts[0] == "json":
            body = b'{"success": true, "n": 3}'
        elif parts[0] == "status":
            status = int(parts[1])
        elif parts[0] == "shed":
            status, extra = 503, "Retry-After: 1\r\n"
        elif parts[0] == "sleep":
            await asyncio.sleep(int(parts[1]) / 1000)
        elif parts[0] == "block-once":
            if self.server.counts[path] == int(parts[1]):
                time.sleep(int(parts[2]) / 1000)  # noqa: ASYNC251  # stalls the whole server, on purpose
        elif parts[0] == "alternate":
            body = b"aaaa" if self.server.counts[path] % 2 else b"bbbbbb"
        if not transport.is_closing():
            answer = response(status, body, extra, close=not keep)
            transport.write(answer[: -len(body)] if head else answer)  # HEAD: headers only
            if not keep:
                transport.close()


class ThreadedServer:
    """A real server on 127.0.0.1 running its own event loop in a thread; subclasses give the
    protocol. Start with `start()`, stop with `stop()`."""

    def __init__(self) -> None:
        self.port = 0
        self.connections = 0  # connections accepted
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._server: asyncio.Server | None = None

    def protocol(self) -> asyncio.Protocol:
        raise NotImplementedError

    def url(self, path: str = "") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def start(self) -> Self:
        self._thread.start()
        future = asyncio.run_coroutine_threadsafe(self._start(), self._loop)
        future.result(timeout=5)
        return self

    async def _start(self) -> None:
        self._server = await self._loop.create_server(self.protocol, "127.0.0.1", 0, backlog=512)
        self.port = self._server.sockets[0].getsockname()[1]

    def stop(self) -> None:
        async def close() -> None:
            assert self._server is not None
            self._server.close()
            for task in asyncio.all_tasks():
                if task is not asyncio.current_task():
                    task.cancel()

        asyncio.run_coroutine_threadsafe(close(), self._loop).result(timeout=5)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=5)
        self._loop.close()


class ScriptedServer(ThreadedServer):
    """Start with `start()`, stop with `stop()`; `counts[path]` is requests received."""

    def __init__(self) -> None:
        super().__init__()
        self.counts: collections.Counter[str] = collections.Counter()

    def protocol(self) -> asyncio.Protocol:
        return Protocol(self)


def unused_port() -> int:
    """A port on 127.0.0.1 with nothing listening (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
