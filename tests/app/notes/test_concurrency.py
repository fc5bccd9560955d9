"""Concurrency through a real server with 2 workers: many creates at once lose or duplicate
nothing, and racing updates and deletes of one note answer 200 or 404, never 500."""

from __future__ import annotations

import asyncio
import collections
from typing import Any

import aiohttp
import pytest
from sqlalchemy import Engine, text

from tests.support.servers import RunningServer

pytestmark = pytest.mark.anyio

CREATES = 2_000


async def send(
    session: aiohttp.ClientSession, method: str, url: str, body: object = None
) -> tuple[int, Any]:
    async with session.request(method, url, json=body) as response:
        return response.status, await response.json(content_type=None)


async def test_2000_concurrent_creates_give_2000_distinct_rows(
    server: RunningServer, table: Engine
) -> None:
    # All at once, half through each variant: the async pool, the sync threadpool and both
    # workers are all saturated while the database takes the inserts.
    connector = aiohttp.TCPConnector(limit=CREATES)
    timeout = aiohttp.ClientTimeout(total=120)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        answers = await asyncio.gather(
            *(
                send(session, "POST", server.url(("/notes/", "/notes/sync/")[i % 2]),
                     {"title": f"note {i:04d}", "description": f"created by request {i}"})
                for i in range(CREATES)
            )
        )  # fmt: skip
    statuses = collections.Counter(status for status, _ in answers)
    assert statuses == {201: CREATES}, statuses
    ids = [body["id"] for _, body in answers]
    assert len(set(ids)) == CREATES
    with table.connect() as connection:
        rows = connection.execute(text("SELECT id, title FROM notes")).all()
    assert len(rows) == CREATES
    assert {row.id for row in rows} == set(ids)
    assert {row.title for row in rows} == {f"note {i:04d}" for i in range(CREATES)}


async def test_racing_updates_and_deletes_never_500(server: RunningServer, table: Engine) -> None:
    notes, racers = 20, 24
    new = {"title": "race", "description": "start"}
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=120)) as session:
        ids = [
            (await send(session, "POST", server.url("/notes/"), new))[1]["id"] for _ in range(notes)
        ]

        def race(note_id: int, k: int) -> tuple[str, int, Any]:
            url = server.url(f"{('/notes/', '/notes/sync/')[k % 2]}{note_id}/")
            kind = ("DELETE", "PUT", "GET")[k % 3]
            body = {"title": f"racer {k}", "description": "updated"} if kind == "PUT" else None
            return kind, note_id, send(session, kind, url, body)

        plan = [race(note_id, k) for note_id in ids for k in range(racers)]
        answers = await asyncio.gather(*(coroutine for _, _, coroutine in plan))
        after = [await send(session, "GET", server.url(f"/notes/{note_id}/")) for note_id in ids]

    statuses = collections.Counter(status for status, _ in answers)
    assert set(statuses) <= {200, 404}, statuses
    deleted = collections.Counter(
        note_id
        for (kind, note_id, _), (status, _) in zip(plan, answers, strict=True)
        if kind == "DELETE" and status == 200
    )
    assert deleted == dict.fromkeys(ids, 1)  # each note deleted exactly once
    assert all(status == 404 for status, _ in after)
    with table.connect() as connection:
        assert connection.execute(text("SELECT count(*) FROM notes")).scalar_one() == 0
