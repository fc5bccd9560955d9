"""The queue offloader: kernels run in `perflab worker` processes, on this machine or others.

    run(kernel, *args)
      admission        here: expected wait and memory, like every offloader (OffloaderBase)
      ENQUEUE script   in Redis: refuses past the backlog bound or the expected-wait bound
                       that every API instance shares -> 503 + Retry-After at once
      future           keyed by job id, resolved by the one task reading this instance's
                       reply stream
      deadline         no answer within queue_deadline_s -> 504; the job is deleted so no
                       worker starts it late (one already running answers late: ignored)

Redis unreachable: a request gets 503 at once, `ready()` raises (for /healthz), and service
resumes by itself when Redis is back; the workers re-create a vanished consumer group. A
Redis that came back as a new server (its run_id changed: restarted, failed over) may have
lost the jobs it held: requests still waiting on jobs sent before it went away get 503 +
Retry-After (`worker_lost`) at once instead of waiting out their deadline, so a restart never
leaves a request unanswered. (The job may still run, from a persisted stream: kernels are
pure, so that costs only the work.)
Slots for admission are the worker processes that heartbeated lately. Protocol: streams.py;
guarantees and their tests: docs/queue.md.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import secrets
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any, NoReturn, cast

import msgspec
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError

from perflab.app import observe
from perflab.app.admission import Admission, Ticket
from perflab.app.errors import JobTimedOut, Overloaded, Unavailable, WorkerLost
from perflab.app.offload.base import OffloaderBase, R, Ts
from perflab.app.offload.kernels import kernel_for
from perflab.app.offload.kernels import names as kernel_names
from perflab.app.offload.queue_metrics import queue_metrics
from perflab.app.offload.streams import (
    ENQUEUE,
    LIVE_WORKERS,
    REPLY_TTL_S,
    QueueNames,
    connect,
    raise_if_cancelled,
)
from perflab.app.offload.wire import (
    JobMessage,
    Reply,
    decode_reply,
    decode_result,
    encode,
    encode_args,
    error_from_wire,
)
from perflab.config import OffloadKind, Settings

log = logging.getLogger("perflab.offload.queue")

SAMPLE_INTERVAL_S = 1.0  # live workers, backlog and Redis health, sampled this often
DOWN_FAIL_FAST_S = 0.5  # after a connection error, requests fail without trying for this long
REMEMBERED_JOBS = 10_000  # finished job ids kept to tell a late answer from a duplicate


class QueueOffloader(OffloaderBase):
    """Sends kernels to Redis Streams workers; see the module docstring."""

    kind = OffloadKind.QUEUE

    def __init__(self, admission: Admission, settings: Settings) -> None:
        super().__init__(admission)
        self.settings = settings
        self.metrics = queue_metrics()
        self.names = QueueNames(settings.queue_namespace)
        self.instance = secrets.token_hex(6)
        self.reply_stream = self.names.reply(self.instance)
        self.redis = connect(settings.redis_url)
        self._enqueue = self.redis.register_script(ENQUEUE)
        self._live = self.redis.register_script(LIVE_WORKERS)
        self._waiting: dict[int, asyncio.Future[Reply]] = {}
        self._finished: OrderedDict[int, bool] = OrderedDict()  # job id -> it timed out
        self._ids = itertools.count(1)
        self._tasks: set[asyncio.Task[None]] = set()
        self._closing = False
        self._down_reason: str | None = "not checked yet"
        self._down_until_s = 0.0
        self._run_id: str | None = None  # the Redis server's identity, from INFO
        self._at_risk: set[int] = set()  # jobs waiting when Redis went away
        self.live_workers = 0
        self.backlog: dict[str, int] = {}
        self.counts = {"duplicates": 0, "late": 0, "reclaimed": 0, "dead_lettered": 0}

    async def start(self) -> None:
        for coroutine in (self._read_replies(), self._sample_forever()):
            task = asyncio.get_running_loop().create_task(coroutine)
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def close(self) -> None:
        self._closing = True  # the loops end even if redis-py swallowed their cancellation
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        for future in self._waiting.values():
            if not future.done():
                future.set_exception(WorkerLost("the service is shutting down"))
        await self.redis.aclose()

    async def ready(self) -> str:
        """Readiness for /healthz: raises when Redis cannot be reached, else a summary."""
        try:
            await self.sample()
        except RedisError as error:
            self._mark_down(error)
            raise Unavailable(f"Redis at {self.settings.redis_url} is unreachable") from None
        return f"redis up, {self.live_workers} live workers, backlog {sum(self.backlog.values())}"

    def queue_stats(self) -> dict[str, Any]:
        return {
            "instance": self.instance,
            "redis_up": self._down_reason is None,
            "live_workers": self.live_workers,
            "in_flight": len(self._waiting),
            "backlog": dict(self.backlog),
            **self.counts,
        }

    async def run(self, kernel: Callable[[*Ts], R], *args: *Ts, ticket: Ticket | None = None) -> R:
        spec = kernel_for(kernel)
        with self._admit(ticket) as admitted:
            if time.monotonic() < self._down_until_s:
                raise self._unavailable()
            job_id = next(self._ids)
            args_raw = msgspec.Raw(encode_args(spec, args))
            job = encode(JobMessage(job_id, spec.name, self.reply_stream, args_raw))
            future: asyncio.Future[Reply] = asyncio.get_running_loop().create_future()
            self._waiting[job_id] = future
            self.metrics.in_flight.inc()
            entry_id: str | None = None
            timed_out = False
            try:
                entry_id = await self._add_job(spec.name, job)
                raise_if_cancelled()  # the client left during the enqueue
                reply = await asyncio.wait_for(future, self.settings.queue_deadline_s)
            except TimeoutError:
                timed_out = True
                self._timed_out += 1
                self.metrics.timed_out.inc()
                raise JobTimedOut(
                    f"no worker answered within {self.settings.queue_deadline_s:g} s "
                    f"(the {spec.name} job's deadline)"
                ) from None
            finally:
                del self._waiting[job_id]
                self.metrics.in_flight.dec()
                self._remember(job_id, timed_out)
                answered = future.done() and not future.cancelled()
                if entry_id is not None and not answered:  # timed out, or the client left
                    self._in_background(self._delete_job(spec.name, entry_id))
            if reply.error is not None:
                raise error_from_wire(reply.error)
            admitted.close(service_s=reply.service_s)
            return cast(R, decode_result(spec, reply.result))

    async def _add_job(self, kernel: str, job: bytes) -> str:
        limit = self._backlog_limit()
        keys = [self.names.jobs(kernel), self.reply_stream]
        deadline_ms = round(self.settings.queue_deadline_s * 1000)
        try:
            answer = await self._enqueue(keys, [limit, deadline_ms, job, REPLY_TTL_S])
        except (RedisConnectionError, RedisTimeoutError) as error:
            self._mark_down(error)
            raise self._unavailable() from None
        except RedisError as error:  # e.g. OOM: Redis is up but refuses writes
            log.error("enqueue to %s failed: %s", kernel, error)
            raise Unavailable(f"the job queue refused the job: {error}") from None
        self._mark_up()
        if int(answer[0]) == 1:
            return str(answer[1].decode())
        self._refuse(kernel, backlog=int(answer[1]), limit=limit)

    def _backlog_limit(self) -> int:
        """Unfinished jobs past which an enqueue is refused: the configured bound, or fewer
        when the recent service time says a job behind them would wait past the budget."""
        limit = self.settings.queue_backlog_max
        service_s = self.admission.service_time_s
        if service_s:
            slots = self.admission.slots
            limit = min(limit, int(self.admission.budget_s * slots / service_s) + slots)
        return limit

    def _refuse(self, kernel: str, *, backlog: int, limit: int) -> NoReturn:
        self.metrics.refused.labels(kernel).inc()
        observe.OFFLOAD_REJECTED.inc()
        slots, service_s = self.admission.slots, self.admission.service_time_s or 0.0
        wait_s = max(0.0, (backlog - slots + 1) * service_s / slots)
        raise Overloaded(
            f"the {kernel} queue holds {backlog} unfinished jobs; it takes at most {limit} "
            f"(PERFLAB_QUEUE_BACKLOG_MAX, or fewer when the expected wait would pass the "
            f"{self.admission.budget_s:g} s budget)",
            retry_after_s=max(1.0, wait_s - self.admission.budget_s),
            details=[{"resource": f"queue:{kernel}", "backlog": backlog, "limit": limit}],
        )

    async def _delete_job(self, kernel: str, entry_id: str) -> None:
        # A job nobody waits for any more: if no worker has read it yet, none ever will.
        with contextlib.suppress(RedisError):  # if it stays, a worker skips it at its deadline
            await self.redis.xdel(self.names.jobs(kernel), entry_id)

    async def _read_replies(self) -> None:
        """The one reader of this instance's reply stream: resolves futures by job id.

        The replies of one read are deleted in the same round trip as the next read (XDEL,
        then the blocking XREAD, pipelined): one round trip per read instead of two."""
        last_id = "0-0"
        read: list[str] = []  # delivered, to delete with the next read
        while not self._closing:
            try:
                async with self.redis.pipeline(transaction=False) as pipe:
                    if read:
                        pipe.xdel(self.reply_stream, *read)
                    pipe.xread({self.reply_stream: last_id}, 256, 1000)
                    # The read's answer: [[stream, [(id, {field: value}), ...]]], or nothing
                    # when 1 s passed without a reply.
                    *_, response = await pipe.execute()
                read = []
                for _stream, entries in response or ():
                    for entry_id, fields in entries:
                        last_id = entry_id.decode()
                        read.append(last_id)
                        self._deliver(fields[b"reply"])
                self._mark_up()
            except RedisError as error:
                raise_if_cancelled()
                self._mark_down(error)
                await asyncio.sleep(DOWN_FAIL_FAST_S)
            raise_if_cancelled()  # an answer that came back normally may hide it too

    def _deliver(self, data: bytes) -> None:
        try:
            reply = decode_reply(data)
        except msgspec.MsgspecError as error:
            log.error("undecodable reply on %s: %s", self.reply_stream, error)
            return
        future = self._waiting.get(reply.job_id)
        if future is None or future.done():
            if self._finished.get(reply.job_id):
                self._finished[reply.job_id] = False  # a further answer is a duplicate
                self.counts["late"] += 1
                self.metrics.late.inc()
            else:
                self.counts["duplicates"] += 1
                self.metrics.duplicates.inc()
            return
        self.metrics.batch_size.observe(reply.batch_size)
        if reply.deliveries > 1:
            self.counts["reclaimed"] += 1
            self.metrics.reclaimed.inc()
        if reply.dead_lettered:
            self.counts["dead_lettered"] += 1
            self.metrics.dead_lettered.inc()
        future.set_result(reply)

    def _remember(self, job_id: int, timed_out: bool) -> None:
        self._finished[job_id] = timed_out
        if len(self._finished) > REMEMBERED_JOBS:
            self._finished.popitem(last=False)

    async def sample(self) -> None:
        """Refresh live workers (admission's slots), backlog and worker totals from Redis."""
        names = kernel_names()
        async with self.redis.pipeline(transaction=False) as pipe:
            for name in names:
                pipe.xlen(self.names.jobs(name))
            pipe.hgetall(self.names.stats)
            *lengths, totals = await pipe.execute()
        visibility_ms = round(self.settings.queue_visibility_timeout_s * 1000)
        self.live_workers = int(await self._live([self.names.workers], [visibility_ms]))
        self._check_identity(str((await self.redis.info("server")).get("run_id", "")))
        self._mark_up()
        self.slots = self.admission.slots = max(1, self.live_workers)
        self.backlog = dict(zip(names, (int(n) for n in lengths), strict=True))
        for name, length in self.backlog.items():
            self.metrics.backlog.labels(name).set(length)
        for event, total in totals.items():
            self.metrics.worker_events.labels(event.decode()).set(int(total))
        self.metrics.live_workers.set(self.live_workers)

    async def _sample_forever(self) -> None:
        while not self._closing:
            try:
                await self.sample()
            except RedisError as error:
                raise_if_cancelled()
                self._mark_down(error)
            raise_if_cancelled()  # an answer that came back normally may hide it too
            await asyncio.sleep(SAMPLE_INTERVAL_S)

    def _check_identity(self, run_id: str) -> None:
        """Fail the jobs at risk if Redis came back as another server; forget them if not."""
        restarted = self._run_id is not None and run_id != self._run_id
        self._run_id = run_id
        at_risk, self._at_risk = self._at_risk, set()
        if not restarted:
            return
        lost = [f for job_id in at_risk if (f := self._waiting.get(job_id)) and not f.done()]
        if lost:
            log.warning("Redis restarted: %d waiting jobs may be lost; answering 503", len(lost))
        for future in lost:
            future.set_exception(
                WorkerLost(
                    "the job queue (Redis) restarted while this job waited in it",
                    retry_after_s=1.0,
                )
            )

    def _mark_down(self, error: Exception) -> None:
        self._at_risk.update(self._waiting)
        if self._down_reason is None:
            log.warning("Redis at %s unreachable: %s", self.settings.redis_url, error)
        self._down_reason = f"{type(error).__name__}: {error}"
        self._down_until_s = time.monotonic() + DOWN_FAIL_FAST_S
        self.metrics.redis_up.set(0)

    def _mark_up(self) -> None:
        if self._down_reason is not None and self._down_reason != "not checked yet":
            log.warning("Redis at %s reachable again", self.settings.redis_url)
        self._down_reason = None
        self._down_until_s = 0.0
        self.metrics.redis_up.set(1)

    def _unavailable(self) -> Unavailable:
        return Unavailable(
            f"the job queue (Redis) is unreachable: {self._down_reason}", retry_after_s=1.0
        )

    def _in_background(self, coroutine: Any) -> None:
        task = asyncio.get_running_loop().create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
