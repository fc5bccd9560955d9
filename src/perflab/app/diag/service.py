"""Pure work for the diagnostic endpoint: burn a given amount of CPU in pure Python.

Pure Python holds the GIL the whole time, which is the point: under the thread offloader it
still blocks the loop's thread from running Python, under the process offloader it does not.
"""

from __future__ import annotations

import os
import time


def burn_cpu(work_ms: int) -> dict[str, int]:
    """Spin for `work_ms` of this thread's CPU time; return the loop count and the worker's pid."""
    deadline_s = time.thread_time() + work_ms / 1000
    iterations = 0
    while time.thread_time() < deadline_s:
        # A little arithmetic per check keeps the clock calls from dominating the loop.
        for _ in range(1000):
            iterations += 1
    return {"work_ms": work_ms, "iterations": iterations, "pid": os.getpid()}
