"""The master's account of a distributed run: each worker's deltas merged, losslessly, and
what became of each worker.

Every worker's deltas (`perflab.locust.worker_recording`) are added into that worker's own
per-name `NameStats`, so a worker that dies mid-run keeps what it had reported, under its
own name. At the end the workers merge into one `perflab.loadgen.Recording` (histograms add
counts, so the cell's percentiles are exact), with every worker's host, load and fate in
``metadata["locust"]["workers"]``.

A worker's status:

- ``finished``: it completed its share and sent its final report;
- ``stopped``: it sent a final report without completing its share (the run was stopped
  early: Ctrl-C, or the run's deadline);
- ``lost``: no final report (killed, or unreachable): what it reported before is merged,
  and ``last_report_unix_s`` says until when.

Usage::

    ledger = Ledger()
    ledger.join("w1", {"host": "box", "pid": 123})
    ledger.add("w1", delta)                         # a worker report, or its final one
    recording = ledger.recording(target, model, started_at_unix_s=t0)
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from perflab.loadgen.recording import NameStats, Recording
from perflab.locust.worker_recording import delta_names

FINISHED, STOPPED, LOST = "finished", "stopped", "lost"


@dataclass
class WorkerAccount:
    """What one worker reported. Usage: ``ledger.workers["w1"].requests``"""

    client_id: str
    host: str = ""
    pid: int | None = None
    index: int | None = None  # its place in the run (None: it joined after the start)
    users: dict[str, int] = field(default_factory=dict)  # locust users per stream
    names: dict[str, NameStats] = field(default_factory=dict)
    reports: int = 0
    last_report_unix_s: float | None = None
    last_answer_unix_s: float | None = None
    cpu_s: float = 0.0  # the worker process's CPU since the start (its latest report)
    ready: bool = False  # its request bytes are built
    done: bool = False  # it completed its share
    final: bool = False  # its final report arrived

    @property
    def requests(self) -> int:
        """Requests it finished. Usage: ``account.requests``"""
        return sum(stats.requests for stats in self.names.values())

    @property
    def failures(self) -> int:
        """Failures among them. Usage: ``account.failures``"""
        return sum(stats.failure_count for stats in self.names.values())

    @property
    def status(self) -> str:
        """finished | stopped | lost (see the module docstring). Usage: ``account.status``"""
        if not self.final:
            return LOST
        return FINISHED if self.done else STOPPED

    def describe(self) -> dict[str, Any]:
        """JSON-ready, for the recording's metadata. Usage: ``account.describe()``"""
        requests = self.requests
        return {
            "client_id": self.client_id,
            "host": self.host,
            "pid": self.pid,
            "index": self.index,
            "status": self.status,
            "users": self.users,
            "requests": requests,
            "failures": self.failures,
            "reports": self.reports,
            "last_report_unix_s": self.last_report_unix_s,
            "cpu_s": round(self.cpu_s, 3),
            "cpu_us_per_request": round(1e6 * self.cpu_s / requests, 2) if requests else None,
        }


class Ledger:
    """Every worker's account. Usage: see the module docstring."""

    def __init__(self) -> None:
        self.workers: dict[str, WorkerAccount] = {}

    def join(self, client_id: str, hello: dict[str, Any]) -> WorkerAccount:
        """A worker introduced itself (host, pid). Usage: ``ledger.join(id, {"host": h})``"""
        account = self.workers.setdefault(client_id, WorkerAccount(client_id))
        account.host = str(hello.get("host", account.host))
        pid = hello.get("pid")
        account.pid = int(pid) if isinstance(pid, int) else account.pid
        return account

    def account(self, client_id: str) -> WorkerAccount:
        """The account of `client_id` (opened if new). Usage: ``ledger.account(id).ready``"""
        return self.workers.setdefault(client_id, WorkerAccount(client_id))

    def add(self, client_id: str, delta: dict[str, Any], *, final: bool = False) -> None:
        """Add a worker's delta (a periodic report, or its final one). Usage: see module."""
        account = self.account(client_id)
        for name, stats in delta_names(delta).items():
            account.names.setdefault(name, NameStats(name, stats.method)).merge(stats)
        account.reports += 1
        account.last_report_unix_s = time.time()
        answered = delta.get("last_answer_unix_s")
        if isinstance(answered, int | float):
            account.last_answer_unix_s = max(account.last_answer_unix_s or 0.0, float(answered))
        cpu_s = delta.get("cpu_s")
        if isinstance(cpu_s, int | float):
            account.cpu_s = float(cpu_s)
        account.done = account.done or bool(delta.get("done"))
        account.final = account.final or final

    def totals(self) -> tuple[int, int]:
        """Requests and failures reported so far. Usage: ``requests, failures = l.totals()``"""
        return (
            sum(a.requests for a in self.workers.values()),
            sum(a.failures for a in self.workers.values()),
        )

    def recording(
        self,
        target: str,
        model: dict[str, Any],
        *,
        started_at_unix_s: float,
        metadata: dict[str, Any] | None = None,
    ) -> Recording:
        """Every worker merged into one recording, workers described in its metadata.

        Usage: ``ledger.recording("http://127.0.0.1:8000", {"model": "closed", ...}, t0)``
        """
        planned = [a for a in self.workers.values() if a.index is not None or a.names]
        ended = [a.last_answer_unix_s for a in planned if a.last_answer_unix_s is not None]
        recording = Recording(
            target=target,
            model=model,
            started_at_unix_s=started_at_unix_s,
            ended_at_unix_s=max(ended, default=started_at_unix_s),
            processes=len(planned),
            connections=sum(sum(a.users.values()) for a in planned),
            generator_cpu_s=sum(a.cpu_s for a in planned),
            metadata=dict(metadata or {}),
        )
        for account in planned:
            for name, stats in account.names.items():
                recording.names.setdefault(name, NameStats(name, stats.method)).merge(stats)
        ordered = sorted(planned, key=lambda a: (a.index is None, a.index or 0, a.client_id))
        recording.metadata.setdefault("locust", {})["workers"] = [a.describe() for a in ordered]
        return recording
