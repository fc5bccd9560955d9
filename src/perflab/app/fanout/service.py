"""The fanout workflows and the downstream clients they call (no FastAPI here).

Each workflow makes three downstream calls; they differ only in how the calls are arranged:

- `sync_baseline`: blocking calls one after another (run by a `def` endpoint in a thread);
- `independent`: three awaited calls in sequence, each with its own input;
- `dependent`: each call takes the previous call's result (sequential by necessity);
- `concurrent`: all three at once, in a task group, bounded by the client's concurrency limit.

A downstream is either simulated (`sleep`) or a real HTTP service (`perflab downstream`).
"""

from __future__ import annotations

import asyncio
import time
from typing import Protocol

import aiohttp
import urllib3

from perflab.app.errors import BadGateway, GatewayTimeout

INPUTS = (1, 2, 3)


def step(value: int) -> int:
    """What the downstream service computes from its input; shared so answers can be checked."""
    return value * 2 + 1


class AsyncDownstream(Protocol):
    async def call(self, value: int) -> int: ...


class SyncDownstream(Protocol):
    def call(self, value: int) -> int: ...


def sync_baseline(downstream: SyncDownstream) -> list[int]:
    return [downstream.call(value) for value in INPUTS]


async def independent(downstream: AsyncDownstream) -> list[int]:
    return [await downstream.call(value) for value in INPUTS]


async def dependent(downstream: AsyncDownstream) -> list[int]:
    results: list[int] = []
    value = INPUTS[0]
    for _ in INPUTS:
        value = await downstream.call(value)
        results.append(value)
    return results


async def concurrent(downstream: AsyncDownstream) -> list[int]:
    # A task group, not bare gather: if one call fails the others are cancelled, not orphaned.
    try:
        async with asyncio.TaskGroup() as group:
            tasks = [group.create_task(downstream.call(value)) for value in INPUTS]
    except ExceptionGroup as failures:
        # Answer with the first failure (502/504), not a 500 for the group wrapping it.
        raise failures.exceptions[0] from None
    return [task.result() for task in tasks]


class SleepDownstream:
    """A simulated call: waits `latency_s` without blocking the loop."""

    def __init__(self, latency_s: float, max_concurrent: int) -> None:
        self.latency_s = latency_s
        self._limit = asyncio.Semaphore(max_concurrent)

    async def call(self, value: int) -> int:
        async with self._limit:
            await asyncio.sleep(self.latency_s)
        return step(value)


class SleepDownstreamSync:
    """A simulated blocking call: holds its thread for `latency_s`."""

    def __init__(self, latency_s: float) -> None:
        self.latency_s = latency_s

    def call(self, value: int) -> int:
        time.sleep(self.latency_s)
        return step(value)


def _parse_answer(status: int, payload: object) -> int:
    if status != 200 or not isinstance(payload, dict) or not isinstance(payload.get("value"), int):
        raise BadGateway(f"downstream answered {status} with an unexpected body")
    value: int = payload["value"]
    return value


class HttpDownstream:
    """A real call to `perflab downstream` over one pooled aiohttp session per server worker."""

    def __init__(self, session: aiohttp.ClientSession, base_url: str, timeout_s: float) -> None:
        self._session = session
        self._url = base_url.rstrip("/") + "/work"
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)

    async def call(self, value: int) -> int:
        try:
            async with self._session.get(
                self._url, params={"value": value}, timeout=self._timeout
            ) as response:
                payload = await response.json(content_type=None)
                return _parse_answer(response.status, payload)
        except TimeoutError:
            raise GatewayTimeout("downstream did not answer in time") from None
        except (aiohttp.ClientError, ValueError) as exc:
            raise BadGateway(f"downstream failed: {type(exc).__name__}") from None


class HttpDownstreamSync:
    """A real blocking call through a thread-safe urllib3 connection pool."""

    def __init__(self, base_url: str, timeout_s: float, max_connections: int) -> None:
        self._pool = urllib3.PoolManager(
            maxsize=max_connections,
            timeout=urllib3.Timeout(total=timeout_s),
            retries=False,
        )
        self._url = base_url.rstrip("/") + "/work"

    def call(self, value: int) -> int:
        try:
            response = self._pool.request("GET", self._url, fields={"value": str(value)})
            return _parse_answer(response.status, response.json())
        except urllib3.exceptions.NewConnectionError as exc:
            # Checked first: urllib3 makes a refused connection a subclass of its timeout error.
            raise BadGateway(f"downstream unreachable: {type(exc).__name__}") from None
        except urllib3.exceptions.TimeoutError:
            raise GatewayTimeout("downstream did not answer in time") from None
        except (urllib3.exceptions.HTTPError, ValueError) as exc:
            raise BadGateway(f"downstream failed: {type(exc).__name__}") from None

    def close(self) -> None:
        self._pool.clear()
