"""`perflab worker`: a supervisor and N consumer processes that serve the queue's kernels.

Each consumer process (perflab.app.offload.consumer) is independent: its own consumer name,
Redis connections, warm-up and kernel thread, so N processes use N cores and one dying costs
only the jobs it held, which the others re-claim after the visibility timeout. The supervisor
only starts them, replaces one that dies, and on SIGTERM or SIGINT passes SIGTERM on and waits
while each finishes and answers the jobs in hand; it exits 0 when all of them stopped cleanly.

Consumers are started with forkserver, like the process offloader's workers: never forked from
a process that may hold threads or an event loop. A consumer whose supervisor vanished (killed
with SIGKILL) notices at its next heartbeat and stops the same clean way.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import signal
import threading
import time
from collections.abc import Sequence
from multiprocessing.process import BaseProcess
from types import FrameType

from perflab.app.offload.consumer import Consumer
from perflab.app.offload.kernels import kernel_named
from perflab.config import Settings

log = logging.getLogger("perflab.worker")

RESTART_PAUSE_S = 1.0  # between replacing the same process twice: a crash loop must not spin


def _configure_logging(settings: Settings) -> None:
    logging.basicConfig(
        level=settings.log_level.upper(),
        format="%(asctime)s %(levelname)-8s %(process)d %(name)s: %(message)s",
    )


def consumer_main(settings: Settings, kernel_names: Sequence[str]) -> None:
    """The body of one consumer process (a multiprocessing target, hence module-level)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the group; the parent decides
    _configure_logging(settings)
    consumer = Consumer(settings, [kernel_named(name) for name in kernel_names])

    async def main() -> None:
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, consumer.stop)
        await consumer.run()

    asyncio.run(main())


def run_worker(settings: Settings, kernel_names: Sequence[str], processes: int) -> int:
    """Serve `kernel_names` from the queue in `processes` processes until SIGTERM/SIGINT;
    return the exit status (0: every process finished its jobs and stopped cleanly).

    Usage: `run_worker(Settings(redis_url="redis://host:6379/0"), ["blur", "cpu"], 4)`
    """
    _configure_logging(settings)
    for name in kernel_names:
        kernel_named(name)  # an unknown name fails here, once, not in every process
    context = multiprocessing.get_context("forkserver")
    stopping = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stopping.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    def start() -> BaseProcess:
        process = context.Process(target=consumer_main, args=(settings, tuple(kernel_names)))
        process.start()
        return process

    children = [start() for _ in range(processes)]
    started_s = [time.monotonic()] * processes
    log.info(
        "perflab worker: %d process(es) serving %s from namespace %s",
        processes,
        ", ".join(kernel_names),
        settings.queue_namespace,
    )
    while not stopping.wait(0.2):
        for index, child in enumerate(children):
            if child.exitcode is None or time.monotonic() - started_s[index] < RESTART_PAUSE_S:
                continue
            log.error(
                "worker process %s exited with %s; starting another", child.pid, child.exitcode
            )
            children[index], started_s[index] = start(), time.monotonic()
    log.info("perflab worker: stopping; each process finishes the jobs it holds")
    for child in children:
        if child.exitcode is None:
            child.terminate()  # SIGTERM: the consumer's clean stop
    for child in children:
        child.join()
    failed = [child.exitcode for child in children if child.exitcode != 0]
    if failed:
        log.error("perflab worker: processes ended with %s", failed)
    return 1 if failed else 0
