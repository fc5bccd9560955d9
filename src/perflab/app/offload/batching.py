"""Dynamic batching for the process offloader: a free worker takes every job already waiting.

With `PERFLAB_BATCH_MAX` > 1 the offloader keeps its own FIFO of jobs and never more than one
call per worker in the pool. When a worker frees up it takes the oldest job and, if that
kernel has a batch form in the registry (perflab.app.offload.kernels, e.g. "classify": one
model run for N images), up to `batch_max - 1` more waiting jobs of the same kernel. It does
not idle for more unless `PERFLAB_BATCH_WAIT_MS` > 0 (Triton's default, and Ray Serve's with
no wait, is to run what is there). A batch whose call fails as a whole, or whose worker dies,
is retried item by item, so one bad image fails only its own request.

Each item of a batch of n that took t seconds is taught to admission as t / n: the resource
then serves n / t jobs per second per slot, which is what its expected wait must reflect.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from typing import Any

import pebble

from perflab.app.admission import Ticket
from perflab.app.errors import JobTimedOut, PerflabError, WorkerLost
from perflab.app.offload.base import call_kernel, timed_call
from perflab.app.offload.kernels import kernel_for, kernel_named


def timed_batch(name: str, jobs: list[tuple[Any, ...]]) -> tuple[list[Any], float]:
    """Run one batch in a worker process: the kernel's batch form, by registry name, timed."""
    started = time.perf_counter()
    batch = kernel_named(name).batch
    assert batch is not None  # only batchable kernels are sent as batches
    results = call_kernel(batch, jobs)
    return results, time.perf_counter() - started


@dataclass(frozen=True)
class WorkerFailure:
    """What a pool failure means for the job's request, and for the log and counters."""

    error: PerflabError
    why: str
    timed_out: bool


def worker_failure(error: BaseException, job_timeout_s: float | None) -> WorkerFailure | None:
    """The answer for a job whose worker died or ran past the job timeout; None for any other
    error (a kernel's own error, which keeps its meaning)."""
    if isinstance(error, pebble.ProcessExpired):
        lost = WorkerLost(
            "the worker process running this job died; it has been replaced", retry_after_s=1.0
        )
        return WorkerFailure(lost, "a worker process died while running a job", False)
    if isinstance(error, BrokenProcessPool):
        broken = WorkerLost(
            "a worker process died and the pool stopped; a new pool has been started",
            retry_after_s=1.0,
        )
        return WorkerFailure(broken, "pebble stopped the pool after a worker died", False)
    if isinstance(error, FutureTimeout):
        late = JobTimedOut(f"the job ran longer than {job_timeout_s:g} s and was stopped")
        return WorkerFailure(late, "a job ran past the job timeout; its worker was stopped", True)
    return None


def batch_name(kernel: Callable[..., Any]) -> str | None:
    """The registry name of `kernel` if it has a batch form; None runs it one job at a time."""
    try:
        entry = kernel_for(kernel)
    except ValueError:
        return None
    return entry.name if entry.batch is not None else None


@dataclass
class PendingJob:
    """A request's job in the batcher's FIFO, with the future its endpoint awaits."""

    kernel: Callable[..., Any]
    args: tuple[Any, ...]
    ticket: Ticket
    future: asyncio.Future[Any]
    name: str | None
    queued_s: float = field(default_factory=time.perf_counter)
    alone: bool = False  # retried item by item after its batch failed


