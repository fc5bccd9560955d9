"""The locust users that run a perflab cell: one FastHttpUser class per stream.

Every user loops on one task: take a ticket (`StreamRuntime.take`: the users model's
duration, the closed model's quota, the open model's schedule), send the next request (its
next flow step, by the loadgen's own `FlowUser`, or the next in weighted order) with locust's
FastHttpUser client, judge the answer with the loadgen's own check (`Expectation.check`, then
`capture_values` for a step that captures), and record it twice: in locust's statistics (a
success, or a failure named by the loadgen's kind, e.g. ``wrong_content``) and, exactly, in
the worker's HdrHistograms. The latency recorded is locust's own response time (the same
clock, before its rounding), plus, in the open model, the time the arrival waited past its
schedule. Each locust user is one connection and, with flows, one session (on_start runs once
per user; in the open model, once per user serving arrivals, as per connection in the loadgen).

Redirects are not followed and every status is an answer to judge (as `perflab load`).

Runs inside locust worker processes only.

Usage: ``locust -f $(python -m perflab.locust) ...`` (the locustfile exports these classes).
"""

from __future__ import annotations

import random
import time
from typing import Any, ClassVar

import gevent
from locust import FastHttpUser, task

from perflab.loadgen import Open, Users
from perflab.loadgen.capture import capture_values
from perflab.loadgen.connection import Prepared
from perflab.loadgen.expectation import CAPTURE_FAILED
from perflab.loadgen.flow_user import FlowUser
from perflab.locust.failures import answer_failure, transport_failure
from perflab.locust.stream_runtime import StreamRuntime, Ticket
from perflab.locust.worker import WorkerRun, current_worker

EVERY_STATUS = frozenset(range(100, 600))
STATUS_LINE_BYTES = len(b"HTTP/1.1 200 OK\r\n")


def _header_pairs(headers: Any) -> list[tuple[bytes, bytes]]:
    """The answer's headers as the loadgen's captures take them (name, value) in bytes."""
    pairs = []
    for name, value in headers.items() if headers is not None else ():
        for one in value if isinstance(value, list) else [value]:
            pairs.append((str(name).encode("latin-1"), str(one).encode("latin-1", "replace")))
    return pairs


_head_sizes: dict[str, int] = {}  # request name -> its first answer's head size


def _head_bytes(name: str, response: Any) -> int:
    """The answer's head size, estimated from the first answer of each request name (its
    status line and headers: geventhttpclient keeps no raw copy, and counting each answer's
    headers would cost as much as the rest of the bookkeeping)."""
    size = _head_sizes.get(name)
    if size is None:
        headers = response.headers
        pairs = headers.items() if headers is not None else ()
        size = _head_sizes[name] = (
            STATUS_LINE_BYTES + sum(len(k) + len(v) + 4 for k, v in pairs) + 2
        )
    return size


