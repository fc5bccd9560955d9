"""The messages perflab adds to locust's master/worker protocol (locust custom messages).

::

    worker -> master  HELLO     {"host", "pid"}: sent from the worker's init event, when its
                                handlers are registered (locust's own connect comes earlier)
    master -> worker  WORKLOAD  the cell's streams (`perflab.locust.wire`)
    worker -> master  READY     {} once its request bytes are built, or {"error": message}
    master -> worker  SHARE     {"index", "workers", "start_at_unix_s", "shares": [per stream]}
    worker -> master  DELTA     every second: what it recorded since the previous delta
                                (`perflab.locust.worker_recording`), its CPU, whether done
    worker -> master  DONE      {}: its share is complete and nothing is in flight
    worker -> master  FINAL     its last delta, at its test_stop (then locust's client_stopped)

Deltas travel in perflab's own message, once a second, rather than in locust's worker report
(every 3 s): a worker that dies loses at most its last second, and the master's progress is
current.

Usage: ``runner.register_message(protocol.WORKLOAD, handler)``
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

HELLO = "perflab_hello"
WORKLOAD = "perflab_workload"
READY = "perflab_ready"
SHARE = "perflab_share"
DELTA = "perflab_delta"
DONE = "perflab_done"
FINAL = "perflab_final"
DELTA_INTERVAL_S = 1.0

MAX_STREAMS = 4  # one locust user class per stream; the studies use at most two
STREAM_CLASS_NAMES = tuple(f"PerflabStream{index}" for index in range(MAX_STREAMS))


def listen(hook: Any, handler: Callable[..., None]) -> None:
    """Add `handler` to a locust event hook (locust's EventHook is untyped).

    Usage: ``listen(environment.events.test_stop, on_test_stop)``
    """
    hook.add_listener(handler)
