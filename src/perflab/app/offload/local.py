"""Offloaders that run kernels in this process: inline (in the loop) and in worker threads."""

from __future__ import annotations

import functools
from collections.abc import Callable

import anyio
import anyio.to_thread

from perflab.app.admission import Admission, Ticket
from perflab.app.offload.base import OffloaderBase, R, Ts, timed_call
from perflab.config import OffloadKind


class InlineOffloader(OffloaderBase):
    """Runs the kernel in the event loop, blocking every other request while it runs."""

    kind = OffloadKind.INLINE

    async def run(self, kernel: Callable[[*Ts], R], *args: *Ts, ticket: Ticket | None = None) -> R:
        with self._admit(ticket) as admitted:
            admitted.start()
            result, service_s = timed_call(kernel, *args)
            admitted.close(service_s=service_s)
            return result


class ThreadOffloader(OffloaderBase):
    """Runs the kernel in an anyio worker thread, at most `slots` at a time."""

    kind = OffloadKind.THREAD

    def __init__(self, admission: Admission) -> None:
        super().__init__(admission)
        self._limiter = anyio.CapacityLimiter(admission.slots)

    async def run(self, kernel: Callable[[*Ts], R], *args: *Ts, ticket: Ticket | None = None) -> R:
        with self._admit(ticket) as admitted:
            call = functools.partial(timed_call, kernel, *args)
            # Timed in the thread: the time waiting for a thread is queueing, not service.
            result, service_s = await anyio.to_thread.run_sync(call, limiter=self._limiter)
            admitted.close(service_s=service_s)
            return result
