"""How CPU-heavy kernels leave the event loop: one protocol, three strategies.

An `async def` endpoint never calls a kernel directly; it awaits `offloader.run(kernel, *args)`:

- `InlineOffloader` calls the kernel in the event loop: the seeds' mistake, kept to measure it.
- `ThreadOffloader` runs it in an anyio worker thread: helps only when the kernel releases the GIL.
- `ProcessOffloader` (the default) runs it in a pool of worker processes; per-process state (a
  detector, a model) is built once per process by warm-up functions, never shared by threads.

Every offloader is bounded: past `slots + queue` jobs a request gets `Overloaded` (503 with
Retry-After) at once rather than a timeout minutes later. A kernel raising a `ClientError` keeps
its meaning (e.g. 400 for an undecodable image); any other exception becomes `KernelFailed`. A
worker process that dies fails the jobs it took down with `WorkerLost` (503) and the pool is
replaced, so the next request succeeds. Kernels and their arguments must be picklable: send
encoded bytes (a JPEG, a request body), never decoded pixel arrays, to worker processes.

Batching offloaders (several waiting jobs handed to one kernel call) and the Redis-queue
offloader implement this same protocol.
"""

from __future__ import annotations

import asyncio
import functools
import importlib
import logging
import multiprocessing
import os
import signal
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from typing import Any, Protocol, TypeVar, TypeVarTuple

import anyio
import anyio.to_thread

from perflab.app import observe
from perflab.app.errors import ClientError, KernelFailed, Overloaded, WorkerLost
from perflab.config import OffloadKind, Settings

log = logging.getLogger("perflab.offload")

R = TypeVar("R")
Ts = TypeVarTuple("Ts")


@dataclass(frozen=True)
class OffloadStats:
    kind: str
    slots: int
    queue_limit: int
    running: int
    queued: int
    rejected: int
    worker_restarts: int

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class Offloader(Protocol):
    kind: OffloadKind

    async def start(self) -> None: ...

    async def close(self) -> None: ...

    async def run(self, kernel: Callable[[*Ts], R], *args: *Ts) -> R: ...

    def stats(self) -> OffloadStats: ...


class _Bounded:
    """Admission control shared by every offloader: `slots` run, `queue_limit` wait, rest 503."""

    kind: OffloadKind

    def __init__(self, slots: int, queue_limit: int) -> None:
        self.slots = slots
        self.queue_limit = queue_limit
        self._active = 0
        self._rejected = 0
        self._restarts = 0

    @contextmanager
    def _admit(self) -> Iterator[None]:
        if self._active >= self.slots + self.queue_limit:
            self._rejected += 1
            observe.OFFLOAD_REJECTED.inc()
            raise Overloaded(
                f"{self.kind.value} offloader is full: {self.slots} running, "
                f"{self.queue_limit} waiting",
                retry_after_s=1.0,
            )
        self._active += 1
        try:
            yield
        finally:
            self._active -= 1

    def stats(self) -> OffloadStats:
        running = min(self._active, self.slots)
        return OffloadStats(
            kind=self.kind.value,
            slots=self.slots,
            queue_limit=self.queue_limit,
            running=running,
            queued=self._active - running,
            rejected=self._rejected,
            worker_restarts=self._restarts,
        )

    async def start(self) -> None:
        return None

    async def close(self) -> None:
        return None


def _call_kernel(kernel: Callable[[*Ts], R], *args: *Ts) -> R:
    """Run a kernel, keeping client errors and wrapping the rest so nothing leaks as a 500 trace."""
    try:
        return kernel(*args)
    except ClientError:
        raise
    except Exception as exc:
        name = getattr(kernel, "__qualname__", repr(kernel))
        log.exception("kernel %s failed", name)
        raise KernelFailed(f"kernel {name} failed: {type(exc).__name__}") from None


class InlineOffloader(_Bounded):
    """Runs the kernel in the event loop, blocking every other request while it runs."""

    kind = OffloadKind.INLINE

    def __init__(self) -> None:
        super().__init__(slots=1, queue_limit=0)

    async def run(self, kernel: Callable[[*Ts], R], *args: *Ts) -> R:
        with self._admit():
            return _call_kernel(kernel, *args)


