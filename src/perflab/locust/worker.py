"""The worker side of a perflab run on locust: receive the load, record exactly, report.

A worker announces itself (HELLO) once its handlers are in place, receives the cell's streams
(WORKLOAD), builds every request's bytes before any timing (a factory's body in gevent's
thread pool, so heartbeats go on), says READY, and waits for its SHARE: its quota, schedule
slice and the common start time. From then on its users (`perflab.locust.users`) record every
answer into a `WorkerRecording`; a monitor greenlet folds each ended second into its window
and says DONE once the share is complete. Every second it sends the DELTA recorded since
the previous one, and its test_stop sends the FINAL one.

Runs inside locust worker processes only.

Usage (from the locustfile's init event)::

    run = WorkerRun(environment, PerflabOptions.of(environment.parsed_options))
    run.install()
"""

from __future__ import annotations

import os
import socket
import time
import traceback
from typing import Any

import gevent
from gevent.event import Event
from locust.env import Environment
from locust.rpc.protocol import Message

from perflab.loadgen.connection import Prepared
from perflab.locust import protocol
from perflab.locust.options import PerflabOptions
from perflab.locust.shares import Share
from perflab.locust.stream_runtime import StreamRuntime, stream_specs, stream_wires
from perflab.locust.wire import streams_from_wire
from perflab.locust.worker_recording import WorkerRecording

MONITOR_INTERVAL_S = 0.1

_current: WorkerRun | None = None


def current_worker() -> WorkerRun | None:
    """This process's worker run (None outside a worker). Usage: ``current_worker()``"""
    return _current


class WorkerRun:
    """One locust worker's part of a perflab run. Usage: see the module docstring."""

    def __init__(self, environment: Environment, options: PerflabOptions) -> None:
        self.environment = environment
        self.options = options
        self.streams: list[StreamRuntime] = []
        self.loaded = Event()  # the workload is decoded and its bytes built
        self.started = Event()  # the common start time has come
        self._idle = Event()  # never set: users with nothing left to send wait on it
        self.recording: WorkerRecording | None = None
        self.shared = False  # this worker got its share of the run
        self.ramp_shift_s = 0.0  # users-model users start this long after their spawn
        self.cpu_start_s = 0.0
        self.done_sent = False
        self.final_sent = False
        self._raw_lines: list[str] = []

    def install(self) -> None:
        """Register handlers and say HELLO. Usage: see module."""
        global _current
        _current = self
        runner = self.environment.runner
        assert runner is not None
        runner.register_message(protocol.WORKLOAD, self._on_workload, concurrent=True)
        runner.register_message(protocol.SHARE, self._on_share)
        protocol.listen(self.environment.events.test_stop, self._on_test_stop)
        runner.send_message(protocol.HELLO, {"host": socket.gethostname(), "pid": os.getpid()})

    # -- what users call -----------------------------------------------------------------------

    def stream(self, index: int) -> StreamRuntime | None:
        """Stream `index`'s runtime, once loaded. Usage: ``run.stream(0)``"""
        return self.streams[index] if self.loaded.is_set() and index < len(self.streams) else None

    def wait_started(self) -> None:
        """Block until the common start time. Usage: ``run.wait_started()``"""
        self.started.wait()

    def idle(self) -> None:
        """Block for good: this user has nothing left to send (locust kills it at the stop)."""
        self._idle.wait()

    def record(
        self, request: Prepared, latency_us: int, failure: str | None, bytes_in: int,
        body_length: int,
    ) -> None:  # fmt: skip
        """One finished request. Usage: ``run.record(request, 812, None, 180, 60)``"""
        if self.recording is None:
            return
        self.recording.record(
            request.name, latency_us=latency_us, failure=failure, bytes_in=bytes_in,
            bytes_out=len(request.wire), body_length=body_length,
        )  # fmt: skip
        if self.options.raw_latencies is not None:
            self._raw_lines.append(f"{request.name}\t{latency_us}\t{failure or ''}\n")

    # -- messages and events -------------------------------------------------------------------

    def _send(self, kind: str, data: dict[str, Any]) -> None:
        runner = self.environment.runner
        assert runner is not None
        runner.send_message(kind, data)

    def _on_workload(self, environment: Environment, msg: Message, **_: Any) -> None:
        try:
            streams = streams_from_wire(msg.data)
            methods = {s.label: s.method.upper() for st in streams for s in stream_specs(st)}
            recording = WorkerRecording(methods)
            # Bytes are built in gevent's thread pool: a 26 MB body must not stall heartbeats.
            # Only bytes: a gevent object made there would belong to that thread's hub.
            wires = gevent.get_hub().threadpool.apply(lambda: [stream_wires(s) for s in streams])
            self.streams = [
                StreamRuntime(i, s, recording.recorders, wires[i]) for i, s in enumerate(streams)
            ]
        except Exception as exc:  # the master must hear why, not wait for a ready
            self._send(protocol.READY, {"error": f"{exc}\n{traceback.format_exc()}"})
            return
        self.recording = recording
        self.loaded.set()
        self._send(protocol.READY, {})

    def _on_share(self, environment: Environment, msg: Message, **_: Any) -> None:
        data = msg.data
        self.loaded.wait()
        start_at_unix_s = float(data["start_at_unix_s"])
        assert self.recording is not None
        self.recording.start(start_at_unix_s)
        self.ramp_shift_s = float(data.get("ramp_shift_s", 0.0))
        self.shared = True
        start_perf_s = time.perf_counter() + (start_at_unix_s - time.time())
        for runtime, share in zip(self.streams, data["shares"], strict=True):
            runtime.begin(Share.from_dict(share, runtime.model), start_perf_s)
        gevent.spawn(self._start_at, start_perf_s)

    def _start_at(self, start_perf_s: float) -> None:
        gevent.sleep(max(0.0, start_perf_s - time.perf_counter()))
        self.cpu_start_s = time.process_time()
        self.started.set()
        next_delta_s = time.monotonic() + protocol.DELTA_INTERVAL_S
        while not self.final_sent:
            gevent.sleep(MONITOR_INTERVAL_S)
            if self.final_sent:
                break
            if self.recording is not None:
                self.recording.tick()
            if not self.done_sent and all(runtime.done() for runtime in self.streams):
                self.done_sent = True
                self._send(protocol.DELTA, self._delta())
                self._send(protocol.DONE, {})
            if time.monotonic() >= next_delta_s:
                next_delta_s += protocol.DELTA_INTERVAL_S
                self._send(protocol.DELTA, self._delta())

    def _delta(self) -> dict[str, Any]:
        assert self.recording is not None
        delta = self.recording.take_delta()
        delta["cpu_s"] = time.process_time() - self.cpu_start_s if self.started.is_set() else 0.0
        delta["done"] = self.done_sent
        self._write_raw()
        return delta

    def _write_raw(self) -> None:
        folder = self.options.raw_latencies
        if folder is None or not self._raw_lines:
            return
        folder.mkdir(parents=True, exist_ok=True)
        with (folder / f"worker-{os.getpid()}.tsv").open("a", encoding="utf-8") as raw:
            raw.writelines(self._raw_lines)
        self._raw_lines = []

    def _on_test_stop(self, environment: Environment, **_: Any) -> None:
        if not self.shared or self.final_sent:
            return
        self.done_sent = self.done_sent or all(runtime.done() for runtime in self.streams)
        for runtime in self.streams:
            runtime.drop_unsent()  # arrivals still waiting for a connection at the end
        final = self._delta()
        self.final_sent = True
        self._send(protocol.FINAL, final)
