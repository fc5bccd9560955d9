"""Parts of wrk_comparison.py: the trivial servers and the aiohttp client it runs as separate
processes, and the meter of other work on the cores it measures.

    python benchmarks/micro/_wrk_parts.py server raw 18080      # uvloop + httptools, ~no work
    python benchmarks/micro/_wrk_parts.py server fastapi 18080  # FastAPI on uvicorn, 1 worker
    python benchmarks/micro/_wrk_parts.py aiohttp URL REQUESTS CONNECTIONS
        -> prints "requests <n> seconds <s>"

Both servers answer every path with a small JSON body and honour keep-alive for HTTP/1.1 and
for HTTP/1.0 clients that ask for it (ab -k), so every generator can reuse its connections.
The aiohttp client is the engine perflab would have used, and the reason it does not.
"""

from __future__ import annotations

import asyncio
import os
import sys
import time
from typing import Any

BODY = b'{"ok":true}'
_TICK_S = 1.0 / os.sysconf("SC_CLK_TCK")


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
        except Exception:  # a malformed request: drop the connection, as a server would
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


def serve(kind: str, port: int) -> None:
    """Run a trivial server until killed. Usage: ``serve("raw", 18080)``"""
    if kind == "raw":
        import uvloop

        uvloop.run(_serve_raw(port))
        return
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


async def aiohttp_client(url: str, requests: int, connections: int) -> None:
    """C workers share one ClientSession limited to C connections and read every body."""
    import aiohttp

    remaining = requests
    connector = aiohttp.TCPConnector(limit=connections)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def worker() -> None:
            nonlocal remaining
            while remaining > 0:
                remaining -= 1
                async with session.get(url) as response:
                    await response.read()

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(connections)))
        print(f"requests {requests} seconds {time.perf_counter() - started:.4f}")


# --- how much *other* work ran on the measured cores ----------------------------------------


def core_busy_s(cores: tuple[str, ...]) -> float:
    """Busy seconds (everything but idle and iowait, steal included) summed over `cores`."""
    total = 0.0
    with open("/proc/stat", encoding="ascii") as stat:
        for line in stat:
            name, *fields = line.split()
            if name.startswith("cpu") and name[3:] in cores:
                ticks = [int(f) for f in fields]
                total += (sum(ticks) - ticks[3] - ticks[4]) * _TICK_S
    return total


def process_cpu_s(pid: int) -> float:
    """User + system seconds of one process so far."""
    with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) * _TICK_S


class NoiseMeter:
    """Foreign CPU seconds on `cores` between construction and `foreign_cpu_s`: the box is
    shared, and another engineer's run on the server's or the generator's core changes every
    figure. Usage: ``meter = NoiseMeter(pid, ("0", "1")); ...; meter.foreign_cpu_s(tool_s)``"""

    def __init__(self, server_pid: int, cores: tuple[str, ...]) -> None:
        self.server_pid = server_pid
        self.cores = cores
        self.busy_start_s = core_busy_s(cores)
        self.server_start_s = process_cpu_s(server_pid)

    def foreign_cpu_s(self, tool_cpu_s: float) -> float:
        busy_s = core_busy_s(self.cores) - self.busy_start_s
        server_s = process_cpu_s(self.server_pid) - self.server_start_s
        return max(0.0, busy_s - server_s - tool_cpu_s)


if __name__ == "__main__":
    if sys.argv[1] == "server":
        serve(sys.argv[2], int(sys.argv[3]))
    else:
        import uvloop

        uvloop.run(aiohttp_client(sys.argv[2], int(sys.argv[3]), int(sys.argv[4])))
