"""What every load model's engine shares: prepared requests, connecting, the ticker, the result.

An engine runs inside one event loop (one process). Subclasses, one module per load model
(`closed_engine`, `users_engine`, `open_engine`), decide *when* to send; this base class
owns the requests and their recorders, opens connections, sweeps timeouts every 100 ms,
folds recorders into per-second windows, calls the progress callback once a second, and
builds the `Recording` at the end.

Usage (through a driver)::

    engine = ClosedEngine(specs, Closed(1000, 10), keepalive=True, timeout_s=30.0)
    recording = await engine.run(start_at_unix_s=time.time())
"""

from __future__ import annotations

import asyncio
import socket
import ssl
import time
from collections.abc import Callable, Sequence
from typing import Any, Required, TypedDict, Unpack

from perflab.limits import raise_open_files_limit
from perflab.loadgen.capture import parse_captures
from perflab.loadgen.capturing_connection import (
    CapturingHttpConnection,
    HeaderCapturingHttpConnection,
)
from perflab.loadgen.connection import ExactHttpConnection, HttpConnection, Prepared
from perflab.loadgen.errors import RequestSpecError, RunError
from perflab.loadgen.expectation import CONNECT_ERROR
from perflab.loadgen.flow import Flow, weighted_sequence
from perflab.loadgen.flow_user import FlowPlan
from perflab.loadgen.recorder import LiveRecorder
from perflab.loadgen.recording import Recording
from perflab.loadgen.request_spec import RequestSpec

SWEEP_INTERVAL_S = 0.1
ProgressCallback = Callable[[float, int, int], None]  # elapsed_s, requests, failures


class EngineOptions(TypedDict, total=False):
    """What every engine takes besides its requests and model (``**options`` of each).

    Usage: ``ClosedEngine(specs, Closed(100, 4), keepalive=True, timeout_s=30.0)``
    """

    keepalive: Required[bool]
    timeout_s: Required[float]
    progress: ProgressCallback | None
    on_start: Sequence[RequestSpec]  # flows: requests each user runs once, first
    flows: Sequence[Flow] | None  # None: plain requests; else flows (empty: lone requests)


def _connection_class(prepared: Sequence[Prepared]) -> type[HttpConnection]:
    """The leanest connection class that serves every request (see `connection.py`)."""
    if any(p.header_captures for p in prepared):
        return HeaderCapturingHttpConnection
    if any(p.captures for p in prepared):
        return CapturingHttpConnection
    return ExactHttpConnection if any(p.needs_exact for p in prepared) else HttpConnection


