"""The open model's engine (wrk2, k6): sends scheduled at a fixed rate, latency from the schedule.

See docs/loadgen.md for coordinated omission and how the schedule corrects it.

`OpenFlowEngine` runs flows (`perflab.loadgen.flow`): each arrival runs one flow, its steps
one after another on one connection; the first step's latency counts from the schedule, a
later step's from when it is sent (right after the answer before it). on_start runs once per
connection, in the first arrival that connection serves, and what it captures serves every
later arrival on it: an open model stands for a stream of requests from clients that hold
sessions, not for a login per request, and a session per connection keeps the logins as
few as the connections (`-c`). A connection the server closes takes its session with it (the
next one logs in again), so with ``keepalive=False`` every arrival runs on_start.

Usage::

    recording = await OpenEngine(specs, Open(2000, 30), keepalive=True, timeout_s=30).run()
    flows = OpenFlowEngine(specs, Open(200, 30), keepalive=True, timeout_s=30,
                           on_start=[login], flows=[Flow("buy", ("create", "read"))])
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Unpack

from perflab.loadgen.connection import HttpConnection, Prepared
from perflab.loadgen.engine import Engine, EngineOptions
from perflab.loadgen.expectation import Expectation
from perflab.loadgen.flow_user import FlowRun, FlowUser
from perflab.loadgen.models import Open
from perflab.loadgen.request_spec import RequestSpec

LOOKAHEAD_NS = 1_000_000  # the event loop's timer resolution


class OpenEngine(Engine):
    """Scheduled sends at a fixed rate; latency from the schedule. Usage: see module."""

    def __init__(
        self, specs: Sequence[RequestSpec], model: Open, **options: Unpack[EngineOptions]
    ) -> None:
        super().__init__(specs, model=model.describe(), connections=model.connections, **options)
        self.open_model = model
        self.interval_ns = model.interval_ns
        self.total_sends = model.scheduled_sends
        self.late_ns = int(model.late_after_ms * 1e6)
        self.sent_index = 0
        self.busy = 0  # requests written or connecting
        self.connecting = 0
        self.idle: list[HttpConnection] = []
        self.backlog: deque[tuple[Prepared, int]] = deque()
        self.first_ns = 0

    async def prepare(self) -> None:
        """Pre-connect before timing starts. Usage: ``await engine.setup()`` calls it."""
        if self.keepalive:
            self.idle = await self.preconnect(self.connections_wanted)

    def begin(self) -> None:
        """Send the first requests. Usage: ``Engine.run`` calls it at the start time."""
        self.first_ns = self.start_ns + round(self.open_model.phase_s * 1e9)
        if self.total_sends == 0:
            self.finish()
            return
        self._tick()

    def _tick(self) -> None:
        now_ns = time.perf_counter_ns()
        # Event-loop timers have 1 ms resolution (libuv): send what is due within the next
        # millisecond now, and catch up on everything overdue, so the rate stays exact and
        # no timer is set for a sub-millisecond delay (which would fire at once and spin).
        horizon_ns = now_ns + LOOKAHEAD_NS
        while self.sent_index < self.total_sends:
            scheduled_ns = self.first_ns + self.sent_index * self.interval_ns
            if scheduled_ns > horizon_ns:
                delay_s = max((scheduled_ns - horizon_ns) / 1e9, LOOKAHEAD_NS / 1e9)
                self.loop.call_later(delay_s, self._tick)
                return
            self.sent_index += 1
            self._dispatch(self.next_request(), scheduled_ns, now_ns)
        self._check_done()

    def _capacity(self) -> bool:
        return len(self.open_connections) + self.connecting < self.connections_wanted

    def _dispatch(self, request: Prepared, scheduled_ns: int, now_ns: int) -> None:
        while self.idle:
            conn = self.idle.pop()
            if not conn.closed:
                self._send(conn, request, scheduled_ns, now_ns)
                return
        if self._capacity():
            self.busy += 1
            self.connecting += 1
            self.connect_and_send(request, min(scheduled_ns, now_ns))
        else:
            self.backlog.append((request, scheduled_ns))

    def _send(
        self, conn: HttpConnection, request: Prepared, scheduled_ns: int, now_ns: int
    ) -> None:
        if now_ns - scheduled_ns > self.late_ns:
            request.recorder.stats.late_sends += 1
        self.busy += 1
        # Latency counts from the schedule when late (coordinated omission corrected), from
        # the actual send when sent up to LOOKAHEAD_NS early: never less than the truth.
        conn.send(request, min(scheduled_ns, now_ns))

    def _next_from_backlog(self, now_ns: int) -> tuple[Prepared, int] | None:
        while self.backlog:
            request, scheduled_ns = self.backlog.popleft()
            if now_ns - scheduled_ns <= self.timeout_ns:
                return request, scheduled_ns
            request.recorder.stats.dropped_sends += 1  # waited past the timeout: never sent
        return None

    def connection_free(self, conn: HttpConnection) -> None:
        """An answer arrived (or failed) on `conn`. Usage: ``HttpConnection`` calls it."""
        self.busy -= 1
        if conn.closed:
            self.open_connections.discard(conn)
        now_ns = time.perf_counter_ns()
        waiting = self._next_from_backlog(now_ns)
        if waiting is not None:
            if not conn.closed:
                self._send(conn, waiting[0], waiting[1], now_ns)
            else:
                self.backlog.appendleft(waiting)
                self._dispatch_backlog_head(now_ns)
        elif not conn.closed:
            self.idle.append(conn)
        self._check_done()

    def _dispatch_backlog_head(self, now_ns: int) -> None:
        if self.backlog and self._capacity():
            request, scheduled_ns = self.backlog.popleft()
            self._dispatch(request, scheduled_ns, now_ns)

    def connect_failed(self, owner: object) -> None:
        """A connect failed (already recorded). Usage: ``Engine.connect_and_send`` calls it."""
        self.busy -= 1
        self.connecting -= 1
        self._dispatch_backlog_head(time.perf_counter_ns())
        self._check_done()

    def connect_succeeded(self, conn: HttpConnection) -> None:
        """A connect for a send succeeded. Usage: ``Engine.connect_and_send`` calls it."""
        self.connecting -= 1  # now counted in open_connections

    def resend(self, conn: HttpConnection, request: Prepared, origin_ns: int) -> None:
        """Resend on a fresh connection. Usage: ``HttpConnection.connection_lost`` calls it."""
        self.connecting += 1  # `connect_succeeded` or `connect_failed` takes it back
        super().resend(conn, request, origin_ns)

    def _check_done(self) -> None:
        if self.sent_index >= self.total_sends and self.busy == 0 and not self.backlog:
            self.finish()


@dataclass(eq=False)
class _Arrival(Prepared):
    """A scheduled arrival of the flow engine: the flow to run, never written itself. It goes
    through the open engine's schedule and backlog like a request; a dropped one is counted
    on the flow's first step."""

    run: FlowRun | None = None

    @classmethod
    def of(cls, run: FlowRun) -> _Arrival:
        return cls(run.name, b"", Expectation(), run.recorder, run=run)