class ThreadOffloader(_Bounded):
    """Runs the kernel in an anyio worker thread, at most `slots` at a time."""

    kind = OffloadKind.THREAD

    def __init__(self, slots: int, queue_limit: int) -> None:
        super().__init__(slots, queue_limit)
        self._limiter = anyio.CapacityLimiter(slots)

    async def run(self, kernel: Callable[[*Ts], R], *args: *Ts) -> R:
        with self._admit():
            call = functools.partial(_call_kernel, kernel, *args)
            return await anyio.to_thread.run_sync(call, limiter=self._limiter)


def _init_worker_process(warmups: Sequence[str], nice: int) -> None:
    # Ctrl-C reaches the whole process group; the parent decides when workers stop.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if nice:
        os.nice(nice)
    # One process per core already uses every core; native thread pools inside would fight it.
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    for ref in warmups:
        module_name, _, func_name = ref.partition(":")
        getattr(importlib.import_module(module_name), func_name)()


class ProcessOffloader(_Bounded):
    """Runs the kernel in a pool of worker processes; replaces the pool if a worker dies.

    `warmups` are "module:function" references called once in each new worker process, to load
    what kernels keep per process (a detector, a model) before the first job arrives.
    """

    kind = OffloadKind.PROCESS

    def __init__(
        self, slots: int, queue_limit: int, warmups: Sequence[str] = (), nice: int = 0
    ) -> None:
        super().__init__(slots, queue_limit)
        self._warmups = tuple(warmups)
        self._nice = nice
        self._pool: ProcessPoolExecutor | None = None

    def _new_pool(self) -> ProcessPoolExecutor:
        # forkserver, not fork: forking a process that runs an event loop and threads copies
        # their locks in whatever state they are in.
        return ProcessPoolExecutor(
            max_workers=self.slots,
            mp_context=multiprocessing.get_context("forkserver"),
            initializer=_init_worker_process,
            initargs=(self._warmups, self._nice),
        )

    async def start(self) -> None:
        self._pool = self._new_pool()
        # Start every worker (and its warm-up) now, so the first requests do not pay for it.
        loop = asyncio.get_running_loop()
        pool = self._pool
        await asyncio.gather(*(loop.run_in_executor(pool, os.getpid) for _ in range(self.slots)))

    async def close(self) -> None:
        if self._pool is not None:
            pool, self._pool = self._pool, None
            await anyio.to_thread.run_sync(functools.partial(pool.shutdown, cancel_futures=True))

    async def run(self, kernel: Callable[[*Ts], R], *args: *Ts) -> R:
        with self._admit():
            pool = self._pool
            if pool is None:
                raise WorkerLost("process offloader is not running", retry_after_s=1.0)
            call = functools.partial(_call_kernel, kernel, *args)
            try:
                return await asyncio.get_running_loop().run_in_executor(pool, call)
            except BrokenProcessPool:
                self._replace(pool)
                raise WorkerLost(
                    "a worker process died while running this job; it has been replaced",
                    retry_after_s=1.0,
                ) from None

    def _replace(self, broken: ProcessPoolExecutor) -> None:
        # Several jobs fail together when a pool breaks; only the first one replaces it.
        if self._pool is broken:
            log.error("a worker process died; replacing the process pool")
            self._restarts += 1
            observe.OFFLOAD_WORKER_RESTARTS.inc()
            self._pool = self._new_pool()
            broken.shutdown(wait=False, cancel_futures=True)


def make_offloader(settings: Settings, warmups: Sequence[str] = ()) -> Offloader:
    """The offloader `settings.offload` names, sized from the settings."""
    slots = settings.offload_process_count()
    if settings.offload is OffloadKind.INLINE:
        return InlineOffloader()
    if settings.offload is OffloadKind.THREAD:
        return ThreadOffloader(slots, settings.offload_queue)
    return ProcessOffloader(slots, settings.offload_queue, warmups, settings.offload_nice)


def sampler(offloader: Offloader) -> Callable[[], None]:
    """A loop-lag-monitor sampler that copies the offloader's queue into its gauges."""

    def sample() -> None:
        stats = offloader.stats()
        observe.OFFLOAD_RUNNING.set(stats.running)
        observe.OFFLOAD_QUEUED.set(stats.queued)

    return sample
