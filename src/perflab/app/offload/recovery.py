"""Jobs a worker process takes back: a dead worker's, and its own that never reached it.

Every job handed out sits in its consumer's pending list (PEL) until answered, and the only
thing that keeps a pending job from being re-claimed is its consumer's heartbeat. So the rule
is: **a process keeps alive only the jobs it holds in memory** (`HeldJobs`: handed to its
kernel thread and not yet answered and acknowledged: running, read ahead, or answered while
Redis was away; the consumer drops from a batch any job it already holds, so one re-claimed
from itself after its heartbeats failed for a while does not run twice there).
A job in its PEL that it does not hold was delivered but lost on the way (the connection broke
after Redis sent an XREADGROUP's or RECLAIM's answer and before the process read it); the
heartbeat leaves it alone, so it goes idle and is re-claimed like a dead worker's job.

Re-claiming that way waits for the visibility timeout, so the consumer also looks at once
(`Recovery.own_lost`): after any Redis error in its loop, before it reads new jobs with '>',
the RECOVER script hands it the jobs of its own PEL it does not hold. Each path alone loses
nothing; together a lost delivery costs no more than the Redis outage that caused it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Mapping
from typing import Any

from redis.asyncio import Redis

from perflab.app.errors import KernelFailed
from perflab.app.offload.job_runner import Delivery, Outcome
from perflab.app.offload.kernels import Kernel
from perflab.app.offload.streams import (
    DEAD_LETTER_MAXLEN,
    FORGET_CONSUMERS,
    RECLAIM,
    RECOVER,
    QueueNames,
)
from perflab.app.offload.wire import Reply, decode_job, encode, error_to_wire
from perflab.config import Settings

log = logging.getLogger("perflab.worker")

FORGET_EVERY_S = 60.0  # how often a worker forgets consumers long gone (housekeeping)


class HeldJobs:
    """The ids of the jobs this process holds, by job stream. Usage: `held.take(batch)` when
    handed to the kernel thread, `held.release(batch)` once answered and acknowledged."""

    def __init__(self, job_streams: Iterable[str]) -> None:
        self._ids: dict[str, set[str]] = {stream: set() for stream in job_streams}

    def take(self, deliveries: Iterable[Delivery]) -> None:
        for delivery in deliveries:
            self._ids[delivery.stream].add(delivery.entry_id)

    def release(self, deliveries: Iterable[Delivery]) -> None:
        for delivery in deliveries:
            self._ids[delivery.stream].discard(delivery.entry_id)

    def holds(self, delivery: Delivery) -> bool:
        return delivery.entry_id in self._ids[delivery.stream]

    def ids(self, stream: str) -> list[str]:
        return sorted(self._ids[stream])

    def heartbeat_args(self) -> list[str | int]:
        """HEARTBEAT's ARGV after group and consumer: per job stream, in order, n and n ids."""
        args: list[str | int] = []
        for ids in self._ids.values():
            args += [len(ids), *ids]
        return args

    def __len__(self) -> int:
        return sum(len(ids) for ids in self._ids.values())


