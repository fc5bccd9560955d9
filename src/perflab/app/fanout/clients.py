"""Opens the downstream clients one server worker uses, for its whole life."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import aiohttp

from perflab.app.fanout.service import (
    AsyncDownstream,
    HttpDownstream,
    HttpDownstreamSync,
    SleepDownstream,
    SleepDownstreamSync,
    SyncDownstream,
)
from perflab.app.health import HealthChecks
from perflab.config import DownstreamKind, Settings


@dataclass
class FanoutClients:
    async_downstream: AsyncDownstream
    sync_downstream: SyncDownstream


@asynccontextmanager
async def open_fanout_clients(
    settings: Settings, health: HealthChecks
) -> AsyncIterator[FanoutClients]:
    """Yield the clients `settings.downstream` asks for; register a health check for `http`."""
    if settings.downstream is DownstreamKind.SLEEP:
        yield FanoutClients(
            SleepDownstream(settings.downstream_latency_s, settings.downstream_connections),
            SleepDownstreamSync(settings.downstream_latency_s),
        )
        return

    base_url = str(settings.downstream_url)
    connector = aiohttp.TCPConnector(limit=settings.downstream_connections)
    sync_client = HttpDownstreamSync(
        base_url, settings.downstream_timeout_s, max_connections=settings.threads
    )
    async with aiohttp.ClientSession(connector=connector) as session:

        async def downstream_ready() -> str:
            health_url = base_url.rstrip("/") + "/healthz"
            async with session.get(health_url) as response:
                response.raise_for_status()
            return base_url

        health.add("downstream", downstream_ready)
        try:
            yield FanoutClients(
                HttpDownstream(session, base_url, settings.downstream_timeout_s), sync_client
            )
        finally:
            sync_client.close()
