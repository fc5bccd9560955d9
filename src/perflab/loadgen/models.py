"""The three load models, as plain data: closed (ab), users (locust), open (wrk2, k6).

- `Closed`: exactly `requests` requests over `connections` connections, each connection
  sending its next request as soon as the previous answer arrives. A slow server slows the
  generator down with it, so stalls are *hidden* (coordinated omission).
- `Users`: `users` simulated users started at `spawn_rate_per_s`, each looping over the
  requests with a random think time in `think_s`, for `duration_s`.
- `Open`: sends *scheduled* at `rate_per_s` for `duration_s`, whatever the server does.
  Latency counts from the scheduled time, so a stall shows in the percentiles.

`split(parts)` divides a model's load between generator processes so that their sum is
the model (open schedules are interleaved by phase, so the union stays evenly spaced).

Usage::

    Closed(requests=10_000, connections=10).split(2)   # two halves of 5,000 over 5 each
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from typing import Any

from perflab.loadgen.errors import LoadgenError


def _shares(total: int, parts: int) -> list[int]:
    """`total` split into `parts` integers that differ by at most one and sum to `total`."""
    return [total // parts + (1 if i < total % parts else 0) for i in range(parts)]


@dataclass(frozen=True)
class Closed:
    """ab's model. Usage: ``Closed(requests=1000, connections=100)``"""

    requests: int
    connections: int = 1

    def __post_init__(self) -> None:
        if self.requests < 1 or self.connections < 1:
            raise LoadgenError("closed model needs requests >= 1 and connections >= 1")

    def split(self, parts: int) -> list[Closed]:
        """Per-process shares. Usage: ``Closed(10, 2).split(2)``"""
        parts = min(parts, self.requests, self.connections)
        return [
            Closed(n, c)
            for n, c in zip(
                _shares(self.requests, parts), _shares(self.connections, parts), strict=True
            )
        ]

    def describe(self) -> dict[str, Any]:
        """JSON-ready description. Usage: ``model.describe()``"""
        return {"model": "closed", **asdict(self)}


@dataclass(frozen=True)
class Users:
    """locust's model.

    Usage: ``Users(users=200, spawn_rate_per_s=20, duration_s=60, think_s=(1, 5))``"""

    users: int
    spawn_rate_per_s: float
    duration_s: float
    think_s: tuple[float, float] = (0.0, 0.0)

    def __post_init__(self) -> None:
        if self.users < 1 or self.spawn_rate_per_s <= 0 or self.duration_s <= 0:
            raise LoadgenError("users model needs users >= 1, spawn rate > 0, duration > 0")
        if not 0 <= self.think_s[0] <= self.think_s[1]:
            raise LoadgenError(f"think time must be 0 <= low <= high, got {self.think_s}")

    @property
    def connections(self) -> int:
        """One connection per user, as locust's FastHttpUser. Usage: ``model.connections``"""
        return self.users

    def split(self, parts: int) -> list[Users]:
        """Per-process shares (spawn rate divided alike). Usage: ``Users(10, 2, 5).split(2)``"""
        parts = min(parts, self.users)
        return [
            replace(self, users=u, spawn_rate_per_s=self.spawn_rate_per_s * u / self.users)
            for u in _shares(self.users, parts)
        ]

    def describe(self) -> dict[str, Any]:
        """JSON-ready description. Usage: ``model.describe()``"""
        return {"model": "users", **asdict(self)}


@dataclass(frozen=True)
class Open:
    """wrk2/k6 arrival-rate model. Usage: ``Open(rate_per_s=2000, duration_s=30, connections=64)``

    `connections` caps the connections the generator opens; when all are busy a due request
    waits (its latency still counts from its scheduled time). A request that waited longer
    than the timeout, or was still waiting at the end, is *dropped*; one sent more than
    `late_after_ms` after its scheduled time is *late*.
    """

    rate_per_s: float
    duration_s: float
    connections: int = 64
    late_after_ms: float = 10.0
    phase_s: float = 0.0  # offset of this process's schedule (set by `split`)
    interval_factor: float = 1.0  # this process sends every interval_factor / rate_per_s

    def __post_init__(self) -> None:
        if self.rate_per_s <= 0 or self.duration_s <= 0 or self.connections < 1:
            raise LoadgenError("open model needs rate > 0, duration > 0, connections >= 1")

    @property
    def interval_ns(self) -> int:
        """Time between this process's scheduled sends. Usage: ``model.interval_ns``"""
        return round(1e9 * self.interval_factor / self.rate_per_s)

    @property
    def scheduled_sends(self) -> int:
        """How many sends this process schedules. Usage: ``model.scheduled_sends``"""
        span_ns = round(1e9 * (self.duration_s - self.phase_s))
        return max(0, -(-span_ns // self.interval_ns))  # ceil: sends at 0, i, 2i, ... < span

    def split(self, parts: int) -> list[Open]:
        """Interleaved per-process schedules; their union is this one. Usage: ``m.split(2)``"""
        return [
            replace(
                self,
                connections=c,
                phase_s=i / self.rate_per_s,
                interval_factor=float(parts),
            )
            for i, c in enumerate(_shares(max(self.connections, parts), parts))
        ]

    def describe(self) -> dict[str, Any]:
        """JSON-ready description. Usage: ``model.describe()``"""
        return {
            "model": "open",
            "rate_per_s": self.rate_per_s,
            "duration_s": self.duration_s,
            "connections": self.connections,
            "late_after_ms": self.late_after_ms,
        }


LoadModel = Closed | Users | Open
