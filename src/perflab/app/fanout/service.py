"""The fanout workflows and the downstream clients they call (no FastAPI here).

Each workflow makes three downstream calls; they differ only in how the calls are arranged:

- `sync_baseline`: blocking calls one after another (run by a `def` endpoint in a thread);
- `independent`: three awaited calls in sequence, each with its own input;
- `dependent`: each call takes the previous call's result (sequential by necessity);
- `concurrent`: all three at once, in a task group.

A downstream is either simulated (`sleep`) or a real HTTP service (`perflab downstream`).

How many calls may run at once is what sized seed 004: 500 users x 3 calls = 1,500 at once,
and the seed's app got 13 req/s instead of 100 because every call past 100 per worker queued,
silently, for up to 40 s.

- A simulated call holds no connection, socket or downstream capacity: it is a timer and a
  future (well under a kilobyte). Capping it would protect nothing and only make the simulation
  slower than the service it stands for, so it is not capped: 10,000 users' 30,000 calls are
  30,000 timers. What bounds a worker then is its requests in flight, the server's business.
- A real call holds one connection of a pool (`PooledDownstream`): a connection is a file
  descriptor here and at the downstream, and the pool is what protects the downstream. A call
  that finds the pool full is admitted by expected wait (perflab.app.admission), with the
  pool size as slots and the learned call time as service time: it waits for a connection
  when the wait fits the budget, and is refused with 503 + Retry-After at once otherwise.
  The three calls of `concurrent` are admitted together, all or none (`reserve`): admitted
  one by one, calls of many requests interleave, and under load each request could get one
  call refused after its others took connections, serving nobody. A sequential request
  admits each call when it makes it, holding nothing while it waits for an answer, so it can
  be refused at its second or third call if the pool filled meanwhile.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import time
from collections.abc import Iterator
from typing import Protocol

import aiohttp
import urllib3

from perflab.app.admission import Admission, Ticket
from perflab.app.errors import BadGateway, GatewayTimeout

INPUTS = (1, 2, 3)


def step(value: int) -> int:
    """What the downstream service computes from its input; shared so answers can be checked."""
    return value * 2 + 1


class DownstreamCall(Protocol):
    async def call(self, value: int) -> int: ...


class AsyncDownstream(DownstreamCall, Protocol):
    def reserve(self, calls: int) -> contextlib.AbstractContextManager[None]:
        """Admit the next `calls` calls of this task and its children together, or none."""
        ...


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
        with downstream.reserve(len(INPUTS)):  # all three admitted, or a 503 before any starts
            async with asyncio.TaskGroup() as group:
                tasks = [group.create_task(downstream.call(value)) for value in INPUTS]
    except ExceptionGroup as failures:
        # Answer with the first failure (502/504), not a 500 for the group wrapping it.
        raise failures.exceptions[0] from None
    return [task.result() for task in tasks]


class SleepDownstream:
    """A simulated call: waits `latency_s` without blocking the loop; never capped (see above).

    Counts its overlap as `perflab downstream`'s /stats does, so a test can see that calls
    really ran at once.
    """

    def __init__(self, latency_s: float) -> None:
        self.latency_s = latency_s
        self.in_flight = 0
        self.max_in_flight = 0

    async def call(self, value: int) -> int:
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            await asyncio.sleep(self.latency_s)
        finally:
            self.in_flight -= 1
        return step(value)

    def reserve(self, calls: int) -> contextlib.AbstractContextManager[None]:
        return contextlib.nullcontext()  # nothing to admit to


# Tickets admitted together by `PooledDownstream.reserve`, for the calls the task makes next.
_reserved: contextvars.ContextVar[list[Ticket] | None] = contextvars.ContextVar(
    "perflab_fanout_reserved", default=None
)


class PooledDownstream:
    """A real downstream behind a pool of `admission.slots` connections, admitted by expected
    wait: a call past the pool waits for a connection only if the wait fits the budget.

    The pool's own queue (aiohttp's connector limit) would wait silently until the call's
    timeout; here the wait happens in front of it, where admission counts it.
    """

    def __init__(self, downstream: DownstreamCall, admission: Admission) -> None:
        self._downstream = downstream
        self.admission = admission
        self._connections = asyncio.Semaphore(admission.slots)

    @contextlib.contextmanager
    def reserve(self, calls: int) -> Iterator[None]:
        # No await between the admissions: no other request's call can come in between.
        tickets: list[Ticket] = []
        try:
            for _ in range(calls):
                tickets.append(self.admission.admit())  # Overloaded (503) when it would not fit
        except BaseException:
            for ticket in tickets:
                ticket.close(learn=False)
            raise
        # Child tasks copy the context when created: the calls they make take these tickets.
        token = _reserved.set(tickets)
        try:
            yield
        finally:
            _reserved.reset(token)
            for ticket in tickets:  # calls never made (a sibling failed first)
                ticket.close(learn=False)

    async def call(self, value: int) -> int:
        reserved = _reserved.get()
        ticket = reserved.pop() if reserved else self.admission.admit()
        with ticket:
            async with self._connections:
                ticket.start()
                try:
                    return await self._downstream.call(value)
                except GatewayTimeout:
                    # Learned: a downstream this slow should raise the wait that is expected.
                    raise
                except BaseException:
                    # A call refused, broken or cancelled early says nothing about call time.
                    ticket.close(learn=False)
                    raise


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
