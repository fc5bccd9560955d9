"""The worker-process pool: every core busy, and one dead or stuck worker fails only its own job.

Built on pebble's `ProcessPool` rather than `concurrent.futures.ProcessPoolExecutor`: the
standard pool breaks as a whole when one worker dies (every in-flight job fails with
BrokenProcessPool and the pool must be rebuilt), and it has no per-job time limit. pebble
replaces a dead worker and fails only the job that worker held (`ProcessExpired`), and stops a
job past its timeout by terminating its worker (`TimeoutError`), then starts a fresh one.

pebble's workers take a task under a lock shared by the pool (its channel mutex); a worker
killed while it holds it (a SIGKILL, the OOM killer) leaves every other worker waiting for it
(pebble's 60 s lock timeout, then a broken pool; pebble issue 163). So after a worker dies a
no-op joins the pool's queue, and until it has run the pool must finish some job in every
POOL_CHECK_S, or it is replaced by a new one: the jobs that waited in the old pool answer
503 + Retry-After (`worker_lost`) at once, and new jobs go to the new pool. Progress, not the
no-op's own wait, is the test: a busy healthy pool may hold the no-op behind seconds of queued
work (CI saw it wait past 5 s and a healthy pool's 24 waiting jobs answer 503), while a wedged
one finishes at most the jobs its live workers were already running.

pebble also gives up on a pool when a worker dies while no job is running (its "All workers
expired": it cannot tell whose job was lost, so it marks the whole pool broken, aborts every
queued job and refuses new ones). An idle worker SIGKILLed, or OOM-killed between jobs, would
otherwise turn every later request into a 500 (CI saw 3,046 in a row). Such a pool is
replaced the moment it is seen broken: the jobs it aborted answer 503 + Retry-After
(`worker_lost`) and the next job goes to the new pool.

Workers are started with forkserver, not fork: forking a process that runs an event loop and
threads copies their locks in whatever state they are in. Each worker runs the warm-ups once,
with the service's settings, so it builds exactly what the configuration uses.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import multiprocessing
import os
import signal
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from concurrent.futures.process import BrokenProcessPool
from typing import Any

import pebble

from perflab.app import observe
from perflab.app.admission import Admission, Ticket
from perflab.app.errors import WorkerLost
from perflab.app.offload.base import (
    OffloaderBase,
    OffloadStats,
    R,
    Ts,
    run_warmups,
    timed_call,
)
from perflab.app.offload.batching import Batcher, worker_failure
from perflab.config import OffloadKind, Settings

log = logging.getLogger("perflab.offload")

# How long a pool may go without finishing any job, after one of its workers died, before it
# counts as wedged. Well above the kernels' service times (the longest, /diag/cpu, is 2 s).
POOL_CHECK_S = 5.0


class _CountingPool(pebble.ProcessPool):
    """A pebble pool that counts the jobs it has finished, however they ended (the progress a
    wedged pool stops making), and tells `on_idle_death` of each worker that died between
    jobs. Both happen in pebble's threads; the loop only reads the values."""

    finished = 0

    def __init__(self, on_idle_death: Callable[[], None], *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # pebble replaces a worker that died holding no job without a word (no job failed), so
        # nothing on the loop sees it; it is a restart all the same (CI: an OOM-style SIGKILL
        # between jobs left perflab_offload_worker_restarts_total at 0). pebble asks
        # find_expired_task whose job a dead worker held: LookupError means none.
        manager = self._pool_manager
        find_expired_task = manager.find_expired_task

        def find_or_count(worker_id: int) -> Any:
            try:
                return find_expired_task(worker_id)
            except LookupError:
                on_idle_death()
                raise

        manager.find_expired_task = find_or_count  # type: ignore[method-assign]

    def schedule(self, *args: Any, **kwargs: Any) -> Any:
        future = super().schedule(*args, **kwargs)
        future.add_done_callback(self._count)
        return future

    def _count(self, _done: Future[Any]) -> None:
        self.finished += 1


def _init_worker_process(warmups: Sequence[str], nice: int, settings: Settings | None) -> None:
    # Ctrl-C reaches the whole process group; the parent decides when workers stop.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if nice:
        os.nice(nice)
    # One process per core already uses every core; native thread pools inside would fight it.
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    run_warmups(warmups, settings)


class ProcessOffloader(OffloaderBase):
    """Runs kernels in `admission.slots` worker processes; replaces any worker that dies.

    `warmups` are "module:function" references, each called once in every new worker process
    with `settings`, to build what kernels keep per process (a detector, a model) before the
    first job arrives. A job running past `job_timeout_s` answers 504 and its worker is replaced.
    """

    kind = OffloadKind.PROCESS

    def __init__(
        self,
        admission: Admission,
        warmups: Sequence[str] = (),
        nice: int = 0,
        job_timeout_s: float | None = None,
        settings: Settings | None = None,
        batch_max: int = 1,
        batch_wait_ms: int = 0,
    ) -> None:
        super().__init__(admission)
        self._warmups = tuple(warmups)
        self._nice = nice
        self._settings = settings
        self.job_timeout_s = job_timeout_s
        self._pool: _CountingPool | None = None
        # The loop-side waiters of the current pool's jobs: answered at once if it is replaced.
        self._waiting: set[asyncio.Future[Any]] = set()
        self._pool_check: asyncio.Task[None] | None = None
        self._retiring: set[asyncio.Task[None]] = set()  # old pools being stopped
        self._idle_deaths = 0  # workers pebble replaced without a failed job; its thread counts
        self._loop: asyncio.AbstractEventLoop | None = None  # the loop serving, from start()
        # batch_max 1: every job goes straight to pebble's queue. More: our own FIFO hands a
        # free worker every waiting job of its kernel (batching.py).
        self.batcher: Batcher | None = None
        if batch_max > 1:
            self.batcher = Batcher(
                self.slots,
                batch_max,
                batch_wait_ms / 1000,
                job_timeout_s,
                self._worker_replaced,
                self._live_pool,
            )

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        pool = self._new_pool()
        # Start every worker (and its warm-up) now, so the first requests do not pay for it.
        await asyncio.gather(
            *(_result_of(pool.schedule(os.getpid), self._waiting) for _ in range(self.slots))
        )

    def _new_pool(self) -> _CountingPool:
        pool = _CountingPool(
            self._count_idle_death,
            max_workers=self.slots,
            initializer=_init_worker_process,
            initargs=(self._warmups, self._nice, self._settings),
            context=multiprocessing.get_context("forkserver"),
        )
        self._pool = pool
        self._waiting = set()
        return pool

    def _live_pool(self) -> _CountingPool | None:
        """The pool to schedule on: the current one, or a new one if pebble has marked the
        current one broken (module docstring); None once closed."""
        pool = self._pool
        if pool is not None and not pool.active:
            self._replace_pool(pool, "pebble stopped the pool after a worker died while idle")
        return self._pool

    def _replace_pool(self, pool: _CountingPool, why: str) -> None:
        """Start a new pool in place of `pool`: the jobs still waiting on the old one answer
        503 at once, and the old one is stopped off the loop."""
        if self._pool is not pool:
            return
        log.error("%s; replacing the pool, its waiting jobs answer 503", why)
        self._restarts += 1
        observe.OFFLOAD_WORKER_RESTARTS.inc()
        stranded = self._waiting
        self._new_pool()
        for waiter in stranded:
            if not waiter.done():
                waiter.set_exception(
                    WorkerLost("the worker pool stopped after a worker died", retry_after_s=1.0)
                )
        # Stopping a wedged pool may wait out pebble's lock timeout: not on the loop's time.
        retiring = asyncio.get_running_loop().create_task(asyncio.to_thread(_stop, pool))
        self._retiring.add(retiring)
        retiring.add_done_callback(self._retiring.discard)

    def _count_idle_death(self) -> None:
        """In pebble's thread: a worker died holding no job. An idle worker waits for its next
        job holding the lock every worker takes jobs under, so this death can wedge the pool
        as surely as one mid-job (CI: no answer for the 4 s left of a fault cell's load after
        an idle worker was killed); watched the same way, from the loop."""
        self._idle_deaths += 1
        observe.OFFLOAD_WORKER_RESTARTS.inc()
        if self._loop is not None:
            with contextlib.suppress(RuntimeError):  # the loop closed: nothing left to serve
                self._loop.call_soon_threadsafe(self._watch_pool)

    def stats(self) -> OffloadStats:
        stats = super().stats()
        restarts = stats.worker_restarts + self._idle_deaths
        return dataclasses.replace(stats, worker_restarts=restarts)

    async def close(self) -> None:
        if self._pool_check is not None:
            self._pool_check.cancel()
        if self._pool is not None:
            pool, self._pool = self._pool, None
            pool.stop()  # type: ignore[no-untyped-call]  # pebble's stop() is unannotated
            await asyncio.to_thread(pool.join)
        if self._retiring:
            await asyncio.wait(self._retiring)

    async def run(self, kernel: Callable[[*Ts], R], *args: *Ts, ticket: Ticket | None = None) -> R:
        with self._admit(ticket) as admitted:
            pool = self._live_pool()
            if pool is None:
                raise WorkerLost("process offloader is not running", retry_after_s=1.0)
            if self.batcher is not None:
                batched: R = await self.batcher.run(kernel, args, admitted)
                return batched
            future = pool.schedule(timed_call, args=(kernel, *args), timeout=self.job_timeout_s)
            try:
                result, service_s = await _result_of(future, self._waiting)
            except (pebble.ProcessExpired, FutureTimeout, BrokenProcessPool) as error:
                failure = worker_failure(error, self.job_timeout_s)
                assert failure is not None  # all three kinds are worker failures
                self._worker_replaced(failure.why, failure.timed_out)
                raise failure.error from None
            admitted.close(service_s=service_s)
            kernel_result: R = result
            return kernel_result

    def _worker_replaced(self, why: str, timed_out: bool = False) -> None:
        log.error("%s; pebble starts a new one", why)
        if timed_out:
            self._timed_out += 1
        self._restarts += 1
        observe.OFFLOAD_WORKER_RESTARTS.inc()
        try:
            asyncio.get_running_loop()
        except RuntimeError:  # not on the loop (shutting down): nothing left to serve
            return
        self._watch_pool()

    def _watch_pool(self) -> None:
        """On the loop, after a worker died: check that the pool still finishes jobs."""
        pool = self._pool
        if pool is None or self._live_pool() is not pool:
            return  # closed, or pebble broke the pool and a new one just replaced it
        if self._pool_check is None or self._pool_check.done():
            loop = asyncio.get_running_loop()
            self._pool_check = loop.create_task(self._check_pool(pool))

    async def _check_pool(self, pool: _CountingPool) -> None:
        """Replace `pool` if it finishes no job in a POOL_CHECK_S before a no-op has run
        (module docstring)."""
        no_op = asyncio.ensure_future(_result_of(pool.schedule(os.getpid), self._waiting))
        # Whatever ends the no-op (it ran, its own worker died and a check follows, or the pool
        # was replaced) is its answer here: retrieved so none is logged as never retrieved.
        no_op.add_done_callback(lambda done: done.cancelled() or done.exception())
        try:
            finished = -1
            while pool.finished != finished:  # some job finished in the last period
                finished = pool.finished
                ran, _ = await asyncio.wait({no_op}, timeout=POOL_CHECK_S)
                if ran:
                    return
        except asyncio.CancelledError:
            no_op.cancel()
            raise
        self._replace_pool(
            pool,
            f"the pool ran no job for {POOL_CHECK_S:.0f} s after a worker died"
            " (a lock the dead worker held)",
        )


def _stop(pool: pebble.ProcessPool) -> None:
    """Stop a replaced pool and its workers. A broken pool ignores stop() (pebble keeps its
    error status) but join() still stops its workers; a wedged one's join waits for the
    dead worker's lock, so only a pool pebble broke is joined."""
    broken = not pool.active
    pool.stop()  # type: ignore[no-untyped-call]  # pebble's stop() is unannotated
    if broken:
        pool.join()


async def _result_of(future: Future[Any], waiters: set[asyncio.Future[Any]] | None = None) -> Any:
    """Await a pool future from the loop. A cancelled waiter drops a job still queued, but lets
    a running one finish: cancelling it would kill its worker and cost a respawn and warm-up.
    `waiters` holds the waiter while it waits (so a wedged pool's can be answered)."""
    loop = asyncio.get_running_loop()
    waiter: asyncio.Future[Any] = loop.create_future()
    if waiters is not None:
        waiters.add(waiter)
        waiter.add_done_callback(waiters.discard)

    def transfer(done: Future[Any]) -> None:
        if waiter.done():
            return
        if done.cancelled():
            waiter.cancel()
        elif (error := done.exception()) is not None:
            waiter.set_exception(error)
        else:
            waiter.set_result(done.result())

    def on_done(done: Future[Any]) -> None:
        # Called in pebble's thread; the loop may already be closed at shutdown.
        with contextlib.suppress(RuntimeError):
            loop.call_soon_threadsafe(transfer, done)

    future.add_done_callback(on_done)
    try:
        return await waiter
    except asyncio.CancelledError:
        if not future.running():
            future.cancel()
        raise
