"""The worker-process pool: every core busy, and one dead or stuck worker fails only its own job.

Built on pebble's `ProcessPool` rather than `concurrent.futures.ProcessPoolExecutor`: the
standard pool breaks as a whole when one worker dies (every in-flight job fails with
BrokenProcessPool and the pool must be rebuilt), and it has no per-job time limit. pebble
replaces a dead worker and fails only the job that worker held (`ProcessExpired`), and stops a
job past its timeout by terminating its worker (`TimeoutError`), then starts a fresh one.

Workers are started with forkserver, not fork: forking a process that runs an event loop and
threads copies their locks in whatever state they are in. Each worker runs the warm-ups once,
with the service's settings, so it builds exactly what the configuration uses.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import multiprocessing
import os
import signal
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any

import pebble

from perflab.app import observe
from perflab.app.admission import Admission, Ticket
from perflab.app.errors import WorkerLost
from perflab.app.offload.base import OffloaderBase, R, Ts, run_warmups, timed_call
from perflab.app.offload.batching import Batcher, worker_failure
from perflab.config import OffloadKind, Settings

log = logging.getLogger("perflab.offload")


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
        self._pool: pebble.ProcessPool | None = None
        # batch_max 1: every job goes straight to pebble's queue. More: our own FIFO hands a
        # free worker every waiting job of its kernel (batching.py).
        self.batcher: Batcher | None = None
        if batch_max > 1:
            self.batcher = Batcher(
                self.slots, batch_max, batch_wait_ms / 1000, job_timeout_s, self._worker_replaced
            )

    async def start(self) -> None:
        self._pool = pebble.ProcessPool(
            max_workers=self.slots,
            initializer=_init_worker_process,
            initargs=(self._warmups, self._nice, self._settings),
            context=multiprocessing.get_context("forkserver"),
        )
        if self.batcher is not None:
            self.batcher.pool = self._pool
        # Start every worker (and its warm-up) now, so the first requests do not pay for it.
        pool = self._pool
        await asyncio.gather(*(_result_of(pool.schedule(os.getpid)) for _ in range(self.slots)))

    async def close(self) -> None:
        if self._pool is not None:
            pool, self._pool = self._pool, None
            if self.batcher is not None:
                self.batcher.pool = None
            pool.stop()  # type: ignore[no-untyped-call]  # pebble's stop() is unannotated
            await asyncio.to_thread(pool.join)

    async def run(self, kernel: Callable[[*Ts], R], *args: *Ts, ticket: Ticket | None = None) -> R:
        with self._admit(ticket) as admitted:
            pool = self._pool
            if pool is None:
                raise WorkerLost("process offloader is not running", retry_after_s=1.0)
            if self.batcher is not None:
                batched: R = await self.batcher.run(kernel, args, admitted)
                return batched
            future = pool.schedule(timed_call, args=(kernel, *args), timeout=self.job_timeout_s)
            try:
                result, service_s = await _result_of(future)
            except (pebble.ProcessExpired, FutureTimeout) as error:
                failure = worker_failure(error, self.job_timeout_s)
                assert failure is not None  # both kinds are worker failures
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


async def _result_of(future: Future[Any]) -> Any:
    """Await a pool future from the loop. A cancelled waiter drops a job still queued, but lets
    a running one finish: cancelling it would kill its worker and cost a respawn and warm-up."""
    loop = asyncio.get_running_loop()
    waiter: asyncio.Future[Any] = loop.create_future()

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
