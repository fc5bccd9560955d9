"""Admission by expected wait and by memory: whether a request may wait for a bounded resource.

Every bounded resource (the offloader's slots, the threadpool behind `def` endpoints, the
downstream pool, body spooling) owns one `Admission`. It has `slots` that serve at once, learns
its service time from the jobs it finishes (an exponentially weighted mean), and counts the jobs
in the system and the bytes they hold. A new job is admitted unless

- the wait it would see exceeds its budget: with `n` jobs already in the system, a job waits
  for `n - slots + 1` completions, at the rate the resource has completed jobs while a queue
  stood (or, before it has been that busy, `slots / s` per second for service time `s`).
  The budget is
  `PERFLAB_QUEUE_BUDGET_S`, or less when the client asks for less (`X-Queue-Budget-S` header);
- or its bytes plus the bytes already held exceed the memory budget (`PERFLAB_QUEUE_MEMORY_MB`).

A refused job raises `Overloaded` at once (503 within microseconds, never a timeout later), with
a `Retry-After` computed from the estimate and the reason in the error's details. A resource that
has finished nothing yet has no estimate and admits by memory only: it cannot know better, and
the first answers teach it.

Usage:
    admission = Admission("offload", slots=2, budget_s=30.0, memory_budget_bytes=1 << 30)
    with admission.admit(cost_bytes=len(body)) as ticket:
        ticket.start()          # the job leaves the queue and starts being served
        ...                     # closing the ticket records the service time and frees the bytes
"""

from __future__ import annotations

import contextvars
import math
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from types import TracebackType
from typing import Any

from prometheus_client import Counter, Gauge

from perflab.app.errors import Overloaded

BUDGET_HEADER = "x-queue-budget-s"
# Completions seen in a busy period before its drain rate is trusted over per-job times, and
# the weight of each new interval after the first ones (about the last 20 intervals).
_MIN_DRAIN_INTERVALS = 2
_DRAIN_SMOOTHING = 0.05

# The budget the current request asked for (None: the server's). Set by the middleware from
# BUDGET_HEADER; read by every admission the request meets, in the loop or in a thread.
_request_budget_s: contextvars.ContextVar[float | None] = contextvars.ContextVar(
    "perflab_request_budget_s", default=None
)

EXPECTED_WAIT = Gauge(
    "perflab_admission_expected_wait_seconds",
    "Wait a request admitted now would see before service, per resource (max over workers).",
    ["resource"],
    multiprocess_mode="livemax",
)
IN_SYSTEM = Gauge(
    "perflab_admission_in_system",
    "Jobs admitted and not finished (running or waiting), per resource.",
    ["resource"],
    multiprocess_mode="livesum",
)
HELD_BYTES = Gauge(
    "perflab_admission_held_bytes",
    "Bytes held by admitted jobs, per resource.",
    ["resource"],
    multiprocess_mode="livesum",
)
SHED = Counter(
    "perflab_admission_shed_total",
    "Requests refused with 503 at admission, per resource and reason (expected_wait, memory).",
    ["resource", "reason"],
)


def parse_budget_header(value: bytes) -> float | None:
    """The budget a client asked for, in seconds; None when the header is not a number >= 0."""
    try:
        budget_s = float(value)
    except ValueError:
        return None
    return budget_s if math.isfinite(budget_s) and budget_s >= 0 else None


def set_request_budget(budget_s: float | None) -> contextvars.Token[float | None]:
    return _request_budget_s.set(budget_s)


def reset_request_budget(token: contextvars.Token[float | None]) -> None:
    _request_budget_s.reset(token)


@dataclass(frozen=True)
class AdmissionStats:
    resource: str
    slots: int
    in_system: int
    running: int
    waiting: int
    held_bytes: int
    service_time_s: float | None
    expected_wait_s: float
    budget_s: float
    memory_budget_bytes: int
    admitted: int
    shed_expected_wait: int
    shed_memory: int

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class Ticket:
    """One admitted job: frees its place and bytes when closed, and teaches the service time."""

    __slots__ = ("_admission", "_closed", "_started_s", "cost_bytes")

    def __init__(self, admission: Admission, cost_bytes: int) -> None:
        self._admission = admission
        self.cost_bytes = cost_bytes
        self._started_s: float | None = None
        self._closed = False

    def start(self) -> None:
        """The job leaves the queue: its service time counts from now."""
        if self._started_s is None:
            self._started_s = time.perf_counter()
            self._admission.running += 1

    def close(self, *, service_s: float | None = None, learn: bool = True) -> None:
        """Release the job. `service_s` overrides the measured time (e.g. timed in a thread);
        `learn=False` for a job that failed early, whose time says nothing about the resource."""
        if self._closed:
            return
        self._closed = True
        if self._started_s is not None:
            self._admission.running -= 1
            if service_s is None:
                service_s = time.perf_counter() - self._started_s
        self._admission._release(self, service_s if learn else None)

    def __enter__(self) -> Ticket:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


