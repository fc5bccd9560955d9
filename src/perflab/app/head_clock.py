"""One timer per event loop for every connection still waiting for its request head
(perflab.app.slow_clients, docs/hardening.md).

One timer per loop rather than one per connection: a timer armed and cancelled for every
request head (uvloop starts and stops a libuv timer each time) was 1-2% of a notes request's
server time in a profile, and under a slow-head attack the loop held tens of thousands.
Every head waits the same time, so the queues below stay in deadline order by themselves: a
sweep takes the late heads from the front and sleeps until the next deadline.

Two queues: heads waiting for their timeout, and heads on their last call (read once more
after their timeout, briefly; slow_clients.py says why). A sweep hands at most `SWEEP_BATCH`
late heads to their connections and leaves the rest for the loop's next turn: closing
thousands of attackers' heads that fell due together must not stall everyone else's requests.

Usage::

    clock = head_clock(loop, timeout_s=10.0)
    clock.add(protocol, loop.time())   # its head is awaited; protocol.head_late() when due
    clock.remove(protocol)             # its head arrived (or it is gone)
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from typing import Any, Generic, Protocol, TypeVar

# How late a due head may be noticed: heads due this close together share one sweep.
SWEEP_S = 0.05
# Late heads handed over per sweep; the others wait for the loop's next turn (milliseconds).
SWEEP_BATCH = 100
# A head on its last call is read for this long before it gets its 408.
LAST_CALL_S = 0.5


class HeadWatcher(Protocol):
    def head_late(self) -> None:
        """The head is due: its deadline (or its last call) has passed."""


W = TypeVar("W", bound=HeadWatcher)


class HeadClock(Generic[W]):
    """The heads one event loop awaits, in deadline order. Usage: see the module."""

    def __init__(self, loop: asyncio.AbstractEventLoop, timeout_s: float) -> None:
        self.loop = loop
        self.timeout_s = timeout_s
        # Oldest first; the shedding in slow_clients.py closes from the front too.
        self.waiting: OrderedDict[W, float] = OrderedDict()
        self._last_call: OrderedDict[W, float] = OrderedDict()
        self._armed = False

    def add(self, watcher: W, now: float) -> None:
        deadline = self.waiting[watcher] = now + self.timeout_s
        self._arm_if_idle(deadline)

    def last_call(self, watcher: W) -> None:
        """Due once more after `LAST_CALL_S` (its head timeout has passed)."""
        deadline = self._last_call[watcher] = self.loop.time() + LAST_CALL_S
        self._arm_if_idle(deadline)

    def remove(self, watcher: W) -> None:
        # The armed sweep stays: finding nothing due, it re-arms for what is left.
        self.waiting.pop(watcher, None)
        self._last_call.pop(watcher, None)

    def _arm_if_idle(self, deadline: float) -> None:
        # Idle means a sweep found both queues empty: what was just added is the only head.
        if not self._armed:
            self._arm(deadline)

    def _arm(self, when: float) -> None:
        self._armed = True
        self.loop.call_at(when, self._sweep)

    def _next_deadline(self) -> float | None:
        fronts = [next(iter(queue.values())) for queue in (self.waiting, self._last_call) if queue]
        return min(fronts, default=None)

    def _sweep(self) -> None:
        now = self.loop.time()
        for _ in range(SWEEP_BATCH):
            due = _pop_due(self.waiting, now)
            if due is None:
                due = _pop_due(self._last_call, now)
            if due is None:
                deadline = self._next_deadline()
                if deadline is None:
                    self._armed = False
                else:
                    self._arm(max(deadline, now + SWEEP_S))
                return
            due.head_late()
        # More may be due: the rest after the loop has served what else is ready.
        self._armed = True
        self.loop.call_soon(self._sweep)


def _pop_due(queue: OrderedDict[W, float], now: float) -> W | None:
    if queue:
        watcher, deadline = next(iter(queue.items()))
        if deadline <= now:
            del queue[watcher]
            return watcher
    return None


_clocks: dict[asyncio.AbstractEventLoop, HeadClock[Any]] = {}


def head_clock(loop: asyncio.AbstractEventLoop, timeout_s: float) -> HeadClock[Any]:
    """This loop's head clock (a server worker has one loop; tests may run several)."""
    clock = _clocks.get(loop)
    if clock is None:
        for closed in [old for old in _clocks if old.is_closed()]:
            del _clocks[closed]
        clock = _clocks[loop] = HeadClock(loop, timeout_s)
    return clock