class Batcher:
    """The FIFO of waiting jobs and the dispatch of batches to at most `slots` workers."""

    def __init__(
        self,
        slots: int,
        batch_max: int,
        batch_wait_s: float,
        job_timeout_s: float | None,
        on_worker_lost: Callable[[str, bool], None],
        live_pool: Callable[[], pebble.ProcessPool | None],
    ) -> None:
        self.slots = slots
        self.batch_max = batch_max
        self.batch_wait_s = batch_wait_s
        self.job_timeout_s = job_timeout_s
        self._on_worker_lost = on_worker_lost
        # The pool to send to, asked each time: the offloader replaces one pebble broke.
        self._live_pool = live_pool
        self._waiting: deque[PendingJob] = deque()
        self._in_flight = 0
        self._wake: asyncio.TimerHandle | None = None
        self.batch_sizes: list[int] = []  # recent sizes, for tests and stats

    async def run(self, kernel: Callable[..., Any], args: tuple[Any, ...], ticket: Ticket) -> Any:
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        job = PendingJob(kernel, args, ticket, future, batch_name(kernel))
        self._waiting.append(job)
        self._dispatch()
        try:
            return await future
        except asyncio.CancelledError:
            # Nobody waits for it any more: drop it if it has not been sent to a worker.
            if job in self._waiting:
                self._waiting.remove(job)
            raise

    def _dispatch(self) -> None:
        while self._in_flight < self.slots and self._waiting:
            pool = self._live_pool()
            if pool is None:
                return
            head = self._waiting[0]
            batch = [head] if head.name is None or head.alone else self._same_kernel(head)
            wait_left_s = self.batch_wait_s - (time.perf_counter() - head.queued_s)
            if len(batch) < self.batch_max and wait_left_s > 0 and not head.alone:
                self._wake_in(wait_left_s)
                return
            for job in batch:
                self._waiting.remove(job)
            self._send(pool, batch)

    def _same_kernel(self, head: PendingJob) -> list[PendingJob]:
        batch = [job for job in self._waiting if job.name == head.name and not job.alone]
        return batch[: self.batch_max]

    def _wake_in(self, delay_s: float) -> None:
        if self._wake is None:

            def wake() -> None:
                self._wake = None
                self._dispatch()

            self._wake = asyncio.get_running_loop().call_later(delay_s, wake)

    def _send(self, pool: pebble.ProcessPool, batch: list[PendingJob]) -> None:
        self.batch_sizes = [*self.batch_sizes[-999:], len(batch)]
        if len(batch) == 1:
            job = batch[0]
            call: Future[Any] = pool.schedule(
                timed_call, args=(job.kernel, *job.args), timeout=self.job_timeout_s
            )
        else:
            assert batch[0].name is not None
            jobs = [job.args for job in batch]
            call = pool.schedule(
                timed_batch, args=(batch[0].name, jobs), timeout=self.job_timeout_s
            )
        self._in_flight += 1
        loop = asyncio.get_running_loop()
        call.add_done_callback(lambda done: loop.call_soon_threadsafe(self._finish, batch, done))

    def _finish(self, batch: list[PendingJob], done: Future[Any]) -> None:
        self._in_flight -= 1
        try:
            self._settle(batch, done)
        finally:
            self._dispatch()

    def _settle(self, batch: list[PendingJob], done: Future[Any]) -> None:
        error = done.exception()
        if error is None:
            results, elapsed_s = done.result()
            if len(batch) == 1:
                results = [results]
            for job, result in zip(batch, results, strict=True):
                self._answer(job, result, elapsed_s / len(batch))
            return
        if len(batch) > 1 and not isinstance(error, FutureTimeout):
            # The batch failed as a whole (a kernel bug, a dead worker): each item alone.
            if isinstance(error, pebble.ProcessExpired):
                self._on_worker_lost("a worker process died while running a batch", False)
            for job in reversed(batch):
                job.alone = True
                self._waiting.appendleft(job)
            return
        failure = worker_failure(error, self.job_timeout_s)
        if failure is not None:
            self._on_worker_lost(failure.why, failure.timed_out)
            error = failure.error
        for job in batch:
            if not job.future.done():
                job.future.set_exception(error)

    @staticmethod
    def _answer(job: PendingJob, result: Any, service_s: float) -> None:
        if isinstance(result, PerflabError):
            job.ticket.close(learn=False)
            if not job.future.done():
                job.future.set_exception(result)
            return
        job.ticket.close(service_s=service_s)
        if not job.future.done():
            job.future.set_result(result)