class Recovery:
    """RECLAIM (dead workers' jobs, dead letters) and RECOVER (this consumer's lost
    deliveries) for one consumer. Usage: `recovery.needed = True` after a Redis error, then
    each turn `await recovery.own_lost()` and `await recovery.reclaim_due()` before a read."""

    def __init__(
        self,
        redis: Redis,
        settings: Settings,
        consumer: str,
        kernels: Mapping[str, Kernel],
        held: HeldJobs,
    ) -> None:
        self.settings = settings
        self.names = QueueNames(settings.queue_namespace)
        self.consumer = consumer
        self.kernels = kernels
        self.held = held
        self.needed = False  # a Redis error since the last look: deliveries may be lost
        self._reclaim = redis.register_script(RECLAIM)
        self._recover = redis.register_script(RECOVER)
        self._forget = redis.register_script(FORGET_CONSUMERS)
        self._every_s = settings.queue_visibility_timeout_s / 4
        self._visibility_ms = round(settings.queue_visibility_timeout_s * 1000)
        self._next_reclaim_s = 0.0
        self._next_forget_s = 0.0

    async def own_lost(self) -> list[Delivery]:
        """When `needed`: up to batch_max jobs in this consumer's PEL that it does not hold
        (their idle time reset, delivery count kept). `needed` stays set while more may be
        left, and when this raises (its own answer may be lost: it is simply asked again)."""
        if not self.needed:
            return []
        found: list[Delivery] = []
        want = self.settings.batch_max
        for stream, kernel in self.kernels.items():
            if len(found) >= want:
                break
            held = self.held.ids(stream)
            args: list[str | int] = [self.names.group, self.consumer, want - len(found), *held]
            entries: Any = await self._recover([stream], args)
            found += [
                Delivery(stream, entry_id.decode(), kernel, _fields(flat), deliveries, True)
                for entry_id, flat, deliveries in entries
            ]
        self.needed = len(found) >= want
        if found:
            log.warning(
                "worker %s: %d job(s) were delivered to it but lost on the way; running them",
                self.consumer,
                len(found),
            )
        return found

    async def reclaim_due(self) -> tuple[list[Delivery], list[Outcome]]:
        """Every visibility/4: jobs idle past the visibility timeout (their worker is dead, or
        they were lost on the way to one), claimed by this consumer, and the answers owed for
        those dead-lettered instead (already acknowledged and deleted by the script)."""
        now_s = time.monotonic()
        if now_s < self._next_reclaim_s:
            return [], []
        self._next_reclaim_s = now_s + self._every_s
        if now_s >= self._next_forget_s:
            self._next_forget_s = now_s + FORGET_EVERY_S
            idle_ms = max(60_000, 10 * self._visibility_ms)
            await self._forget(list(self.kernels), [self.names.group, idle_ms])
        claimed: list[Delivery] = []
        dead: list[Outcome] = []
        for stream, kernel in self.kernels.items():
            args: list[str | int] = [
                self.names.group,
                self.consumer,
                self._visibility_ms,
                self.settings.batch_max,
                self.settings.queue_max_deliveries,
                DEAD_LETTER_MAXLEN,
            ]
            taken, lost = await self._reclaim([stream, self.names.dead], args)
            for entry_id, flat, deliveries in taken:
                claimed.append(
                    Delivery(stream, entry_id.decode(), kernel, _fields(flat), deliveries)
                )
            for entry_id, flat, deliveries in lost:
                delivery = Delivery(stream, entry_id.decode(), kernel, _fields(flat), deliveries)
                dead.append(self._dead_letter_reply(delivery))
        if claimed:
            log.warning("worker %s re-claimed %d idle job(s)", self.consumer, len(claimed))
        if dead:
            log.error("worker %s moved %d job(s) to %s", self.consumer, len(dead), self.names.dead)
        return claimed, dead

    def _dead_letter_reply(self, delivery: Delivery) -> Outcome:
        error = KernelFailed(
            f"the job was handed to workers {delivery.deliveries} times and each died running "
            f"it; it was moved to the dead-letter stream {self.names.dead}"
        )
        try:
            job = decode_job(delivery.fields[b"job"])
        except Exception:  # an undecodable job has no reply address; only the stream keeps it
            return Outcome(delivery, None, None, "dead_lettered")
        reply = Reply(
            job.job_id,
            self.consumer,
            deliveries=delivery.deliveries,
            error=error_to_wire(error),
            dead_lettered=True,
        )
        return Outcome(delivery, job.reply_to, encode(reply), "dead_lettered")


def _fields(flat: list[bytes]) -> dict[bytes, bytes]:
    """A stream entry's fields from a script's flat [field, value, ...] list."""
    return dict(zip(flat[::2], flat[1::2], strict=True))
