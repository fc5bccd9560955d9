"""What a worker does with the jobs it read, in its kernel thread: no Redis here.

Each job is checked against its deadline (on Redis's clock) just before it starts, decoded with
its kernel's declared types, run, and turned into a reply. Jobs of one read for a kernel that
takes batches (`Kernel.batch`) run as one batch; a batch that fails as a whole is run again item
by item, so one bad input fails only its own request. A job that cannot be decoded or whose
kernel fails is answered with the error (a `ClientError` keeps its status); it is never
retried, since it would fail the same way again.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import msgspec

from perflab.app.errors import KernelFailed, PerflabError
from perflab.app.offload.base import timed_call
from perflab.app.offload.kernels import Args, Kernel
from perflab.app.offload.wire import (
    JobMessage,
    Reply,
    decode_args,
    decode_job,
    encode,
    error_to_wire,
)

log = logging.getLogger("perflab.worker")

Clock = Callable[[], float]


@dataclass(frozen=True)
class Delivery:
    """A job as read from its stream: `deliveries` counts this hand-out (1: first time);
    `recovered`: taken back from the worker's own pending list after it was lost on the way
    (recovery.py)."""

    stream: str
    entry_id: str
    kernel: Kernel
    fields: dict[bytes, bytes]
    deliveries: int
    recovered: bool = False


@dataclass(frozen=True)
class Outcome:
    """What to send for one delivery: `reply` to `reply_to` (None: nothing to send), and the
    event it counts as in the stats hash (jobs, expired, failed, dead_lettered)."""

    delivery: Delivery
    reply_to: str | None
    reply: bytes | None
    event: str


@dataclass(frozen=True)
class _Ready:
    delivery: Delivery
    job: JobMessage
    deadline_ms: int
    args: Args


def run_jobs(deliveries: Sequence[Delivery], worker: str, now_ms: Clock) -> list[Outcome]:
    """Run the deliveries of one read and say what to answer for each, in order.

    Usage (in the kernel thread): `outcomes = run_jobs(deliveries, consumer_name, clock_ms)`
    """
    size = len(deliveries)
    outcomes: dict[int, Outcome] = {}
    by_kernel: dict[str, list[tuple[int, _Ready]]] = {}
    for index, delivery in enumerate(deliveries):
        ready = _prepare(delivery, worker, size)
        if isinstance(ready, Outcome):
            outcomes[index] = ready
        else:
            by_kernel.setdefault(delivery.kernel.name, []).append((index, ready))
    for items in by_kernel.values():
        kernel = items[0][1].delivery.kernel
        live = []
        for index, ready in items:
            if now_ms() >= ready.deadline_ms:
                # Its request has already answered 504: running it would only delay the rest.
                outcomes[index] = Outcome(ready.delivery, None, None, "expired")
            else:
                live.append((index, ready))
        batched = None
        if kernel.batch is not None and len(live) > 1:
            batched = _run_batch(kernel, [ready.args for _, ready in live])
        for position, (index, ready) in enumerate(live):
            if batched is not None:
                result, service_s = batched[position]
            elif now_ms() >= ready.deadline_ms:  # it expired while the ones before it ran
                outcomes[index] = Outcome(ready.delivery, None, None, "expired")
                continue
            else:
                result, service_s = _run_one(kernel, ready.args)
            outcomes[index] = _answer(ready, worker, size, result, service_s)
    return [outcomes[index] for index in range(size)]


def _prepare(delivery: Delivery, worker: str, size: int) -> _Ready | Outcome:
    try:
        job = decode_job(delivery.fields[b"job"])
        deadline_ms = int(delivery.fields[b"deadline_ms"])
    except (KeyError, ValueError, msgspec.MsgspecError) as error:
        log.error("job %s on %s cannot be read: %s", delivery.entry_id, delivery.stream, error)
        return Outcome(delivery, None, None, "failed")
    kernel = delivery.kernel
    try:
        args = decode_args(kernel, job.args)
    except msgspec.MsgspecError as error:
        log.error("job %s for %s has bad arguments: %s", delivery.entry_id, kernel.name, error)
        failure = KernelFailed(f"the {kernel.name} job's arguments do not decode: {error}")
        ready = _Ready(delivery, job, deadline_ms, ())
        return _answer(ready, worker, size, failure, 0.0, event="failed")
    return _Ready(delivery, job, deadline_ms, args)


def _run_one(kernel: Kernel, args: Args) -> tuple[Any, float]:
    try:
        return timed_call(kernel.function, *args)
    except PerflabError as error:  # client errors keep their status; the rest is KernelFailed
        return error, 0.0


def _run_batch(kernel: Kernel, batch: list[Args]) -> list[tuple[Any, float]] | None:
    """One call for the whole batch, each item's share of the time as its service time; None
    when the batch failed as a whole (its items are then run one by one)."""
    assert kernel.batch is not None
    started = time.perf_counter()
    try:
        results = kernel.batch(batch)
    except Exception:
        log.exception("a %s batch of %d failed; running it item by item", kernel.name, len(batch))
        return None
    share_s = (time.perf_counter() - started) / len(batch)
    return [(result, share_s) for result in results]


def _answer(
    ready: _Ready, worker: str, size: int, result: Any, service_s: float, event: str = "jobs"
) -> Outcome:
    delivery = ready.delivery
    reply = Reply(
        ready.job.job_id,
        worker,
        service_s=service_s,
        deliveries=delivery.deliveries,
        batch_size=size,
    )
    if isinstance(result, PerflabError):
        reply = msgspec.structs.replace(reply, error=error_to_wire(result))
    else:
        reply = msgspec.structs.replace(reply, result=msgspec.Raw(encode(result)))
    return Outcome(delivery, ready.job.reply_to, encode(reply), event)
