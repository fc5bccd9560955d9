"""Run load: one stream or several, in this process or spread over processes, merged.

A `Stream` is a list of requests with its own load model. Each stream runs in
`stream.processes` processes (its model split between them); several streams run side by
side, each in its own processes, so a stream of 25 MB uploads never shares an event loop
(or a CPU-bound payload generator) with the small requests it is compared against. Every
process builds its request bytes, resolves and pre-connects, then reports ready; the parent
gives all of them one common start time, so their per-second windows line up.

Usage::

    recording = run([RequestSpec("http://127.0.0.1:8000/")], Closed(10_000, 10))
    recording = run_streams([
        Stream([small], Open(rate_per_s=10, duration_s=60)),
        Stream([large], Open(rate_per_s=1, duration_s=60)),
    ])
    recording.names["/ping"].histogram.value_at_percentile(99)
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
import time
import traceback
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from typing import Any

import uvloop

from perflab.loadgen.closed_engine import ClosedEngine, ClosedFlowEngine
from perflab.loadgen.engine import Engine, EngineOptions, ProgressCallback
from perflab.loadgen.errors import RunError
from perflab.loadgen.flow import Flow, ScenarioRequests, uses_flows
from perflab.loadgen.metadata import machine_metadata
from perflab.loadgen.models import Closed, LoadModel, Users
from perflab.loadgen.open_engine import OpenEngine, OpenFlowEngine
from perflab.loadgen.recording import Recording
from perflab.loadgen.request_spec import RequestSpec
from perflab.loadgen.users_engine import UsersEngine, UsersFlowEngine

READY_TIMEOUT_S = 300.0  # building a big payload and connecting may take a while
START_MARGIN_S = 0.2


@dataclass(frozen=True)
class Stream:
    """Requests with their own load model, run in their own process(es); optionally grouped
    into flows, with on_start steps (`perflab.loadgen.flow`). `requests` that carry their own
    on_start and flows (a scenario's `ScenarioRequests`) bring them along.

    Usage: ``Stream([RequestSpec(url)], Open(rate_per_s=10, duration_s=30), processes=1)``
    or ``Stream(requests, Users(10, 10, 60), on_start=[login], flows=[Flow("buy", steps)])``
    """

    requests: Sequence[RequestSpec]
    model: LoadModel
    processes: int = 1
    keepalive: bool = True
    timeout_s: float = 30.0
    on_start: Sequence[RequestSpec] = ()
    flows: Sequence[Flow] = ()

    def flow_parts(self) -> tuple[Sequence[RequestSpec], Sequence[Flow]] | None:
        """on_start and flows to run, or None: plain requests. Usage: ``s.flow_parts()``"""
        on_start, flows = self.on_start, self.flows
        if not (on_start or flows) and isinstance(self.requests, ScenarioRequests):
            on_start, flows = self.requests.on_start, self.requests.flows
        return (on_start, flows) if uses_flows(self.requests, on_start, flows) else None


def make_engine(
    stream: Stream, model: LoadModel, progress: ProgressCallback | None = None
) -> Engine:
    """The engine for `model` (must run inside an event loop). Usage: ``make_engine(s, s.model)``"""
    options: EngineOptions = {
        "keepalive": stream.keepalive,
        "timeout_s": stream.timeout_s,
        "progress": progress,
    }
    flow_parts = stream.flow_parts()
    if flow_parts is not None:  # flows run on their own engines: plain ones stay as lean
        options["on_start"], options["flows"] = flow_parts
    flows = flow_parts is not None
    if isinstance(model, Closed):
        return (ClosedFlowEngine if flows else ClosedEngine)(stream.requests, model, **options)
    if isinstance(model, Users):
        return (UsersFlowEngine if flows else UsersEngine)(stream.requests, model, **options)
    return (OpenFlowEngine if flows else OpenEngine)(stream.requests, model, **options)


async def run_stream_async(stream: Stream, progress: ProgressCallback | None = None) -> Recording:
    """Run one stream in the running event loop (no extra processes).

    Usage: ``recording = await run_stream_async(Stream(specs, Closed(100, 4)))``
    """
    engine = make_engine(stream, stream.model, progress)
    recording = await engine.run()
    recording.metadata = machine_metadata()
    return recording


def run(
    requests: Sequence[RequestSpec],
    model: LoadModel,
    *,
    processes: int = 1,
    keepalive: bool = True,
    timeout_s: float = 30.0,
    progress: ProgressCallback | None = None,
    on_start: Sequence[RequestSpec] = (),
    flows: Sequence[Flow] = (),
) -> Recording:
    """Run one stream of requests (or flows of them) under `model`, merged over `processes`.

    Usage: ``run([RequestSpec("http://127.0.0.1:8000/")], Closed(1000, 10), processes=2)``
    """
    stream = Stream(requests, model, processes, keepalive, timeout_s, on_start, flows)
    return run_streams([stream], progress)


def run_streams(streams: Sequence[Stream], progress: ProgressCallback | None = None) -> Recording:
    """Run streams side by side (separate processes), merged per request name.

    Usage: ``run_streams([Stream(small, Open(10, 60)), Stream(large, Open(1, 60))])``
    """
    if not streams:
        raise RunError("no streams to run")
    parts = [(s, m) for s in streams for m in s.model.split(max(1, s.processes))]
    if len(parts) == 1:
        stream, model = parts[0]
        with _ctrl_c_stays_ctrl_c(), asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
            recording = runner.run(_run_part(stream, model, progress))
    else:
        recording = _run_in_processes(parts, progress)
    if len(streams) == 1:
        recording.model = streams[0].model.describe()
    else:
        recording.model = {"streams": [s.model.describe() for s in streams]}
    recording.metadata = machine_metadata()
    return recording


@contextlib.contextmanager
def _ctrl_c_stays_ctrl_c() -> Iterator[None]:
    """A Ctrl-C that lands while asyncio.Runner closes its loop leaves the loop marked running,
    and the close then raises RuntimeError("Cannot close a running event loop") in place of
    the KeyboardInterrupt (its context): it is still a Ctrl-C, and the bench must see one, of
    its own kind (a SIGTERM arrives as a subclass, perflab.cli.interrupt.Terminated)."""
    try:
        yield
    except RuntimeError as error:
        if isinstance(error.__context__, KeyboardInterrupt):
            raise type(error.__context__)() from error
        raise


async def _run_part(
    stream: Stream, model: LoadModel, progress: ProgressCallback | None
) -> Recording:
    return await make_engine(stream, model, progress).run()


def _child_main(stream: Stream, model: LoadModel, pipe: Connection) -> None:
    """A generator process: set up, report ready, wait for the start time, run, send back."""
    try:
        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
            recording = runner.run(_child_run(stream, model, pipe))
        pipe.send(("result", recording.to_dict()))
    except BaseException:  # the parent must hear about any failure, not wait forever
        pipe.send(("error", traceback.format_exc()))
    finally:
        pipe.close()


async def _child_run(stream: Stream, model: LoadModel, pipe: Connection) -> Recording:
    def progress(elapsed_s: float, requests: int, failures: int) -> None:
        pipe.send(("progress", (elapsed_s, requests, failures)))

    engine = make_engine(stream, model, progress)
    await engine.setup()
    pipe.send(("ready", None))
    start_at_unix_s = pipe.recv()  # blocking is fine: nothing is timed yet
    return await engine.run(start_at_unix_s)


def _run_in_processes(
    parts: list[tuple[Stream, LoadModel]], progress: ProgressCallback | None
) -> Recording:
    # spawn, not fork: the parent may hold threads (rich's live display) and an event loop.
    context = multiprocessing.get_context("spawn")
    pipes: list[Connection] = []
    children = []
    for stream, model in parts:
        parent_end, child_end = context.Pipe()
        child = context.Process(target=_child_main, args=(stream, model, child_end), daemon=True)
        child.start()
        child_end.close()
        pipes.append(parent_end)
        children.append(child)
    try:
        return _coordinate(pipes, progress)
    finally:
        for child in children:
            child.join(timeout=5)
            if child.is_alive():
                child.kill()


def _coordinate(pipes: list[Connection], progress: ProgressCallback | None) -> Recording:
    ready: set[Connection] = set()
    deadline = time.monotonic() + READY_TIMEOUT_S
    while len(ready) < len(pipes):
        waiting = [p for p in pipes if p not in ready]
        if not wait(waiting, timeout=max(0.0, deadline - time.monotonic())):
            raise RunError("generator processes did not get ready in time")
        for pipe in waiting:
            if pipe.poll():
                kind, payload = _receive(pipe)
                if kind == "ready":
                    ready.add(pipe)
    start_at_unix_s = time.time() + START_MARGIN_S
    for pipe in pipes:
        pipe.send(start_at_unix_s)
    latest: dict[int, tuple[float, int, int]] = {}
    results: dict[int, Recording] = {}
    while len(results) < len(pipes):
        for ready_pipe in wait([p for i, p in enumerate(pipes) if i not in results]):
            assert isinstance(ready_pipe, Connection)  # wait() hands back what it was given
            index = pipes.index(ready_pipe)
            kind, payload = _receive(ready_pipe)
            if kind == "progress":
                latest[index] = payload
                if progress is not None:
                    progress(
                        max(p[0] for p in latest.values()),
                        sum(p[1] for p in latest.values()),
                        sum(p[2] for p in latest.values()),
                    )
            elif kind == "result":
                results[index] = Recording.from_dict(payload)
    return Recording.merge_all([results[i] for i in range(len(pipes))])


def _receive(pipe: Connection) -> tuple[str, Any]:
    try:
        kind, payload = pipe.recv()
    except EOFError as exc:
        raise RunError("a generator process died without a result") from exc
    if kind == "error":
        raise RunError(f"a generator process failed:\n{payload}")
    return str(kind), payload
