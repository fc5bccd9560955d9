"""Opens the notes database for one server worker: both engines, the schema, a health check.

If the database cannot be reached at start-up the worker still starts, answers 503 on the notes
endpoints and reports not ready on `/healthz`; the health check creates the schema as soon as
the database answers, so neither order of starting things nor a database restart needs the
service restarted.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from sqlalchemy import Engine, text
from sqlalchemy.ext.asyncio import AsyncEngine

from perflab.app.errors import Unavailable
from perflab.app.health import HealthChecks
from perflab.app.notes.ddl import SchemaMismatch, ensure_schema
from perflab.app.notes.engines import make_engines
from perflab.app.notes.store import NotesStore
from perflab.app.notes.timeouts import CLIENT_GRACE_S
from perflab.config import Settings

log = logging.getLogger("perflab.notes")


@dataclass
class NotesResources:
    """What the notes endpoints use: one engine per variant, same statements, same pool size.

    The stores compile the statements at once, before any connection: none of them depends on
    the server's version, so the SQL is the same as after the dialect has met the server.
    """

    async_engine: AsyncEngine
    sync_engine: Engine
    timeout_s: float  # the statement time limit the engines were made with
    schema_ready: bool = False
    async_store: NotesStore = field(init=False)
    sync_store: NotesStore = field(init=False)

    def __post_init__(self) -> None:
        self.async_store = NotesStore(self.async_engine.sync_engine, self.timeout_s)
        self.sync_store = NotesStore(self.sync_engine, self.timeout_s)

    def require_schema(self) -> None:
        """Raise 503 until the table exists (the database was down when the worker started)."""
        if not self.schema_ready:
            raise Unavailable("the notes database is not reachable yet", retry_after_s=2.0)

    async def ensure_schema(self) -> None:
        if self.schema_ready:
            return
        async with self.async_engine.connect() as connection:
            await connection.run_sync(ensure_schema)
        self.schema_ready = True

    async def check(self) -> str:
        """Health check: create the schema if still pending, then one round trip."""
        await self.ensure_schema()
        async with self.async_engine.connect() as connection:
            await connection.execute(text("SELECT 1"))
        return self.async_engine.url.render_as_string(hide_password=True)


@asynccontextmanager
async def open_notes_resources(
    settings: Settings, health: HealthChecks
) -> AsyncIterator[NotesResources]:
    """Yield the notes database of one worker; dispose of both pools when the worker stops.

    Usage: `notes = await stack.enter_async_context(open_notes_resources(settings, health))`
    """
    async_engine, sync_engine = make_engines(settings)
    db = NotesResources(async_engine, sync_engine, settings.db_timeout_s)
    try:
        try:
            # Bounded like any notes statement: a database that never answers must not hold the
            # worker's start-up (the health check tries again).
            async with asyncio.timeout(settings.db_timeout_s + CLIENT_GRACE_S):
                await db.ensure_schema()
        except SchemaMismatch:
            raise
        except Exception as error:  # unreachable now; the health check retries
            log.warning("notes database not ready at start-up: %s: %s", type(error).__name__, error)
        health.add("database", db.check)
        yield db
    finally:
        db.async_store.close()
        db.sync_store.close()
        await async_engine.dispose()
        sync_engine.dispose()
