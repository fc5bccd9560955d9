"""The notes study's ceiling: a bare Starlette app, one raw asyncpg pool, the same INSERT.

Not perflab: what `POST /notes/` costs with no framework around it, no validation and no data
layer, on the same PostgreSQL, the same pool size (10) and the same statement (one
``INSERT ... RETURNING`` in autocommit). The notes study runs it as a server command
(`ceiling-postgres`), so perflab's async variant is measured against it in the same run.

It reads PERFLAB_DATABASE_URL (default postgresql://postgres@127.0.0.1:5432/test, as the bench)
and writes to a table of its own per worker process, dropped when the worker stops.

Usage::

    python -m uvicorn --factory notes_ceiling:create_app --port 8000   # from this folder
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

DEFAULT_DSN = "postgresql://postgres@127.0.0.1:5432/test"
POOL_SIZE = 10  # perflab's PERFLAB_DB_POOL_SIZE default: the same pool on both sides


def _dsn() -> str:
    url = os.environ.get("PERFLAB_DATABASE_URL") or DEFAULT_DSN
    scheme, rest = url.split("://", 1)
    return f"{scheme.split('+', 1)[0]}://{rest}"  # asyncpg takes no SQLAlchemy driver suffix


def create_app() -> Starlette:
    """The app, for uvicorn's --factory. Usage: see module."""
    table = f"notes_ceiling_{os.getpid()}"  # a worker's own: never another run's rows
    insert = (
        f"INSERT INTO {table} (title, description) VALUES ($1, $2) RETURNING id, title, description"
    )
    state: dict[str, Any] = {}

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with asyncpg.create_pool(_dsn(), min_size=POOL_SIZE, max_size=POOL_SIZE) as pool:
            await pool.execute(
                f"CREATE TABLE IF NOT EXISTS {table} (id bigint GENERATED ALWAYS AS IDENTITY "
                "PRIMARY KEY, title text NOT NULL, description text NOT NULL)"
            )
            state["pool"] = pool
            try:
                yield
            finally:
                await pool.execute(f"DROP TABLE IF EXISTS {table}")

    async def create(request: Request) -> Response:
        body = orjson.loads(await request.body())
        row = await state["pool"].fetchrow(insert, body["title"], body["description"])
        return Response(orjson.dumps(dict(row)), 201, media_type="application/json")

    async def ready(request: Request) -> Response:
        return Response(b"ok", media_type="text/plain")

    routes = [Route("/notes/", create, methods=["POST"]), Route("/ready", ready)]
    return Starlette(routes=routes, lifespan=lifespan)
