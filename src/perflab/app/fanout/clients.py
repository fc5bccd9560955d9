"""Opens the downstream clients one server worker uses, for its whole life."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import aiohttp

from perflab.app.admission import Admission
from perflab.app.fanout.service import (
    AsyncDownstream,
    HttpDownstream,
    HttpDownstreamSync,
    PooledDownstream,
    SleepDownstream,
    SleepDownstreamSync,
    SyncDownstream,
)
from perflab.app.health import HealthChecks
from perflab.config import DownstreamKind, Settings
from perflab.limits import open_files_limit

log = logging.getLogger("perflab.fanout")

# File descriptors a worker needs beside its downstream pool: its client connections (500
# users on one worker at worst), databases, pipes, the log. Only to warn early, never enforced.
_OTHER_FILES = 1024


@dataclass
class FanoutClients:
    async_downstream: AsyncDownstream
    sync_downstream: SyncDownstream
    # The bounded resources among them, by name, for /healthz and /metrics.
    admissions: dict[str, Admission] = field(default_factory=dict)


@asynccontextmanager
async def open_fanout_clients(
    settings: Settings, health: HealthChecks
) -> AsyncIterator[FanoutClients]:
    """Yield the clients `settings.downstream` asks for; register a health check for `http`."""
    if settings.downstream is DownstreamKind.SLEEP:
        # Simulated calls hold no connection: nothing to bound (see service.py).
        yield FanoutClients(
            SleepDownstream(settings.downstream_latency_s),
            SleepDownstreamSync(settings.downstream_latency_s),
        )
        return

    pool_size = settings.downstream_connections
    _warn_if_files_short(pool_size)
    base_url = str(settings.downstream_url)
    admission = Admission(
        "downstream", pool_size, settings.queue_budget_s, settings.queue_memory_bytes()
    )
    # One connection more than the calls admission lets run: the health probe's, so a busy
    # pool never makes the downstream look down.
    connector = aiohttp.TCPConnector(limit=pool_size + 1)
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
        http = HttpDownstream(session, base_url, settings.downstream_timeout_s)
        try:
            yield FanoutClients(
                PooledDownstream(http, admission), sync_client, {"downstream": admission}
            )
        finally:
            sync_client.close()


def _warn_if_files_short(pool_size: int) -> None:
    limit = open_files_limit()
    if limit is not None and limit < pool_size + _OTHER_FILES:
        log.warning(
            "open-files limit %d is short of a %d-connection downstream pool: calls past it "
            "fail with 502 (raise `ulimit -n`, or lower PERFLAB_DOWNSTREAM_CONNECTIONS)",
            limit,
            pool_size,
        )
