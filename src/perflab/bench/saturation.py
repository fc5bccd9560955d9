"""Which resource ran out first, read from the server's signals at a failing knee window.

The checks go from the most specific bound to the most general: a queue or offload backlog
that grows names the bottleneck directly; a full threadpool is next; a lagging event loop
means work ran in it; CPU near what the server's processes can use, then memory, explain the
rest. The evidence is one line with the numbers that decided.

Usage::

    saturated, evidence = saturated_resource(signals, point, cpu_capacity_pct(server, 2), server)
"""

from __future__ import annotations

import os
from typing import Any

LOOP_LAG_LIMIT_MS = 50.0  # a loop late by this much serves nobody in time
NEAR_FULL = 0.85
DEFAULT_THREADS = 40  # perflab serve's PERFLAB_THREADS default


def cpu_capacity_pct(server: dict[str, Any] | None, cores: int) -> float:
    """CPU the service can use, in % of one core: one core for a single worker computing in
    its loop, else every core. Usage: ``cpu_capacity_pct({"workers": 1}, 2)``"""
    if server is None:
        return 100.0 * cores
    workers = int(server.get("workers", 1))
    offload = str(server.get("offload", "process"))
    if offload in ("process", "queue"):
        return 100.0 * cores
    return 100.0 * min(cores, workers)


def _values(series: list[dict[str, Any]], key: str) -> list[float]:
    return [float(s[key]) for s in series if isinstance(s.get(key), int | float)]


def _growth(values: list[float]) -> tuple[float, float]:
    """(first, max) of a series; growth is max - first."""
    return (values[0], max(values)) if values else (0.0, 0.0)


def saturated_resource(
    signals: dict[str, Any],
    point: dict[str, Any],
    capacity_pct: float,
    server: dict[str, Any] | None,
) -> tuple[str, str]:
    """(cpu | loop | threadpool | offload | queue | memory | none, evidence). Usage: see module."""
    series = [s for s in signals.get("series", []) if isinstance(s, dict)]
    cpu = _values(series, "cpu_pct")
    cpu_max = max(cpu) if cpu else None
    cpu_note = f" while CPU peaked at {cpu_max:.0f}% (of {capacity_pct:.0f}% usable)" if cpu else ""
    rate = f"at {point['rate_per_s']:g} req/s offered"

    first, peak = _growth(_values(series, "queue_backlog"))
    if peak > first and peak >= 2:
        return "queue", f"queue backlog grew from {first:.0f} to {peak:.0f} {rate}{cpu_note}"
    first, peak = _growth(_values(series, "offload_queued"))
    if peak > first and peak >= 2:
        return "offload", f"offload queue grew from {first:.0f} to {peak:.0f} {rate}{cpu_note}"
    threads = _values(series, "threadpool_in_use")
    capacity = int((server or {}).get("threads", DEFAULT_THREADS)) * int(
        (server or {}).get("workers", 1)
    )
    if threads and max(threads) >= NEAR_FULL * capacity:
        return "threadpool", f"threadpool held {max(threads):.0f} of {capacity} threads {rate}"
    lags = _values(series, "loop_lag_ms")
    if lags and max(lags) >= LOOP_LAG_LIMIT_MS:
        return "loop", f"event loop lag reached {max(lags):,.0f} ms {rate}{cpu_note}"
    if cpu_max is not None and cpu_max >= NEAR_FULL * capacity_pct:
        return "cpu", f"CPU at {cpu_max:.0f}% of {capacity_pct:.0f}% usable {rate}"
    rss = _values(series, "rss_bytes")
    physical = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    if rss and max(rss) >= NEAR_FULL * physical:
        return "memory", f"server memory reached {max(rss) / 2**30:.1f} GiB {rate}"
    p99 = point.get("p99_ms")
    return "none", (
        f"no server signal saturated {rate} (p99 {p99:,.0f} ms, {point.get('errors', 0)} errors"
        f"{cpu_note}); the limit may be the client or the network"
    )