class PerflabStreamUser(FastHttpUser):
    """Base of the per-stream classes. Usage: subclass with ``stream_index = N``."""

    abstract = True
    stream_index: ClassVar[int] = 0
    host = "http://perflab.invalid"  # unused: every request URL is absolute
    max_redirects = 0
    max_retries = 0

    def __init__(self, environment: Any) -> None:
        run = current_worker()
        stream = run.stream(self.stream_index) if run is not None else None
        if stream is not None:
            self.network_timeout = self.connection_timeout = stream.timeout_s
        super().__init__(environment)
        # Every status is an answer for the check to judge, never an exception.
        agent: Any = self.client.client
        agent.valid_response_codes = EVERY_STATUS
        self.flow_user: FlowUser | None = stream.new_user() if stream is not None else None
        self.spawned_unix_s = time.time()
        self.ramped = False  # users model: started at its place in the ramp

    def wait_time(self) -> float:
        """The users model's think time (uniform, as `perflab load`); 0 otherwise."""
        run = current_worker()
        stream = run.stream(self.stream_index) if run is not None else None
        low, high = stream.think_s if stream is not None else (0.0, 0.0)
        return random.uniform(low, high) if high > 0 else 0.0

    @task
    def send_next(self) -> None:
        """Send what the stream's next ticket allows, or wait for good when there is none."""
        run = current_worker()
        if run is None:
            return
        run.wait_started()
        stream = run.stream(self.stream_index)
        if not self.ramped and stream is not None and isinstance(stream.model, Users):
            self.ramped = True  # locust's ramp, replayed from the common start
            gevent.sleep(max(0.0, self.spawned_unix_s + run.ramp_shift_s - time.time()))
        ticket = stream.take() if stream is not None else None
        if stream is None or ticket is None:
            run.idle()
            return
        stream.in_flight += 1
        try:
            self._serve(run, stream, ticket)
        finally:
            stream.in_flight -= 1

    def _serve(self, run: WorkerRun, stream: StreamRuntime, ticket: Ticket) -> None:
        unit, scheduled_s = ticket.unit, ticket.scheduled_perf_s
        if unit is None:  # closed and users models: one request
            self._send(run, stream, stream.next_request(self.flow_user), None)
            return
        waited_s = max(0.0, time.perf_counter() - (scheduled_s or 0.0))
        late_after_ms = stream.model.late_after_ms if isinstance(stream.model, Open) else 10.0
        if waited_s * 1000 > late_after_ms:
            unit.recorder.stats.late_sends += 1
        if isinstance(unit, Prepared):  # open model, plain requests: the arrival is one
            self._send(run, stream, unit, scheduled_s)
            return
        user = self.flow_user  # open model with flows: the arrival runs one flow
        assert user is not None
        user.start_run(unit)
        origin_s = scheduled_s  # the first step counts from the schedule, later ones from now
        while (step := user.next_step()) is not None:
            self._send(run, stream, step, origin_s)
            origin_s = None

    def _send(
        self, run: WorkerRun, stream: StreamRuntime, step: Prepared, origin_s: float | None
    ) -> None:
        """Send one request; in the open model its latency counts from `origin_s`."""
        call = stream.calls.get(step)
        waited_s = max(0.0, time.perf_counter() - origin_s) if origin_s is not None else 0.0
        with self.client.request(
            call.method,
            call.url,
            name=step.name,
            data=call.body,  # type: ignore[arg-type]  # bytes: sent as they are
            headers=call.headers,
            catch_response=True,
        ) as response:
            captured = self._judge(run, step, response, waited_s)
        user = self.flow_user
        if user is not None and user.step.captures:
            user.step_done(captured)  # the loadgen's own rule: values, or None when it failed

    def _judge(
        self, run: WorkerRun, step: Prepared, response: Any, waited_s: float
    ) -> dict[str, Any] | None:
        meta = response.request_meta
        error = meta.get("exception")
        body_length = bytes_in = 0
        captured = None
        if error is not None:
            failure: str | None = transport_failure(error)
        else:
            status = int(response.status_code)
            body = response.content or b""
            body_length = len(body)
            bytes_in = body_length + _head_bytes(step.name, response)
            headers = response.headers
            retry_after = status == 503 and headers.get("Retry-After") is not None
            recorder = step.recorder
            first = recorder.first_body_length
            if first < 0:
                first = recorder.note_first_length(body_length)
            failure = answer_failure(
                step.expect, status, body, retry_after=retry_after, first_length=first
            )
            if failure is None and step.captures:
                pairs = _header_pairs(headers) if step.header_captures else None
                captured = capture_values(step.captures, body, pairs)
                failure = CAPTURE_FAILED if captured is None else None
        if failure is None:
            response.success()
        else:
            response.failure(failure)
        latency_us = round((float(meta["response_time"]) / 1000 + waited_s) * 1e6)
        run.record(step, latency_us, failure, bytes_in, body_length)
        return captured


class PerflabStream0(PerflabStreamUser):
    """Users of a cell's first stream (its [load], or its first [[stream]])."""

    stream_index = 0


class PerflabStream1(PerflabStreamUser):
    """Users of a cell's second stream."""

    stream_index = 1


class PerflabStream2(PerflabStreamUser):
    """Users of a cell's third stream."""

    stream_index = 2


class PerflabStream3(PerflabStreamUser):
    """Users of a cell's fourth stream."""

    stream_index = 3


STREAM_USERS: tuple[type[PerflabStreamUser], ...] = (
    PerflabStream0,
    PerflabStream1,
    PerflabStream2,
    PerflabStream3,
)
