"""Real `perflab worker` subprocesses and queue offloaders for tests, each bounded in time."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import anyio
import redis

from perflab.app.admission import Admission
from perflab.app.offload.queue import QueueOffloader
from perflab.app.offload.streams import QueueNames
from perflab.bench.launcher import Launched, perflab_worker
from perflab.config import Settings

STARTUP_S = 60.0  # a worker imports OpenCV and warms up; the shared 2-core box may be busy


class RunningWorker(Launched):
    """A `perflab worker` a test started: its supervisor leads its own process group."""

    def __init__(self, process: subprocess.Popen[bytes], log_path: Path) -> None:
        super().__init__("worker", process, None, log_path)

    def stop(self, timeout_s: float = 30.0) -> int:
        """SIGTERM to the supervisor only (it passes it on): the exit status of a clean stop."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=timeout_s)

    def signal_all(self, signum: signal.Signals) -> None:
        """Send `signum` to the supervisor and its consumer processes at once."""
        os.killpg(self.process.pid, signum)

    def kill(self) -> None:
        """SIGKILL the supervisor and its consumer processes at once: a machine that died."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=30)


def live_consumers(redis_url: str, namespace: str) -> list[str]:
    client = redis.Redis.from_url(redis_url)
    try:
        return [m.decode() for m in client.zrange(QueueNames(namespace).workers, 0, -1)]
    finally:
        client.close()


def consumer_pid(consumer: str) -> int:
    """The pid in a consumer name (namespace:host:pid:token)."""
    return int(consumer.split(":")[-2])


@contextlib.contextmanager
def queue_worker(
    tmp_path: Path,
    redis_url: str,
    namespace: str,
    *,
    processes: int = 1,
    kernels: str = "cpu",
    env: dict[str, str] | None = None,
) -> Iterator[RunningWorker]:
    """Run `perflab worker` until the block ends; ready once its processes heartbeat.

    Usage: `with queue_worker(tmp_path, redis_url, ns, processes=2) as worker: ...`
    """
    args = [
        "--redis", redis_url, "--namespace", namespace,
        "--processes", str(processes), "--kernels", kernels,
    ]  # fmt: skip
    worker_env = {"PERFLAB_LOG_LEVEL": os.environ.get("PERFLAB_LOG_LEVEL", "info"), **(env or {})}
    with perflab_worker(args, worker_env, log_dir=tmp_path, ready_timeout_s=STARTUP_S) as launched:
        yield RunningWorker(launched.process, launched.log_path)


@contextlib.asynccontextmanager
async def queue_offloader(
    redis_url: str, namespace: str, slots: int = 1, **settings: Any
) -> AsyncIterator[QueueOffloader]:
    """A started QueueOffloader (what one API worker process holds), closed afterwards."""
    config = Settings(redis_url=redis_url, queue_namespace=namespace, **settings)
    admission = Admission("offload", slots, config.queue_budget_s, 1 << 30)
    offloader = QueueOffloader(admission, config)
    await offloader.start()
    try:
        yield offloader
    finally:
        await offloader.close()


async def eventually(condition: Callable[[], bool], timeout_s: float = 30.0) -> None:
    """Wait until `condition()` holds; fail (not hang) after `timeout_s`."""
    with anyio.fail_after(timeout_s):
        while not condition():  # noqa: ASYNC110  # polls Redis or a subprocess: no event to wait on
            await anyio.sleep(0.05)