class OpenFlowEngine(OpenEngine):
    """The open model over flows: an arrival runs one flow. Usage: see the module docstring."""

    def begin(self) -> None:
        """Schedule arrivals of flows, in weighted order. Usage: ``Engine.run`` calls it."""
        plan = self.flow_plan
        arrivals = {id(run): _Arrival.of(run) for run in plan.flows}
        self._sequence = [arrivals[id(run)] for run in plan.sequence]
        super().begin()

    def _first_step(self, session: FlowUser, arrival: Prepared) -> Prepared:
        assert isinstance(arrival, _Arrival)
        assert arrival.run is not None
        session.start_run(arrival.run)
        step = session.next_step()
        assert step is not None  # a run's first step needs nothing it lacks (resolve_flows)
        return step

    def _send(
        self, conn: HttpConnection, request: Prepared, scheduled_ns: int, now_ns: int
    ) -> None:
        if conn.owner is None:  # a pre-connected connection's first arrival
            conn.owner = FlowUser(self.flow_plan)
        super()._send(conn, self._first_step(conn.owner, request), scheduled_ns, now_ns)

    def connect_and_send(self, request: Prepared, origin_ns: int, owner: object = None) -> None:
        """Connect, then send; an arrival without a session gets a new one. Usage: see base."""
        if owner is None:
            owner = FlowUser(self.flow_plan)
            request = self._first_step(owner, request)
        super().connect_and_send(request, origin_ns, owner)

    def _go_on(self, session: FlowUser, conn: HttpConnection | None) -> bool:
        """Send the run's next step (on a new connection if `conn` is gone); False: run over."""
        step = session.next_step()
        if step is None:
            return False
        if conn is None or conn.closed:
            self.connecting += 1  # `connect_succeeded` or `connect_failed` takes it back
            self.connect_and_send(step, time.perf_counter_ns(), session)
        else:
            conn.send(step)
        return True

    def connection_free(self, conn: HttpConnection) -> None:
        """A step's answer arrived (or failed). Usage: ``HttpConnection`` calls it."""
        session: FlowUser = conn.owner
        if session.step.captures:
            session.step_done(conn.captured)
        if conn.closed:
            self.open_connections.discard(conn)
        if not self._go_on(session, conn):
            super().connection_free(conn)  # the arrival is over: the connection is free

    def connect_failed(self, owner: object) -> None:
        """A connect failed (already recorded). Usage: ``Engine.connect_and_send`` calls it."""
        assert isinstance(owner, FlowUser)
        if owner.step.captures:
            owner.step_done(None)
        if self._go_on(owner, None):
            self.connecting -= 1  # the connect that failed (the next step's is counted)
        else:
            super().connect_failed(owner)  # the arrival is over
