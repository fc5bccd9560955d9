"""Trivial HTTP servers for benchmarks/loadgen.py (run pinned to one core with taskset).

    python benchmarks/_loadgen_server.py raw 18080       # uvloop + httptools, ~no work per request
    python benchmarks/_loadgen_server.py fastapi 18080   # FastAPI on uvicorn, one worker

Both answer every path with a small JSON body and honour keep-alive for HTTP/1.1 and for
HTTP/1.0 clients that ask for it (ab -k), so every generator can reuse its connections.
"""

from __future__ import annotations

import asyncio
import sys
from typing import Any

BODY = b'{"ok":true}'


def _response(http10_keepalive: bool, close: bool) -> bytes:
    extra = "Connection: keep-alive\r\n" if http10_keepalive else ""
    extra += "Connection: close\r\n" if close else ""
    return (
        f"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {len(BODY)}\r\n"
        f"{extra}\r\n"
    ).encode() + BODY


KEEP, KEEP10, CLOSE = _response(False, False), _response(True, False), _response(False, True)


class _Raw(asyncio.Protocol):
    def __init__(self) -> None:
        import httptools

        self.parser = httptools.HttpRequestParser(self)
        self.transport: Any = None

    def connection_made(self, transport: Any) -> None:
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except Exception:
            self.transport.close()

    def on_message_complete(self) -> None:
        if not self.parser.should_keep_alive():
            self.transport.write(CLOSE)
            self.transport.close()
        elif self.parser.get_http_version() == "1.0":
            self.transport.write(KEEP10)
        else:
            self.transport.write(KEEP)


async def _serve_raw(port: int) -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(_Raw, "127.0.0.1", port, backlog=4096)
    async with server:
        await server.serve_forever()


def main() -> None:
    kind, port = sys.argv[1], int(sys.argv[2])
    if kind == "raw":
        import uvloop

        uvloop.run(_serve_raw(port))
    else:
        import uvicorn
        from fastapi import FastAPI

        app = FastAPI()

        @app.get("/")
        async def root() -> dict[str, bool]:
            return {"ok": True}

        uvicorn.run(
            app, host="127.0.0.1", port=port, loop="uvloop", http="httptools",
            access_log=False, log_level="warning",
        )  # fmt: skip


if __name__ == "__main__":
    main()
