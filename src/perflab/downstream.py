"""`perflab downstream`: a slow HTTP service for the fanout study, that counts its own overlap.

`GET /work?value=N` waits `latency_s` and answers `{"value": 2N+1}`; `GET /stats` says how many
calls it has served and the most it ever served at once, which is how tests and benchmarks
see whether a client really overlapped its calls; `POST /stats/reset` starts a new count.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from aiohttp import web

from perflab.app.fanout.service import step


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
        return web.json_response({"status": "ok", "latency_s": latency_s})

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
    """Serve the downstream until interrupted."""
    web.run_app(create_downstream_app(latency_s), host=host, port=port, print=None, access_log=None)
