"""How perflab's load models map onto locust's users, and each worker's share of a stream.

- **users** (locust's own model): `users` locust users spawned at `spawn_rate_per_s`, each
  looping with the think time; locust's dispatcher spreads them over the workers.
- **closed** (exactly N requests over C connections): C users without think time, and a
  quota: the N requests are divided between the workers in proportion to the users each got,
  so the cell sends exactly N (a worker that dies takes its unsent quota with it; the results
  say so). Nothing is sent twice and nothing is re-dispatched.
- **open** (a fixed arrival rate): C users act as the connection pool; each worker that got
  users runs one interleaved slice of the schedule (`Open.split`), so the union over workers
  is exactly the rate, and latency counts from the scheduled time (coordinated omission
  corrected, which locust itself cannot do).

Users of the closed and open models are spawned at once (spawn rate = their count).

Usage::

    users_per_stream(streams)                    # -> [100] (locust users, one count per stream)
    worker_share(Closed(1000, 100), users={"a": 50, "b": 50}, worker="a")  # -> 500 (a quota)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from perflab.loadgen import Closed, LoadModel, Open, Stream, Users


def locust_users(model: LoadModel) -> int:
    """Locust users a model needs (users, or connections). Usage: ``locust_users(model)``"""
    return model.users if isinstance(model, Users) else model.connections


def users_per_stream(streams: Sequence[Stream]) -> list[int]:
    """Locust users of each stream, in order. Usage: ``users_per_stream(streams)``"""
    return [locust_users(stream.model) for stream in streams]


def spawn_rate_per_s(streams: Sequence[Stream]) -> float:
    """Locust's one spawn rate for the cell: users models ramp at their own rates (summed:
    streams ramp side by side); closed and open users all start at once.

    Usage: ``spawn_rate_per_s(streams)``
    """
    rate = 0.0
    for stream in streams:
        model = stream.model
        rate += model.spawn_rate_per_s if isinstance(model, Users) else locust_users(model)
    return rate


def waits_for_spawning(streams: Sequence[Stream]) -> bool:
    """Whether the load starts once every user is spawned (no users model: their ramp is the
    model, so those start as soon as the workers are ready). Usage: ``waits_for_spawning(s)``
    """
    return not any(isinstance(stream.model, Users) for stream in streams)


def proportional_shares(total: int, weights: Mapping[str, int]) -> dict[str, int]:
    """`total` split in proportion to `weights` (largest remainder, keys in sorted order on a
    tie): the shares sum to `total`, and a key of weight 0 gets 0 unless all are 0.

    Usage: ``proportional_shares(10, {"a": 1, "b": 2})  # -> {"a": 3, "b": 7}``
    """
    keys = sorted(weights)
    weight_sum = sum(weights[k] for k in keys)
    if not keys:
        return {}
    if weight_sum <= 0:
        weights = dict.fromkeys(keys, 1)
        weight_sum = len(keys)
    exact = {k: total * weights[k] / weight_sum for k in keys}
    shares = {k: int(exact[k]) for k in keys}
    left = total - sum(shares.values())
    by_remainder = sorted(keys, key=lambda k: (-(exact[k] - shares[k]), keys.index(k)))
    for key in by_remainder[:left]:
        shares[key] += 1
    return shares


@dataclass(frozen=True)
class Share:
    """One worker's part of one stream: a quota (closed), a schedule slice (open) or the
    users locust gave it (users). Usage: ``Share.of(model, users, worker)``"""

    quota: int | None = None  # closed: requests this worker sends, then it is done
    schedule: Open | None = None  # open: this worker's interleaved slice of the schedule

    def to_dict(self) -> dict[str, object]:
        """JSON-ready, for the share message. Usage: ``share.to_dict()``"""
        if self.schedule is not None:
            return {
                "schedule": {
                    "phase_s": self.schedule.phase_s,
                    "interval_factor": self.schedule.interval_factor,
                }
            }
        return {"quota": self.quota}

    @classmethod
    def from_dict(cls, data: Mapping[str, object], model: LoadModel) -> Share:
        """Inverse of `to_dict`, for `model`. Usage: ``Share.from_dict(d, stream.model)``"""
        schedule = data.get("schedule")
        if isinstance(model, Open) and isinstance(schedule, Mapping):
            return cls(
                schedule=Open(
                    model.rate_per_s,
                    model.duration_s,
                    model.connections,
                    model.late_after_ms,
                    float(schedule["phase_s"]),
                    float(schedule["interval_factor"]),
                )
            )
        quota = data.get("quota")
        return cls(quota=int(quota) if isinstance(quota, int) else None)


def worker_share(model: LoadModel, users: Mapping[str, int], worker: str) -> Share:
    """`worker`'s share of a stream, given how many of its users each worker holds.

    Usage: ``worker_share(Closed(1000, 100), {"a": 50, "b": 50}, "a").quota  # -> 500``
    """
    if isinstance(model, Closed):
        return Share(quota=proportional_shares(model.requests, users).get(worker, 0))
    if isinstance(model, Open):
        serving = sorted(w for w, count in users.items() if count > 0)
        if worker not in serving:
            return Share(quota=0)  # no connection here: the others carry the whole schedule
        return Share(schedule=model.split(len(serving))[serving.index(worker)])
    return Share()
