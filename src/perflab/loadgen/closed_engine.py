"""The closed model's engine (ab, wrk): exactly N requests over C connections.

Each connection sends its next request from inside the callback that completes the previous
answer (`connection_free`): no task or future per request, which is most of the CPU saved
against aiohttp.

`ClosedFlowEngine` runs flows (`perflab.loadgen.flow`): each connection is a user with its
own captured values, and `requests` counts the requests sent (flow steps; skipped steps are
not sent, so not counted). A flow cut off by the count leaves its last steps unsent.

Usage::

    recording = await ClosedEngine(specs, Closed(1000, 10), keepalive=True, timeout_s=30).run()
    flows = ClosedFlowEngine(specs, Closed(1000, 10), keepalive=True, timeout_s=30,
                             on_start=[login], flows=[Flow("buy", ("create", "read"))])
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any, Unpack

from perflab.loadgen.connection import HttpConnection, Prepared
from perflab.loadgen.engine import Engine, EngineOptions
from perflab.loadgen.flow_user import FlowUser
from perflab.loadgen.models import Closed
from perflab.loadgen.request_spec import RequestSpec


class ClosedEngine(Engine):
    """Exactly `requests` requests over `connections` connections. Usage: see module."""

    def __init__(
        self, specs: Sequence[RequestSpec], model: Closed, **options: Unpack[EngineOptions]
    ) -> None:
        super().__init__(specs, model=model.describe(), connections=model.connections, **options)
        self.remaining = model.requests
        self.in_flight = 0
        self._ready: list[HttpConnection] = []

    async def prepare(self) -> None:
        """Pre-connect before timing starts. Usage: ``await engine.setup()`` calls it."""
        # wrk pre-connects; ab (no keep-alive) connects per request, timed.
        if self.keepalive:
            self._ready = await self.preconnect(self.connections_wanted)

    def begin(self) -> None:
        """Send the first requests. Usage: ``Engine.run`` calls it at the start time."""
        slots: list[HttpConnection | None] = [*self._ready]
        slots += [None] * (self.connections_wanted - len(slots))
        for conn in slots:
            self._next(conn)

    def _next(self, conn: HttpConnection | None, owner: Any = None) -> None:
        if self.remaining == 0:
            if self.in_flight == 0:
                self.finish()
            return
        self.remaining -= 1
        self.in_flight += 1
        request = self._request_for(owner)
        if conn is None or conn.closed:
            self.connect_and_send(request, time.perf_counter_ns(), owner)
        else:
            conn.send(request)

    def _request_for(self, owner: Any) -> Prepared:
        """What `owner`'s connection sends next: the next request in weighted order."""
        return self.next_request()

    def connection_free(self, conn: HttpConnection) -> None:
        """An answer arrived (or failed) on `conn`. Usage: ``HttpConnection`` calls it."""
        if self.remaining and not conn.closed:
            # The hot path, `_next` unrolled: every call here delays the next request.
            self.remaining -= 1
            sequence = self._sequence
            request = sequence[self._cursor % len(sequence)]
            self._cursor += 1
            conn.send(request)
            return
        self.in_flight -= 1
        if conn.closed:
            self.open_connections.discard(conn)
        self._next(conn)

    def connect_failed(self, owner: object) -> None:
        """A connect failed (already recorded). Usage: ``Engine.connect_and_send`` calls it."""
        self.in_flight -= 1
        self._next(None)


class ClosedFlowEngine(ClosedEngine):
    """The closed model over flows: a user per connection. Usage: see the module docstring."""

    def begin(self) -> None:
        """Start every user. Usage: ``Engine.run`` calls it at the start time."""
        for index in range(self.connections_wanted):
            user = FlowUser(self.flow_plan)
            conn = self._ready[index] if index < len(self._ready) else None
            if conn is not None:
                conn.owner = user
            self._next(conn, user)

    def _request_for(self, owner: Any) -> Prepared:
        user: FlowUser = owner
        return user.next_request()

    def connection_free(self, conn: HttpConnection) -> None:
        """An answer arrived (or failed) on `conn`. Usage: ``HttpConnection`` calls it."""
        user: FlowUser = conn.owner
        if user.step.captures:
            user.step_done(conn.captured)
        if self.remaining and not conn.closed:  # the hot path, as in ClosedEngine
            self.remaining -= 1
            conn.send(user.next_request())
            return
        self.in_flight -= 1
        if conn.closed:
            self.open_connections.discard(conn)
        self._next(conn, user)

    def connect_failed(self, owner: object) -> None:
        """A connect failed (already recorded). Usage: ``Engine.connect_and_send`` calls it."""
        assert isinstance(owner, FlowUser)
        if owner.step.captures:
            owner.step_done(None)
        self.in_flight -= 1
        self._next(None, owner)
