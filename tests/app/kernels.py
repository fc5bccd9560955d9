"""Kernels for offloader tests: module-level so worker processes can import them by name."""

from __future__ import annotations

import gc
import os
import signal
import threading
import time

from perflab.app.errors import BadRequest
from perflab.config import Settings

_warmed: list[int] = []
_warmed_with: list[str] = []


def warm_up(settings: Settings | None) -> None:
    _warmed.append(os.getpid())
    if settings is not None:
        _warmed_with.append(settings.face_detector.value)


def warmed_with() -> list[str]:
    """The face detector named by the settings each warm-up in this process was given."""
    return list(_warmed_with)


def warmed_pids() -> tuple[list[int], int]:
    """(pids that ran warm_up in this process, this process's pid)."""
    return list(_warmed), os.getpid()


def where() -> tuple[int, int]:
    """(process id, thread id) of whoever runs the kernel."""
    return os.getpid(), threading.get_ident()


def add(a: int, b: int) -> int:
    return a + b


def reject(message: str) -> None:
    raise BadRequest(message)


def crash() -> None:
    raise ZeroDivisionError("a bug in a kernel")


def die() -> None:
    os._exit(3)


def die_holding_the_pool_lock() -> None:
    """Die the way a SIGKILL or the OOM killer can catch a pebble worker: holding the lock all
    of its pool's workers take tasks and send results under (pebble issue 163)."""
    from pebble.pool.channel import WorkerChannel

    [channel] = [o for o in gc.get_objects() if isinstance(o, WorkerChannel)]
    channel.mutex.acquire()
    os.kill(os.getpid(), signal.SIGKILL)


def sleep_s(seconds: float) -> float:
    time.sleep(seconds)
    return seconds


def niceness() -> int:
    return os.nice(0)
