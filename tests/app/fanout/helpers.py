"""What the fanout tests share: many clients at once, and the downstream's own overlap count."""

from __future__ import annotations

import asyncio
import urllib.request
from dataclasses import dataclass
from typing import Any

import aiohttp

from tests.support.servers import RunningServer, get_json


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: dict[str, Any]


def reset(downstream: RunningServer) -> None:
    """Start a new count of the downstream's calls and overlap."""
    request = urllib.request.Request(downstream.url("/stats/reset"), method="POST")
    urllib.request.urlopen(request, timeout=5).close()


def overlap(downstream: RunningServer) -> tuple[int, int]:
    """(most calls the downstream served at once, calls served) since the last reset."""
    _, stats = get_json(downstream.url("/stats"))
    return stats["max_in_flight"], stats["total"]


async def get_many(url: str, count: int, headers: dict[str, str] | None = None) -> list[Answer]:
    """GET `url` from `count` clients at once, each on its own connection (as locust users)."""
    # limit=0: aiohttp's default pool would hold the clients to 100 connections.
    connector = aiohttp.TCPConnector(limit=0)
    timeout = aiohttp.ClientTimeout(total=120)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:

        async def one() -> Answer:
            async with session.get(url, headers=headers) as response:
                body: dict[str, Any] = await response.json(content_type=None)
                return Answer(response.status, dict(response.headers), body)

        return await asyncio.gather(*(one() for _ in range(count)))


async def fetch_all(url: str, count: int) -> list[dict[str, Any]]:
    """`get_many`, asserting every answer is a 200; their bodies."""
    answers = await get_many(url, count)
    for answer in answers:
        assert answer.status == 200, answer.body
    return [answer.body for answer in answers]
