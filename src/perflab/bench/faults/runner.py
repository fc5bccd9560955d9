"""Running a cell's faults: each at its time on a thread, against the processes, private
services and database the cell's target exposes (docs/faults.md).

Usage::

    runner = FaultRunner(faults, FaultContext(server_pid=target.pid))
    runner.start(time.time())          # when the load starts
    ...
    events = runner.stop()             # what happened, when
"""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import psutil

from perflab.bench.faults.spec import Fault


class Restartable(Protocol):
    """A private service the bench can stop and start (bench.private_services)."""

    def stop(self) -> None: ...

    def start(self) -> None: ...


@dataclass
class FaultContext:
    """What faults can reach in a running cell. Usage: ``FaultContext(server_pid=pid)``"""

    server_pid: int | None = None
    queue_worker_pids: list[int] = field(default_factory=list)
    services: dict[str, Restartable] = field(default_factory=dict)  # "redis", "postgres"
    database_url: str | None = None
    # (requests, connections) -> what the burst's own requests got, when they are done
    burst: Callable[[int, int], str] | None = None


def _cmdline(process: psutil.Process) -> str:
    try:
        return " ".join(process.cmdline())
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return ""


def server_workers(server_pid: int) -> list[psutil.Process]:
    """The web workers of a `perflab serve` (uvicorn's spawned children), or the server
    itself when it runs one worker. Usage: ``server_workers(target.pid)``"""
    try:
        leader = psutil.Process(server_pid)
        children = leader.children()
    except psutil.NoSuchProcess:
        return []
    spawned = [c for c in children if "multiprocessing.spawn" in _cmdline(c)]
    return spawned or [leader]


def offload_workers(server_pid: int) -> list[psutil.Process]:
    """Processes of the offload pools: forked by a server worker's forkserver (pebble's pool
    runs on the forkserver start method). Usage: ``offload_workers(target.pid)``"""
    found = []
    for worker in server_workers(server_pid):
        try:
            for child in worker.children():
                if "multiprocessing.forkserver" in _cmdline(child):
                    found.extend(child.children())
        except psutil.NoSuchProcess:
            continue
    return found


def find_processes(fault: Fault, context: FaultContext) -> list[psutil.Process]:
    """The processes a kill or pause fault hits: one of its kind (the first found), or for
    `process` the first whose command line holds `match`. Usage: see FaultRunner."""
    if fault.target == "queue_worker":
        candidates = []
        for pid in context.queue_worker_pids:
            try:
                leader = psutil.Process(pid)
                # A `perflab worker` leads processes that take jobs; hit one of those.
                candidates.extend(leader.children() or [leader])
            except psutil.NoSuchProcess:
                continue
    elif context.server_pid is None:
        return []
    elif fault.target == "server_worker":
        candidates = server_workers(context.server_pid)
    elif fault.target == "offload_worker":
        candidates = offload_workers(context.server_pid)
    else:
        try:
            leader = psutil.Process(context.server_pid)
            tree = [leader, *leader.children(recursive=True)]
        except psutil.NoSuchProcess:
            return []
        candidates = [p for p in tree if fault.match and fault.match in _cmdline(p)]
    return candidates[:1]


def terminate_backends(database_url: str) -> int:
    """End every other session of the database (`pg_terminate_backend`); how many.
    Usage: ``terminate_backends("postgresql://postgres@127.0.0.1:5432/test")``"""
    import psycopg  # only fault cells need it

    statement = (
        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
        "WHERE datname = current_database() AND pid <> pg_backend_pid()"
    )
    with psycopg.connect(database_url, autocommit=True, connect_timeout=5) as conn:
        row = conn.execute(statement).fetchone()
    return int(row[0]) if row else 0


class FaultRunner:
    """Runs a cell's faults on a thread, each at its time after `start(t0)`; `events` says
    what happened. Usage: ``runner.start(time.time()); ...; runner.stop()``"""

    def __init__(self, faults: list[Fault], context: FaultContext) -> None:
        self.faults = sorted(faults, key=lambda f: f.at_s)
        self.context = context
        self.events: list[dict[str, Any]] = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._t0_unix_s = 0.0

    def start(self, t0_unix_s: float) -> None:
        """Start the clock: fault times count from `t0_unix_s`. Usage: see class."""
        self._t0_unix_s = t0_unix_s
        self._thread = threading.Thread(target=self._run, name="perflab-faults", daemon=True)
        self._thread.start()

    def stop(self) -> list[dict[str, Any]]:
        """Wait for a fault in progress to finish (a paused process is always resumed, a
        stopped service always started again), skip those not reached. Usage: see class."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        return self.events

    def _now_s(self) -> float:
        return time.time() - self._t0_unix_s

    def _run(self) -> None:
        for fault in self.faults:
            if self._stop.wait(max(0.0, fault.at_s - self._now_s())):
                self.events.append(self._event(fault, error="not reached: the load ended"))
                continue
            started_s = self._now_s()
            try:
                detail = self._apply(fault)
                error = None
            except (OSError, psutil.Error, RuntimeError) as exc:
                detail, error = "", f"{type(exc).__name__}: {exc}"
            self.events.append(
                self._event(
                    fault, started_s=started_s, back_s=self._now_s(), detail=detail, error=error
                )
            )

    def _event(
        self,
        fault: Fault,
        *,
        started_s: float | None = None,
        back_s: float | None = None,
        detail: str = "",
        error: str | None = None,
    ) -> dict[str, Any]:
        return {
            "name": fault.name,
            "action": fault.action,
            "target": fault.target,
            "planned_at_s": fault.at_s,
            "at_s": None if started_s is None else round(started_s, 3),
            "back_at_s": None if back_s is None else round(back_s, 3),
            "detail": detail,
            "error": error,
        }

    def _apply(self, fault: Fault) -> str:
        """Do the fault; return when the part is back (or, for a kill, at once)."""
        if fault.action in ("kill", "pause"):
            processes = find_processes(fault, self.context)
            if not processes:
                raise RuntimeError(f"no {fault.target} process found to {fault.action}")
            pids = [p.pid for p in processes]
            if fault.action == "kill":
                for pid in pids:
                    os.kill(pid, signal.SIGKILL)
                return f"SIGKILL to pid {', '.join(map(str, pids))}"
            for pid in pids:
                os.kill(pid, signal.SIGSTOP)
            try:
                time.sleep(fault.duration_s)  # never cut short: a stopped process stays stopped
            finally:
                for pid in pids:
                    os.kill(pid, signal.SIGCONT)
            return f"SIGSTOP, SIGCONT after {fault.duration_s:g} s to pid {pids}"
        if fault.action == "restart":
            service = self.context.services.get(fault.target)
            if service is None:
                raise RuntimeError(f"no private {fault.target} in this cell to restart")
            service.stop()
            try:
                time.sleep(fault.duration_s)
            finally:
                service.start()
            return f"private {fault.target} stopped for {fault.duration_s:g} s"
        if fault.action == "drop_connections":
            if self.context.database_url is None:
                raise RuntimeError("this cell has no database to drop connections of")
            return f"{terminate_backends(self.context.database_url)} sessions terminated"
        if self.context.burst is None:
            raise RuntimeError("this cell cannot send a burst")
        outcome = self.context.burst(fault.requests, fault.connections)
        return f"{fault.requests} requests over {fault.connections} connections: {outcome}"
