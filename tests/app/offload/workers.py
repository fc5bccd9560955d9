"""Real `perflab worker` subprocesses and queue offloaders for tests, each bounded in time."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import redis

from perflab.app.admission import Admission
from perflab.app.offload.queue import QueueOffloader
from perflab.app.offload.streams import QueueNames
from perflab.config import Settings

STARTUP_S = 60.0  # a worker imports OpenCV and warms up; the shared 2-core box may be busy


@dataclass
class RunningWorker:
    process: subprocess.Popen[bytes]
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

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
    before = set(live_consumers(redis_url, namespace))
    log_path = tmp_path / f"worker-{time.monotonic_ns()}.log"
    command = [
        sys.executable, "-m", "perflab", "worker", "--redis", redis_url,
        "--namespace", namespace, "--processes", str(processes), "--kernels", kernels,
    ]  # fmt: skip
    with log_path.open("wb") as log_file:
        process = subprocess.Popen(
            command,
            env={**os.environ, **(env or {})},
            stdout=log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group, so a test can kill all of it
        )
    worker = RunningWorker(process, log_path)
    try:
        deadline_s = time.monotonic() + STARTUP_S
        while len(set(live_consumers(redis_url, namespace)) - before) < processes:
            if process.poll() is not None or time.monotonic() > deadline_s:
                raise RuntimeError(f"worker did not start:\n{worker.log()}")
            time.sleep(0.1)
        yield worker
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                worker.kill()


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
