"""One stream of a cell on one locust worker: its prepared requests, and what to send next.

The stream's requests are prepared as `perflab load` prepares them (`Prepared`: bytes built
once, a recorder per name), and a stream with flows gets the loadgen's own `FlowPlan`; each
locust user holds a `FlowUser` (its on_start session and captured values), so which step
comes next, which is skipped and what fills ``{name}`` follow the loadgen's rules exactly.

`take()` gives a user a ticket, or None when it has nothing left to do:

- users model: a request per ticket until the stream's duration has passed (think time is
  the user's wait_time);
- closed model: a request per ticket until this worker's quota is spent;
- open model: a scheduler greenlet puts an arrival (a request, or a whole flow run, as the
  loadgen's open engines) in a queue at its scheduled time and users (the connection pool)
  take them; an arrival that waited longer than the timeout is dropped (never sent), one
  sent more than ``late_after_ms`` after its schedule is late.

Runs inside locust processes (gevent).

Usage::

    wires = stream_wires(stream)          # before timing (a factory's body is built here)
    runtime = StreamRuntime(0, stream, recording.recorders, wires)
    runtime.begin(share, start_perf_s=perf_counter())
    ticket = runtime.take()        # Ticket(unit, scheduled_perf_s) or None
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import gevent
from gevent.queue import Queue

from perflab.loadgen import Closed, Open, RequestSpec, Stream, Users
from perflab.loadgen.capture import parse_captures
from perflab.loadgen.connection import Prepared
from perflab.loadgen.flow import weighted_sequence
from perflab.loadgen.flow_user import FlowPlan, FlowRun, FlowUser
from perflab.loadgen.recorder import LiveRecorder
from perflab.locust.prepared import CallCache
from perflab.locust.shares import Share

LOOKAHEAD_S = 0.001  # the open model sends what is due within the next millisecond now


def stream_specs(stream: Stream) -> list[RequestSpec]:
    """Every request a stream may send: its on_start steps, then its requests."""
    on_start = (stream.flow_parts() or ((), ()))[0]
    return [*on_start, *stream.requests]


def stream_wires(stream: Stream) -> dict[str, bytes]:
    """Each request's bytes, built once (no gevent object: it may run in a thread).

    Usage: ``wires = gevent.get_hub().threadpool.apply(stream_wires, (stream,))``
    """
    return {
        spec.label: spec.wire_bytes(keepalive=stream.keepalive) for spec in stream_specs(stream)
    }


@dataclass(frozen=True)
class Ticket:
    """Leave to send. `unit` is None (send your next request) or, in the open model, the
    arrival: a request or a flow run, due at `scheduled_perf_s` (perf_counter seconds)."""

    unit: Prepared | FlowRun | None = None
    scheduled_perf_s: float | None = None


class StreamRuntime:
    """One stream's shared state on this worker. Usage: see the module docstring."""

    def __init__(
        self,
        index: int,
        stream: Stream,
        recorders: dict[str, LiveRecorder],
        wires: dict[str, bytes],
    ) -> None:
        self.index = index
        self.model = stream.model
        self.timeout_s = stream.timeout_s
        parts = stream.flow_parts()
        on_start, flows = parts or ((), ())
        specs = stream_specs(stream)
        self.prepared = {
            spec.label: Prepared(
                spec.label,
                wires[spec.label],
                spec.expect,
                recorders[spec.label],
                parse_captures(spec.capture),
                record_captures=spec.record_captures,
            )
            for spec in specs
        }
        self.calls = CallCache({spec.label: str(spec.origin()) for spec in specs})
        self.plan = None
        if parts is not None:
            keepalive = stream.keepalive
            self.plan = FlowPlan(
                self.prepared, stream.requests, on_start, flows, keepalive=keepalive
            )
        plain = [self.prepared[spec.label] for spec in stream.requests]
        self._sequence = weighted_sequence(plain, [spec.weight for spec in stream.requests])
        self._cursor = 0
        self.in_flight = 0  # tickets taken and not yet over
        self.remaining = 0  # closed: requests of the quota not yet taken
        self.end_perf_s = float("inf")  # users and open: no new ticket after this
        # open: due arrivals, then None once the whole schedule is in (the end, seen by all)
        self.queue: Queue[Ticket | None] = Queue()
        self.pending = 0  # open: due arrivals in the queue
        self.scheduled_all = True
        self.started = False

    @property
    def think_s(self) -> tuple[float, float]:
        """The users model's think time; (0, 0) otherwise. Usage: ``runtime.think_s``"""
        return self.model.think_s if isinstance(self.model, Users) else (0.0, 0.0)

    def new_user(self) -> FlowUser | None:
        """A locust user's place in the flows (None: plain requests). Usage: on user start."""
        return FlowUser(self.plan) if self.plan is not None else None

    def next_request(self, user: FlowUser | None) -> Prepared:
        """`user`'s next request: its next flow step, or the next in weighted order."""
        if user is not None:
            return user.next_request()
        request = self._sequence[self._cursor % len(self._sequence)]
        self._cursor += 1
        return request

    def begin(self, share: Share, start_perf_s: float) -> None:
        """Start this worker's share at `start_perf_s` (perf_counter). Usage: see module."""
        self.started = True
        model = self.model
        if isinstance(model, Closed):
            self.remaining = share.quota or 0
        elif isinstance(model, Users):
            self.end_perf_s = start_perf_s + model.duration_s
        elif share.schedule is not None:
            self.end_perf_s = start_perf_s + model.duration_s
            self.scheduled_all = False
            gevent.spawn(self._schedule, share.schedule, start_perf_s)
        else:
            self.queue.put(None)  # no slice of the schedule here: nothing to send

    def _arrival(self) -> Prepared | FlowRun:
        return self.plan.next_flow() if self.plan is not None else self.next_request(None)

    def _schedule(self, schedule: Open, start_perf_s: float) -> None:
        interval_s = schedule.interval_ns / 1e9
        first_s = start_perf_s + schedule.phase_s
        try:
            for i in range(schedule.scheduled_sends):
                due_s = first_s + i * interval_s
                delay_s = due_s - time.perf_counter() - LOOKAHEAD_S
                if delay_s > 0:
                    gevent.sleep(delay_s)
                self.pending += 1
                self.queue.put(Ticket(self._arrival(), due_s))
        finally:
            self.scheduled_all = True
            self.queue.put(None)

    def take(self) -> Ticket | None:
        """The next ticket for a user, or None: nothing more for it to send. Blocks in the
        open model until an arrival is due. Usage: ``runtime.take()``"""
        if not self.started:
            return None
        model = self.model
        if isinstance(model, Closed):
            if self.remaining <= 0:
                return None
            self.remaining -= 1
            return Ticket()
        if isinstance(model, Users):
            return Ticket() if time.perf_counter() < self.end_perf_s else None
        while True:
            ticket = self.queue.get()
            if ticket is None:
                self.queue.put(None)  # the end: the next idle user sees it too
                return None
            self.pending -= 1
            assert ticket.unit is not None
            assert ticket.scheduled_perf_s is not None
            if time.perf_counter() - ticket.scheduled_perf_s > self.timeout_s:
                ticket.unit.recorder.stats.dropped_sends += 1  # waited past the timeout
                continue
            return ticket

    def drop_unsent(self) -> None:
        """Count arrivals still waiting at the end as dropped. Usage: at the worker's stop."""
        while not self.queue.empty():
            ticket = self.queue.get_nowait()
            if ticket is not None and ticket.unit is not None:
                ticket.unit.recorder.stats.dropped_sends += 1
        self.pending = 0

    def done(self) -> bool:
        """This worker's share is complete and nothing is in flight. Usage: ``runtime.done()``"""
        if not self.started or self.in_flight:
            return False
        if isinstance(self.model, Closed):
            return self.remaining <= 0
        if isinstance(self.model, Users):
            return time.perf_counter() >= self.end_perf_s
        return self.scheduled_all and self.pending == 0
