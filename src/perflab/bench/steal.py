"""The share of this machine's CPU time its host withheld (steal) over a stretch of time.

On a virtual machine the hypervisor may run other guests on the physical CPUs this one was
given; Linux counts the time a virtual CPU was ready to run but not run as "steal" (the
8th column of /proc/stat's cpu line, `psutil.cpu_times().steal`). A repeat measured while
the host withheld a noticeable share ran on a slower machine than one measured without,
though nothing inside the VM was busy, so `busy_pct_before` cannot see it. Each repeat
records it as `conditions.steal_pct` (docs/compare.md), and compare names the repeats that
lost more than a few percent. None where the system does not count steal (not Linux).

Usage::

    meter = StealMeter()
    ...                         # the measured load
    meter.pct()                 # 0.4: % of all CPU time over the stretch, None: not counted
"""

from __future__ import annotations

from typing import Any

import psutil


class StealMeter:
    """Steal since construction, as a share of all CPUs' time. Usage: see module."""

    def __init__(self) -> None:
        self._start = psutil.cpu_times()

    def pct(self) -> float | None:
        """Percent of all CPU time (every CPU, every state) since construction that the host
        withheld; None when not counted here or no time was counted."""
        return steal_between(self._start, psutil.cpu_times())


def steal_between(before: Any, after: Any) -> float | None:
    """Steal between two `psutil.cpu_times()` readings, % of all CPU time between them.
    Usage: ``steal_between(psutil.cpu_times(), psutil.cpu_times())``"""
    if not hasattr(before, "steal") or not hasattr(after, "steal"):
        return None
    # guest time is already counted inside user and nice on Linux: left out of the total
    counted = ("user", "nice", "system", "idle", "iowait", "irq", "softirq", "steal")
    total = float(sum(getattr(after, f, 0.0) - getattr(before, f, 0.0) for f in counted))
    if total <= 0:
        return None
    return round(100.0 * float(after.steal - before.steal) / total, 2)