class Admission:
    """Admits jobs to one resource by expected wait and memory (see the module docstring).

    Not thread-safe: admit and close from the event loop (a thread-timed job hands its service
    time to `Ticket.close`).
    """

    def __init__(
        self,
        resource: str,
        slots: int,
        budget_s: float,
        memory_budget_bytes: int,
        *,
        smoothing: float = 0.2,
        service_time_s: float | None = None,
        on_shed: Callable[[], None] | None = None,
    ) -> None:
        self.resource = resource
        self.slots = max(1, slots)
        self.budget_s = budget_s
        self.memory_budget_bytes = memory_budget_bytes
        self.smoothing = smoothing
        self.service_time_s = service_time_s
        self.in_system = 0
        self.running = 0
        self.held_bytes = 0
        self.admitted = 0
        self.shed = {"expected_wait": 0, "memory": 0}
        self._shed_counters = {r: SHED.labels(resource, r) for r in self.shed}
        self._on_shed = on_shed  # e.g. a resource's own older metric of refusals
        # Time between completions while every slot is busy: how fast the queue really drains.
        # Per-job time x queue / slots overestimates when a few jobs are slowed (another
        # tenant, a GC pause) and jobs overlap; the drain rate already counts all of that.
        # Learned afresh in each busy period (another period may have had other work in it):
        # a mean of the first intervals, then a slow average, as single intervals are bursty.
        self.drain_interval_s: float | None = None
        self._drain_intervals = 0
        self._last_busy_completion_s: float | None = None

    def expected_wait_s(self, ahead: int | None = None) -> float:
        """Wait before service for a job arriving behind `ahead` jobs (default: those now in)."""
        ahead = self.in_system if ahead is None else ahead
        if ahead < self.slots:
            return 0.0
        if self.drain_interval_s is not None and self._drain_intervals >= _MIN_DRAIN_INTERVALS:
            return (ahead - self.slots + 1) * self.drain_interval_s
        if self.service_time_s is None:
            return 0.0
        return (ahead - self.slots + 1) * self.service_time_s / self.slots

    def admit(self, cost_bytes: int = 0, budget_s: float | None = None) -> Ticket:
        """A ticket for one job, or `Overloaded` (503) when its wait or bytes would not fit."""
        budget_s = self._budget(budget_s)
        wait_s = self.expected_wait_s()
        if wait_s > budget_s:
            self._refuse(
                "expected_wait",
                f"{self.resource} is busy: expected wait {wait_s:.2f} s exceeds the "
                f"{budget_s:g} s budget",
                retry_after_s=wait_s - budget_s,
                wait_s=wait_s,
                budget_s=budget_s,
            )
        if cost_bytes and self.held_bytes + cost_bytes > self.memory_budget_bytes:
            held_mb = self.held_bytes / 1e6
            self._refuse(
                "memory",
                f"{self.resource} holds {held_mb:.0f} MB; {cost_bytes / 1e6:.1f} MB more would "
                f"exceed its {self.memory_budget_bytes / 1e6:.0f} MB memory budget",
                retry_after_s=max(wait_s, self.service_time_s or 1.0),
                wait_s=wait_s,
                budget_s=budget_s,
            )
        self.in_system += 1
        self.held_bytes += cost_bytes
        self.admitted += 1
        return Ticket(self, cost_bytes)

    def _budget(self, budget_s: float | None) -> float:
        asked = _request_budget_s.get()
        candidates = [b for b in (self.budget_s, budget_s, asked) if b is not None]
        return min(candidates)

    def _refuse(
        self, reason: str, message: str, *, retry_after_s: float, wait_s: float, budget_s: float
    ) -> None:
        self.shed[reason] += 1
        self._shed_counters[reason].inc()
        if self._on_shed is not None:
            self._on_shed()
        raise Overloaded(
            message,
            retry_after_s=retry_after_s,
            details=[
                {
                    "resource": self.resource,
                    "reason": reason,
                    "expected_wait_s": round(wait_s, 3),
                    "budget_s": budget_s,
                    "held_bytes": self.held_bytes,
                    "memory_budget_bytes": self.memory_budget_bytes,
                }
            ],
        )

    def _release(self, ticket: Ticket, service_s: float | None) -> None:
        saturated = self.in_system > self.slots  # a job is waiting for the slot this frees
        self.in_system -= 1
        self.held_bytes -= ticket.cost_bytes
        if service_s is not None:
            self._learn_drain(saturated)
            if self.service_time_s is None:
                self.service_time_s = service_s
            else:
                self.service_time_s += self.smoothing * (service_s - self.service_time_s)

    def _learn_drain(self, saturated: bool) -> None:
        now = time.perf_counter()
        if not saturated:
            # The busy period ended: the next interval would include idle time.
            self._last_busy_completion_s = None
            self._drain_intervals = 0
            self.drain_interval_s = None
            return
        if self._last_busy_completion_s is not None:
            interval_s = now - self._last_busy_completion_s
            self._drain_intervals += 1
            weight = max(1 / self._drain_intervals, _DRAIN_SMOOTHING)
            previous = self.drain_interval_s if self.drain_interval_s is not None else interval_s
            self.drain_interval_s = previous + weight * (interval_s - previous)
        self._last_busy_completion_s = now

    def stats(self) -> AdmissionStats:
        return AdmissionStats(
            resource=self.resource,
            slots=self.slots,
            in_system=self.in_system,
            running=self.running,
            waiting=max(0, self.in_system - self.running),
            held_bytes=self.held_bytes,
            service_time_s=None if self.service_time_s is None else round(self.service_time_s, 6),
            expected_wait_s=round(self.expected_wait_s(), 6),
            budget_s=self.budget_s,
            memory_budget_bytes=self.memory_budget_bytes,
            admitted=self.admitted,
            shed_expected_wait=self.shed["expected_wait"],
            shed_memory=self.shed["memory"],
        )


def sampler(admissions: Callable[[], Iterable[Admission]]) -> Callable[[], None]:
    """A loop-monitor sampler that copies every admission's state into its gauges."""

    def sample() -> None:
        for admission in admissions():
            EXPECTED_WAIT.labels(admission.resource).set(admission.expected_wait_s())
            IN_SYSTEM.labels(admission.resource).set(admission.in_system)
            HELD_BYTES.labels(admission.resource).set(admission.held_bytes)

    return sample
