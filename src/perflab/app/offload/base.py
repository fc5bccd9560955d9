"""The offloader protocol, its stats, and how a kernel is called wherever it runs."""

from __future__ import annotations

import importlib
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any, Protocol, TypeVar, TypeVarTuple

from perflab.app import observe
from perflab.app.admission import Admission, Ticket
from perflab.app.errors import ClientError, KernelFailed
from perflab.config import OffloadKind, Settings

log = logging.getLogger("perflab.offload")

R = TypeVar("R")
Ts = TypeVarTuple("Ts")


@dataclass(frozen=True)
class OffloadStats:
    kind: str
    slots: int
    running: int
    queued: int
    expected_wait_s: float
    rejected: int
    worker_restarts: int
    timed_out: int

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class Offloader(Protocol):
    """Runs kernels somewhere other than (or, inline, in) the event loop.

    `run` admits the job itself (no bytes held), unless the caller already holds a `Ticket`
    from `offloader.admission.admit(cost_bytes=...)`: a large body is admitted by its declared
    size before it is read, and the same ticket then carries it through the kernel. `run`
    closes the ticket either way.
    """

    kind: OffloadKind
    admission: Admission

    async def start(self) -> None: ...

    async def close(self) -> None: ...

    async def run(
        self, kernel: Callable[[*Ts], R], *args: *Ts, ticket: Ticket | None = None
    ) -> R: ...

    def stats(self) -> OffloadStats: ...


class OffloaderBase:
    """What every offloader shares: its admission, counters and stats."""

    kind: OffloadKind

    def __init__(self, admission: Admission) -> None:
        self.admission = admission
        self.slots = admission.slots
        self._restarts = 0
        self._timed_out = 0

    def _admit(self, ticket: Ticket | None) -> Ticket:
        return ticket if ticket is not None else self.admission.admit()

    def stats(self) -> OffloadStats:
        in_system = self.admission.in_system
        running = min(in_system, self.slots)
        return OffloadStats(
            kind=self.kind.value,
            slots=self.slots,
            running=running,
            queued=in_system - running,
            expected_wait_s=round(self.admission.expected_wait_s(), 6),
            rejected=admission_shed(self.admission),
            worker_restarts=self._restarts,
            timed_out=self._timed_out,
        )

    async def start(self) -> None:
        return None

    async def close(self) -> None:
        return None


def admission_shed(admission: Admission) -> int:
    return sum(admission.shed.values())


def run_warmups(refs: Sequence[str], settings: Settings | None) -> None:
    """Call each "module:function" warm-up with the settings, in this process."""
    for ref in refs:
        module_name, _, func_name = ref.partition(":")
        getattr(importlib.import_module(module_name), func_name)(settings)


def call_kernel(kernel: Callable[[*Ts], R], *args: *Ts) -> R:
    """Run a kernel, keeping client errors and wrapping the rest so nothing leaks as a 500 trace."""
    try:
        return kernel(*args)
    except ClientError:
        raise
    except Exception as exc:
        name = getattr(kernel, "__qualname__", repr(kernel))
        log.exception("kernel %s failed", name)
        raise KernelFailed(f"kernel {name} failed: {type(exc).__name__}") from None


def timed_call(kernel: Callable[[*Ts], R], *args: *Ts) -> tuple[R, float]:
    """`call_kernel`, plus the seconds it took where it ran: the service time admission learns."""
    started = time.perf_counter()
    result = call_kernel(kernel, *args)
    return result, time.perf_counter() - started


def sampler(offloader: Offloader) -> Callable[[], None]:
    """A loop-lag-monitor sampler that copies the offloader's queue into its gauges."""

    def sample() -> None:
        stats = offloader.stats()
        observe.OFFLOAD_RUNNING.set(stats.running)
        observe.OFFLOAD_QUEUED.set(stats.queued)

    return sample