class Engine:
    """Base of the closed, users and open engines. Usage: see the module docstring."""

    def __init__(
        self,
        specs: Sequence[RequestSpec],
        *,
        model: dict[str, Any],
        connections: int,
        **options: Unpack[EngineOptions],
    ) -> None:
        keepalive, timeout_s = options["keepalive"], options["timeout_s"]
        on_start = options.get("on_start", ())
        flows = options.get("flows")
        if not specs:
            raise RequestSpecError("no requests to send")
        origins = {spec.origin() for spec in [*on_start, *specs]}
        if len(origins) != 1:
            names = sorted(map(str, origins))
            raise RequestSpecError(f"one stream sends to one origin, got {names}")
        self.origin = origins.pop()
        self.keepalive = keepalive
        self.timeout_ns = int(timeout_s * 1e9)
        self.timeout_s = timeout_s
        self.model = model
        self.connections_wanted = connections
        self.progress = options.get("progress")
        self.recorders: dict[str, LiveRecorder] = {}
        self.prepared = {spec.label: self._prepare(spec) for spec in [*on_start, *specs]}
        prepared = [self.prepared[spec.label] for spec in specs]  # on_start: flow engines'
        self._sequence = weighted_sequence(prepared, [spec.weight for spec in specs])
        self._connection_class = _connection_class(list(self.prepared.values()))
        self.plan: FlowPlan | None = None
        if flows is not None:
            self.plan = FlowPlan(self.prepared, specs, on_start, flows, keepalive=keepalive)
        self._cursor = 0
        self.open_connections: set[HttpConnection] = set()
        self.loop = asyncio.get_running_loop()
        self.done: asyncio.Future[None] = self.loop.create_future()
        self._tasks: set[asyncio.Task[None]] = set()
        self._address: tuple[str, int] = (self.origin.host, self.origin.port)
        self._ssl = ssl.create_default_context() if self.origin.scheme == "https" else None
        self.start_ns = 0
        self.max_connections_seen = 0
        self._set_up = False
        self._flushed_second = 0

    def _prepare(self, spec: RequestSpec) -> Prepared:
        name = spec.label
        if name in self.recorders:
            raise RequestSpecError(f"two requests are both named {name!r}; name them apart")
        recorder = self.recorders[name] = LiveRecorder(name, spec.method.upper())
        wire = spec.wire_bytes(keepalive=self.keepalive)
        captures = parse_captures(spec.capture)
        return Prepared(
            name, wire, spec.expect, recorder, captures, record_captures=spec.record_captures
        )

    @property
    def flow_plan(self) -> FlowPlan:
        """The flows a flow engine runs. Usage: ``FlowUser(self.flow_plan)``"""
        if self.plan is None:
            raise RunError("this engine was given no flows (flows=None)")
        return self.plan

    def next_request(self) -> Prepared:
        """The next request in weighted order. Usage: ``engine.next_request()``"""
        sequence = self._sequence
        request = sequence[self._cursor % len(sequence)]
        self._cursor += 1
        return request

    # -- connections --------------------------------------------------------------------------

    async def resolve(self) -> None:
        """Look the host up once (a failed lookup shows as connect errors). Usage: `setup`."""
        try:
            infos = await self.loop.getaddrinfo(
                self.origin.host, self.origin.port, type=socket.SOCK_STREAM
            )
            self._address = (str(infos[0][4][0]), int(infos[0][4][1]))
        except OSError:
            pass  # every connect will fail and be counted as connect_error

    async def connect(self) -> HttpConnection:
        """Open a connection (raises OSError, TimeoutError). Usage: ``await engine.connect()``"""
        conn = self._connection_class(self)
        host, port = self._address
        await asyncio.wait_for(
            self.loop.create_connection(
                lambda: conn,
                host,
                port,
                ssl=self._ssl,
                server_hostname=self.origin.host if self._ssl else None,
            ),
            self.timeout_s,
        )
        self.open_connections.add(conn)
        self.max_connections_seen = max(self.max_connections_seen, len(self.open_connections))
        return conn

    async def preconnect(self, count: int) -> list[HttpConnection]:
        """Open up to `count` connections untimed. Usage: ``await self.preconnect(10)``"""
        attempts = [self.connect() for _ in range(count)]
        results = await asyncio.gather(*attempts, return_exceptions=True)
        return [r for r in results if isinstance(r, HttpConnection)]

    def connect_and_send(self, request: Prepared, origin_ns: int, owner: object = None) -> None:
        """Connect in a task, then send; a failed connect is recorded. Usage: see the engines."""
        task = self.loop.create_task(self._connect_and_send(request, origin_ns, owner))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _connect_and_send(self, request: Prepared, origin_ns: int, owner: object) -> None:
        try:
            conn = await self.connect()
        except (OSError, TimeoutError):
            latency_ns = time.perf_counter_ns() - origin_ns
            request.recorder.record_unanswered(CONNECT_ERROR, latency_ns, 0)
            self.connect_failed(owner)
            return
        conn.owner = owner
        self.connect_succeeded(conn)
        conn.send(request, origin_ns)

    # -- what each engine implements -------------------------------------------------------------

    async def prepare(self) -> None:
        """Before timing starts: pre-connect. Usage: ``await engine.setup()`` calls it."""

    def begin(self) -> None:
        """Timing has started: send the first requests. Usage: ``Engine.run`` calls it."""
        raise NotImplementedError

    def connection_free(self, conn: HttpConnection) -> None:
        """`conn` finished a request (may be closed now). Usage: ``HttpConnection`` calls it."""
        raise NotImplementedError

    def connection_closed(self, conn: HttpConnection) -> None:
        """`conn` closed while idle. Usage: ``HttpConnection.connection_lost`` calls it."""
        self.open_connections.discard(conn)

    def connect_failed(self, owner: object) -> None:
        """A connect failed (already recorded). Usage: ``connect_and_send`` calls it."""
        raise NotImplementedError

    def resend(self, conn: HttpConnection, request: Prepared, origin_ns: int) -> None:
        """Send again on a new connection. Usage: ``HttpConnection.connection_lost`` calls it."""
        self.open_connections.discard(conn)
        self.connect_and_send(request, origin_ns, conn.owner)

    def connect_succeeded(self, conn: HttpConnection) -> None:
        """A connect for a send succeeded. Usage: ``connect_and_send`` calls it."""

    def finish(self) -> None:
        """Mark the run complete. Usage: ``self.finish()`` from a driver."""
        if not self.done.done():
            self.done.set_result(None)

    # -- the run -------------------------------------------------------------------------------

    def _sweep(self) -> None:
        now_ns = time.perf_counter_ns()
        for conn in list(self.open_connections):
            if conn.closed and conn.request is None:
                self.open_connections.discard(conn)
            else:
                conn.check_timeout(now_ns, self.timeout_ns)
        elapsed_ns = now_ns - self.start_ns
        second = elapsed_ns // 1_000_000_000
        if second > self._flushed_second:
            for recorder in self.recorders.values():
                recorder.flush(self._flushed_second)
            self._flushed_second = second
            if self.progress is not None:
                total_requests = sum(r.stats.requests for r in self.recorders.values())
                failures = sum(r.stats.failure_count for r in self.recorders.values())
                self.progress(elapsed_ns / 1e9, total_requests, failures)
        if not self.done.done():
            self._sweeper = self.loop.call_later(SWEEP_INTERVAL_S, self._sweep)

    async def setup(self) -> None:
        """Resolve and pre-connect, before timing starts. Usage: ``await engine.setup()``"""
        if not self._set_up:
            self._set_up = True
            # Every connection is a file descriptor; the soft limit is often 1,024.
            raise_open_files_limit()
            await self.resolve()
            await self.prepare()

    async def run(self, start_at_unix_s: float | None = None) -> Recording:
        """Set up, wait for the common start, run to the end. Usage: ``await engine.run(t)``"""
        await self.setup()
        if start_at_unix_s is not None:
            await asyncio.sleep(max(0.0, start_at_unix_s - time.time()))
        started_unix_s = time.time()
        cpu_start_s = time.process_time()
        self.start_ns = time.perf_counter_ns()
        self._flushed_second = 0
        self._sweeper = self.loop.call_later(SWEEP_INTERVAL_S, self._sweep)
        try:
            self.begin()
            await self.done
        finally:
            self._sweeper.cancel()
        end_ns = time.perf_counter_ns()
        cpu_s = time.process_time() - cpu_start_s
        last_second = (end_ns - self.start_ns) // 1_000_000_000
        for recorder in self.recorders.values():
            recorder.flush(last_second)
        for conn in list(self.open_connections):
            conn.close()
        for task in list(self._tasks):
            task.cancel()
        return Recording(
            target=str(self.origin),
            model=self.model,
            started_at_unix_s=started_unix_s,
            ended_at_unix_s=started_unix_s + (end_ns - self.start_ns) / 1e9,
            names={name: r.stats for name, r in self.recorders.items()},
            generator_cpu_s=cpu_s,
            processes=1,
            connections=self.max_connections_seen,
            flows=self.plan.described if self.plan is not None else {},
        )
