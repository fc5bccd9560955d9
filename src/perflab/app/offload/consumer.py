"""One `perflab worker` process: takes jobs from the queue's streams, runs them, answers.

    warm-up         once, in the one thread that runs this process's kernels
    heartbeat       every visibility/4, in the event loop (the kernel runs in its own thread,
                    so a long kernel cannot starve it): resets the idle time of the jobs this
                    process holds in memory (running, read ahead, answers not yet sent), and
                    only those, and marks it live in {ns}:workers
    loop, pipelined: while the kernel thread runs batch k, the event loop answers batch k-1
    and reads batch k+1, so the kernel does not idle through the Redis round trips
      reclaim       every visibility/4: jobs idle past the visibility timeout (their worker is
                    dead, or they never reached it) become this process's; past max
                    deliveries they are dead-lettered
      recover       after any Redis error in this loop, before the next read: jobs in this
                    consumer's own pending list that it does not hold (delivered, but the
                    answer was lost with the connection) are taken back and run
      XREADGROUP    up to batch_max jobs: blocking at most a heartbeat interval when the kernel
                    is idle, without blocking while it runs (a read-ahead); at most one batch is
                    read ahead, so a busy worker never hoards jobs that idle ones could run
      run           in the kernel thread: one batch call for a kernel with a batch form, else
                    back to back; expired jobs skipped, checked when the batch starts, so a job
                    that expired while read ahead is skipped too (job_runner.run_jobs)
      answer        the ANSWER script: XACK, XDEL, XADD each reply, count, atomically and in one
                    round trip (kept and retried while Redis is unreachable, so an answered
                    job is never left unanswered)
    stop()          (SIGTERM) no new reads; the batch running and the one read ahead finish and
                    are answered first

Lost deliveries. XREADGROUP '>' (and RECLAIM) put a job in this consumer's pending list when
Redis sends the answer; if the connection breaks before the answer arrives, the job is pending
here while the process never saw it. The heartbeat used to refresh every pending job of the
consumer, so such a job stayed alive, unrun, until the process ended. Now the heartbeat
refreshes only the jobs held in memory (`recovery.HeldJobs`), so a lost one goes idle and is
re-claimed after the visibility timeout whatever the cause, and after a Redis error the loop
looks at once (`recovery.Recovery.own_lost`). A slow live worker still holds, and keeps, every
job it runs; a job taken back twice is at worst run twice, which the API counts (duplicates).

A vanished consumer group (XGROUP DESTROY, a Redis restart) is re-created from id 0: the job
streams hold only unfinished jobs, so everything still owed is delivered again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import queue
import time
from collections import Counter
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError, ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

from perflab.app.offload.job_runner import Delivery, Outcome, run_jobs
from perflab.app.offload.kernels import Kernel
from perflab.app.offload.recovery import HeldJobs, Recovery
from perflab.app.offload.streams import (
    ANSWER,
    HEARTBEAT,
    QueueNames,
    answer_call,
    connect,
    raise_if_cancelled,
)
from perflab.config import Settings

log = logging.getLogger("perflab.worker")


class Consumer:
    """The loop of one worker process (see the module docstring). Usage:
    `consumer = Consumer(settings, [kernel_named("blur")]); await consumer.run()`"""

    def __init__(self, settings: Settings, served: Sequence[Kernel]) -> None:
        self.settings = settings
        self.names = QueueNames(settings.queue_namespace)
        self.name = self.names.consumer()
        self.kernels = {self.names.jobs(kernel.name): kernel for kernel in served}
        self.redis = connect(settings.redis_url, max_connections=4, client_name=self.name)
        self._heartbeat = self.redis.register_script(HEARTBEAT)
        self._answer_script = self.redis.register_script(ANSWER)
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="perflab-kernel")
        self._stopping = asyncio.Event()
        self._unsent: list[Outcome] = []
        # Every job from its hand-off to the kernel thread until its answer is acknowledged:
        # what the heartbeat keeps alive, and what recovery must not take back.
        self._held = HeldJobs(self.kernels)
        self._recovery = Recovery(self.redis, settings, self.name, self.kernels, self._held)
        # Batches go to the kernel thread through `_handoff`, so that it starts the one read
        # ahead the moment it finishes the one before, without waiting for this loop to wake.
        self._handoff: queue.SimpleQueue[list[Delivery] | None] = queue.SimpleQueue()
        self._in_hand = 0  # batches handed to the kernel thread and not yet run: at most 2
        self._batch_done = asyncio.Event()
        self._kernel_error: BaseException | None = None
        self._clock_offset_ms = 0.0
        self._beat_s = settings.queue_visibility_timeout_s / 4
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
            await self._serve_forever()
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

    async def _serve_forever(self) -> None:
        """Until stopped and every job in hand is answered. One batch runs in the kernel
        thread and at most one more waits for it there, while this loop answers the batch
        before and reads the next (`_step`)."""
        loop = asyncio.get_running_loop()
        kernel = loop.run_in_executor(self._executor, self._kernel_loop, loop)
        try:
            while not (self._stopping.is_set() and self._in_hand == 0):
                took = await self._step(block=self._in_hand == 0)
                if self._in_hand == 0 or (took and self._in_hand < 2):
                    continue  # nothing to wait for, or room to read one more ahead
                await self._batch_done.wait()
                self._batch_done.clear()
                if self._kernel_error is not None:
                    raise self._kernel_error
            if self._unsent:  # one last try; else another worker re-claims them
                await self._step(block=False)
        finally:
            self._handoff.put(None)  # the kernel thread ends after the batch it runs
            await asyncio.gather(kernel, return_exceptions=True)

    def _kernel_loop(self, loop: asyncio.AbstractEventLoop) -> None:
        """The kernel thread: runs the batches handed to it, in order, until None."""
        while (batch := self._handoff.get()) is not None:
            try:
                outcomes = run_jobs(batch, self.name, self._redis_now_ms)
            except BaseException as error:  # a bug in run_jobs: the process ends, as before
                loop.call_soon_threadsafe(self._batch_finished, [], error)
                return
            loop.call_soon_threadsafe(self._batch_finished, outcomes, None)

    def _batch_finished(self, outcomes: list[Outcome], error: BaseException | None) -> None:
        self._unsent += outcomes
        self._in_hand -= 1
        self._kernel_error = self._kernel_error or error
        self._batch_done.set()

    async def _step(self, *, block: bool) -> bool:
        """One Redis turn: send what is answered, then take the next batch (unless two are in
        hand already or the worker is stopping) and hand it to the kernel thread; True if it
        took one. A Redis problem pauses and is retried (what is answered stays in
        `_unsent`), never ends the loop, and makes the next turn look for lost deliveries."""
        batch: list[Delivery] = []
        try:
            if self._unsent:
                await self._send_unsent()
            if self._in_hand < 2 and not self._stopping.is_set():
                # Not one already held (re-claimed or re-delivered to this very process).
                batch = [d for d in await self._take(block) if not self._held.holds(d)]
                if batch:
                    self._held.take(batch)  # nothing can come between this and the hand-off
                    self._handoff.put(batch)
                    self._in_hand += 1
            self._problem = None
            return bool(batch)
        except ResponseError as error:
            self._recovery.needed = True
            if "NOGROUP" in str(error):
                log.warning("consumer group missing (%s); re-creating it", error)
                with contextlib.suppress(RedisError):  # else the next turn sees NOGROUP again
                    await self._create_groups()
            else:
                await self._pause(error)
        except (RedisConnectionError, RedisTimeoutError) as error:
            # A read's answer may have been lost with the connection: those jobs are in this
            # consumer's pending list, not in hand. The next turn looks for them first.
            self._recovery.needed = True
            await self._pause(error)
        return False

    async def _take(self, block: bool) -> list[Delivery]:
        """The next batch: a dead worker's jobs when a reclaim is due, else this consumer's
        own lost deliveries after a Redis error, else new jobs. Not held yet: if this raises,
        what it had read is lost from memory too, and recovered like a lost delivery."""
        batch, dead = await self._recovery.reclaim_due()
        if dead:  # acknowledged and deleted by the script: only their answers are left
            self._unsent += dead
            await self._send_unsent()
        if not batch:
            batch = await self._recovery.own_lost()
        if not batch:
            batch = await self._read(block)
        return batch

    async def _send_unsent(self) -> None:
        outcomes, self._unsent = self._unsent, []
        try:
            await self._answer(outcomes)
        except RedisError:
            self._unsent = outcomes + self._unsent  # never thrown away: retried first
            raise

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

    async def _read(self, block: bool) -> list[Delivery]:
        batch_max = self.settings.batch_max
        block_ms = max(1, min(1000, round(self._beat_s * 1000))) if block else None
        deliveries = await self._read_some(batch_max, block_ms)
        wait_ms = self.settings.batch_wait_ms
        if wait_ms and 0 < len(deliveries) < batch_max:
            try:
                deliveries += await self._read_some(batch_max - len(deliveries), wait_ms)
            except RedisError:  # keep what the first read brought; recover the rest
                raise_if_cancelled()
                self._recovery.needed = True
        return deliveries

    async def _read_some(self, count: int, block_ms: int | None) -> list[Delivery]:
        # RESP2 answer: [[stream, [(id, {field: value}), ...]], ...], or nothing when it timed out.
        response: Any = await self.redis.xreadgroup(
            self.names.group, self.name, dict.fromkeys(self.kernels, ">"), count, block_ms
        )
        return [
            Delivery(name.decode(), entry_id.decode(), self.kernels[name.decode()], fields, 1)
            for name, entries in response or ()
            for entry_id, fields in entries
        ]

    async def _answer(self, outcomes: Sequence[Outcome]) -> None:
        """Replies, acknowledgements, deletions and counts: one ANSWER script, atomic. A
        dead-lettered job was acknowledged and deleted by RECLAIM already: only its reply."""
        events = Counter(outcome.event for outcome in outcomes)
        ran = [outcome.delivery for outcome in outcomes if outcome.event != "dead_lettered"]
        if ran:
            events["batches"] += 1
        for event, count in (
            ("reclaimed", sum(1 for delivery in ran if delivery.deliveries > 1)),
            ("recovered", sum(1 for delivery in ran if delivery.recovered)),
        ):
            if count:
                events[event] += count
        acks: dict[str, list[str]] = {}
        for delivery in ran:
            acks.setdefault(delivery.stream, []).append(delivery.entry_id)
        replies = [(o.reply_to, o.reply) for o in outcomes if o.reply_to and o.reply is not None]
        keys, args = answer_call(self.names, acks, replies, events)
        for failure in await self._answer_script(keys, args):
            log.error("worker %s: answering failed in part: %s", self.name, failure)
        self._held.release(ran)  # answered and acknowledged: no longer this process's to keep

    async def _heartbeat_forever(self) -> None:
        keys = [*self.kernels, self.names.workers]
        while True:
            try:
                before_ms = time.time() * 1000
                args = [self.names.group, self.name, *self._held.heartbeat_args()]
                redis_ms = int(await self._heartbeat(keys, args))
                after_ms = time.time() * 1000
                self._clock_offset_ms = redis_ms - (before_ms + after_ms) / 2
            except RedisError:  # the loop reports Redis problems; the next beat tries again
                pass
            raise_if_cancelled()
            if os.getppid() != self._parent_pid:
                log.warning("worker %s: its supervisor is gone; stopping", self.name)
                self.stop()
            await asyncio.sleep(self._beat_s)

    def _redis_now_ms(self) -> float:
        """Now on Redis's clock, which deadlines are in (kept by the heartbeat)."""
        return time.time() * 1000 + self._clock_offset_ms
