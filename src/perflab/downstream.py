"""`perflab downstream`: a slow HTTP service for the fanout study, that counts its own overlap.

`GET /work?value=N` waits `latency_s` and answers `{"value": 2N+1}`; `GET /stats` says how many
calls it has served and the most it ever served at once, which is how tests and benchmarks
see whether a client really overlapped its calls; `POST /stats/reset` starts a new count.

Sized to carry every call a client sends at once, as a slow downstream should (seed 004's 500
users make 1,500 at once; two perflab workers may hold 2 x 2,048 pooled connections):

- a call is a sleeping coroutine on one event loop (uvloop): no thread or slot per call;
- every pooled connection is a file descriptor: `perflab downstream` raises its open-files
  soft limit to the hard limit first (perflab.limits);
- the accept queue is as long as the kernel allows (somaxconn), not aiohttp's 128: a client
  pool opening a thousand connections at once would otherwise see SYNs dropped and retried
  after 1 s, 3 s, ...: seconds added to calls that should take `latency_s`;
- idle keep-alive connections are kept 75 s (aiohttp's default), longer than clients keep
  theirs (aiohttp's pool: 15 s), so a client never reuses a connection the server is closing.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import uvloop
from aiohttp import web

from perflab.app.fanout.service import step
from perflab.limits import listen_backlog, open_files_limit


@dataclass
class CallStats:
    in_flight: int = 0
    max_in_flight: int = 0
    total: int = 0


def create_downstream_app(latency_s: float) -> web.Application:
    """The downstream service as an aiohttp application (usable in tests without a subprocess)."""
    stats = CallStats()

    async def work(request: web.Request) -> web.Response:
        try:
            value = int(request.query["value"])
        except (KeyError, ValueError):
            return web.json_response({"error": "value must be an integer"}, status=400)
        stats.in_flight += 1
        stats.total += 1
        stats.max_in_flight = max(stats.max_in_flight, stats.in_flight)
        try:
            await asyncio.sleep(latency_s)
        finally:
            stats.in_flight -= 1
        return web.json_response({"value": step(value)})

    async def get_stats(request: web.Request) -> web.Response:
        return web.json_response(vars(stats))

    async def reset_stats(request: web.Request) -> web.Response:
        stats.max_in_flight = stats.in_flight
        stats.total = 0
        return web.json_response(vars(stats))

    async def healthz(request: web.Request) -> web.Response:
        # The limits in force say how many connections this process can take.
        answer = {"status": "ok", "latency_s": latency_s, "open_files_limit": open_files_limit()}
        return web.json_response(answer)

    app = web.Application()
    app.add_routes(
        [
            web.get("/work", work),
            web.get("/stats", get_stats),
            web.post("/stats/reset", reset_stats),
            web.get("/healthz", healthz),
        ]
    )
    return app


def run_downstream(host: str, port: int, latency_s: float) -> None:
    """Serve the downstream until interrupted.

    Usage: run_downstream("127.0.0.1", 8001, latency_s=5.0)
    """
    web.run_app(
        create_downstream_app(latency_s),
        host=host,
        port=port,
        backlog=listen_backlog(),
        keepalive_timeout=75.0,
        print=None,
        access_log=None,
        loop=uvloop.new_event_loop(),
    )
