"""One `perflab worker` process: takes jobs from the queue's streams, runs them, answers.

    warm-up         once, in the one thread that runs this process's kernels
    heartbeat       every visibility/4, in the event loop (the kernel runs in its own thread,
                    so a long kernel cannot starve it): resets the idle time of every job this
                    process holds and marks it live in {ns}:workers
    loop
      reclaim       every visibility/4: jobs idle past the visibility timeout (their worker is
                    dead) become this process's; past max deliveries they are dead-lettered
      XREADGROUP    up to batch_max jobs, blocking at most a heartbeat interval
      run           in the kernel thread: one batch call for a kernel with a batch form, else
                    back to back; expired jobs skipped (worker_jobs.run_jobs)
      answer        MULTI: XADD each reply, XACK, XDEL, count; EXEC (kept and retried while
                    Redis is unreachable, so an answered job is never left unanswered)
    stop()          (SIGTERM) no new reads; the jobs in hand finish and are answered first

A vanished consumer group (XGROUP DESTROY, a Redis restart) is re-created from id 0: the job
streams hold only unfinished jobs, so everything still owed is delivered again.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import os
import time
from collections import Counter
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError, ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

from perflab.app.errors import KernelFailed
from perflab.app.offload import streams, wire
from perflab.app.offload.kernels import Kernel
from perflab.app.offload.worker_jobs import Delivery, Outcome, run_jobs
from perflab.config import Settings

log = logging.getLogger("perflab.worker")

FORGET_EVERY_S = 60.0  # how often a worker forgets consumers long gone (housekeeping)


class Consumer:
    """The loop of one worker process (see the module docstring). Usage:
    `consumer = Consumer(settings, [kernel_named("blur")]); await consumer.run()`"""

    def __init__(self, settings: Settings, served: Sequence[Kernel]) -> None:
        self.settings = settings
        self.names = streams.QueueNames(settings.queue_namespace)
        self.name = self.names.consumer()
        self.kernels = {self.names.jobs(kernel.name): kernel for kernel in served}
        self.redis = streams.connect(settings.redis_url, max_connections=4)
        self._heartbeat = self.redis.register_script(streams.HEARTBEAT)
        self._reclaim = self.redis.register_script(streams.RECLAIM)
        self._forget = self.redis.register_script(streams.FORGET_CONSUMERS)
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="perflab-kernel")
        self._stopping = asyncio.Event()
        self._unsent: list[Outcome] = []
        self._clock_offset_ms = 0.0
        self._beat_s = settings.queue_visibility_timeout_s / 4
        self._visibility_ms = round(settings.queue_visibility_timeout_s * 1000)
        self._next_reclaim_s = 0.0
        self._next_forget_s = 0.0
        self._problem: str | None = None
        self._parent_pid = os.getppid()

    def stop(self) -> None:
        self._stopping.set()

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(self._executor, self._warm_up)
        with contextlib.suppress(RedisError):  # else the loop re-creates them on NOGROUP
            await self._create_groups()
        beat = loop.create_task(self._heartbeat_forever())
        log.info(
            "worker %s serving %s", self.name, ", ".join(k.name for k in self.kernels.values())
        )
        try:
            while not self._stopping.is_set():
                await self._step()
            if self._unsent:  # one last try; else another worker re-claims them
                await self._step()
        finally:
            beat.cancel()
            await asyncio.gather(beat, return_exceptions=True)
            with contextlib.suppress(RedisError):  # gone from the live count at once
                await self.redis.zrem(self.names.workers, self.name)
            await self.redis.aclose()
            self._executor.shutdown()
        log.info("worker %s stopped", self.name)

    def _warm_up(self) -> None:
        for kernel in self.kernels.values():
            if kernel.warm_up is not None:
                kernel.warm_up(self.settings)

    async def _step(self) -> None:
        """One turn of the loop; a Redis problem pauses and is retried, never ends it."""
        try:
            if self._unsent:
                await self._answer(self._unsent)
                self._unsent = []
            deliveries: list[Delivery] = []
            if not self._stopping.is_set():  # a stopping worker takes no new jobs
                deliveries = await self._reclaim_due() or await self._read()
            if deliveries:
                await self._serve(deliveries)
            self._problem = None
        except ResponseError as error:
            if "NOGROUP" in str(error):
                log.warning("consumer group missing (%s); re-creating it", error)
                with contextlib.suppress(RedisError):  # else the next turn sees NOGROUP again
                    await self._create_groups()
            else:
                await self._pause(error)
        except (RedisConnectionError, RedisTimeoutError) as error:
            await self._pause(error)

    async def _pause(self, error: RedisError) -> None:
        if self._problem is None:
            log.warning("worker %s: Redis problem, retrying: %s", self.name, error)
        self._problem = str(error)
        await asyncio.sleep(0.5)

    async def _create_groups(self) -> None:
        for stream in self.kernels:
            try:
                await self.redis.xgroup_create(stream, self.names.group, id="0", mkstream=True)
            except ResponseError as error:
                if "BUSYGROUP" not in str(error):
                    raise

    async def _read(self) -> list[Delivery]:
        batch_max = self.settings.batch_max
        block_ms = max(1, min(1000, round(self._beat_s * 1000)))
        deliveries = await self._read_some(batch_max, block_ms)
        wait_ms = self.settings.batch_wait_ms
        if wait_ms and 0 < len(deliveries) < batch_max:
            deliveries += await self._read_some(batch_max - len(deliveries), wait_ms)
        return deliveries

    async def _read_some(self, count: int, block_ms: int) -> list[Delivery]:
        # RESP2 answer: [[stream, [(id, {field: value}), ...]], ...], or nothing when it timed out.
        response: Any = await self.redis.xreadgroup(
            self.names.group, self.name, dict.fromkeys(self.kernels, ">"), count, block_ms
        )
        return [
            Delivery(name.decode(), entry_id.decode(), self.kernels[name.decode()], fields, 1)
            for name, entries in response or ()
            for entry_id, fields in entries
        ]

    async def _reclaim_due(self) -> list[Delivery]:
        now_s = time.monotonic()
        if now_s < self._next_reclaim_s:
            return []
        self._next_reclaim_s = now_s + self._beat_s
        if now_s >= self._next_forget_s:
            self._next_forget_s = now_s + FORGET_EVERY_S
            idle_ms = max(60_000, 10 * self._visibility_ms)
            await self._forget(list(self.kernels), [self.names.group, idle_ms])
        claimed: list[Delivery] = []
        dead: list[Outcome] = []
        for stream, kernel in self.kernels.items():
            args: list[str | int] = [
                self.names.group,
                self.name,
                self._visibility_ms,
                self.settings.batch_max,
                self.settings.queue_max_deliveries,
                streams.DEAD_LETTER_MAXLEN,
            ]
            taken, lost = await self._reclaim([stream, self.names.dead], args)
            for entry_id, flat, deliveries in taken:
                fields = dict(zip(flat[::2], flat[1::2], strict=True))
                claimed.append(Delivery(stream, entry_id.decode(), kernel, fields, deliveries))
            for entry_id, flat, deliveries in lost:
                fields = dict(zip(flat[::2], flat[1::2], strict=True))
                delivery = Delivery(stream, entry_id.decode(), kernel, fields, deliveries)
                dead.append(self._dead_letter_reply(delivery))
        if claimed:
            log.warning("worker %s re-claimed %d job(s) of a dead worker", self.name, len(claimed))
        if dead:
            # Already acknowledged and deleted by the script: only the answers are left to send.
            log.error("worker %s moved %d job(s) to %s", self.name, len(dead), self.names.dead)
            await self._answer(dead, acknowledge=False)
        return claimed

    def _dead_letter_reply(self, delivery: Delivery) -> Outcome:
        error = KernelFailed(
            f"the job was handed to workers {delivery.deliveries} times and each died running "
            f"it; it was moved to the dead-letter stream {self.names.dead}"
        )
        try:
            job = wire.decode_job(delivery.fields[b"job"])
        except Exception:  # an undecodable job has no reply address; only the stream keeps it
            return Outcome(delivery, None, None, "dead_lettered")
        reply = wire.Reply(
            job.job_id,
            self.name,
            deliveries=delivery.deliveries,
            error=wire.error_to_wire(error),
            dead_lettered=True,
        )
        return Outcome(delivery, job.reply_to, wire.encode(reply), "dead_lettered")

    async def _serve(self, deliveries: list[Delivery]) -> None:
        run = functools.partial(run_jobs, deliveries, self.name, self._redis_now_ms)
        outcomes = await asyncio.get_running_loop().run_in_executor(self._executor, run)
        try:
            await self._answer(outcomes)
        except RedisError:
            self._unsent = outcomes  # answered work is never thrown away: retried first
            raise

    async def _answer(self, outcomes: Sequence[Outcome], *, acknowledge: bool = True) -> None:
        """Replies, acknowledgements, deletions and counts in one MULTI/EXEC."""
        events = Counter(outcome.event for outcome in outcomes)
        reclaimed = sum(1 for outcome in outcomes if outcome.delivery.deliveries > 1)
        async with self.redis.pipeline(transaction=True) as pipe:
            for outcome in outcomes:
                if outcome.reply_to is not None and outcome.reply is not None:
                    fields: dict[Any, Any] = {"reply": outcome.reply}
                    pipe.xadd(
                        outcome.reply_to, fields, maxlen=streams.REPLY_MAXLEN, nomkstream=True
                    )
            if acknowledge:
                for stream in {outcome.delivery.stream for outcome in outcomes}:
                    ids = [o.delivery.entry_id for o in outcomes if o.delivery.stream == stream]
                    pipe.xack(stream, self.names.group, *ids)
                    pipe.xdel(stream, *ids)
                pipe.hincrby(self.names.stats, "batches", 1)
                if reclaimed:
                    pipe.hincrby(self.names.stats, "reclaimed", reclaimed)
            for event, count in events.items():
                pipe.hincrby(self.names.stats, event, count)
            results = await pipe.execute(raise_on_error=False)
        for result in results:
            if isinstance(result, Exception):
                log.error("worker %s: answering failed in part: %s", self.name, result)

    async def _heartbeat_forever(self) -> None:
        keys = [*self.kernels, self.names.workers]
        while True:
            try:
                before_ms = time.time() * 1000
                redis_ms = int(await self._heartbeat(keys, [self.names.group, self.name]))
                after_ms = time.time() * 1000
                self._clock_offset_ms = redis_ms - (before_ms + after_ms) / 2
            except RedisError:  # the loop reports Redis problems; the next beat tries again
                pass
            streams.raise_if_cancelled()
            if os.getppid() != self._parent_pid:
                log.warning("worker %s: its supervisor is gone; stopping", self.name)
                self.stop()
            await asyncio.sleep(self._beat_s)

    def _redis_now_ms(self) -> float:
        """Now on Redis's clock, which deadlines are in (kept by the heartbeat)."""
        return time.time() * 1000 + self._clock_offset_ms
