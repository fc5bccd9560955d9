"""The run-level metrics: one number per repeat (run) of a cell, the unit every comparison,
calibration and history of the lab rests on (docs/compare.md).

A repeat's requests share its machine state (a fresh server, the box's load at the time, its
CPU frequency), so they are not independent samples of the cell: the repeat is. Each metric
is therefore one value per repeat, for all its requests or for one request name:

| key        | value                                     | scale | better |
|------------|-------------------------------------------|-------|--------|
| throughput | correct answers / measured duration (1/s) | log   | higher |
| p50        | median latency (us, exact HdrHistogram)   | log   | lower  |
| p99        | 99th percentile latency (us)              | log   | lower  |
| errors     | failed / all requests (a fraction)        | raw   | lower  |

Ratios of the log-scale metrics are what change (10% slower is 10% at any size), so their
spread is the standard deviation of the logs (about the coefficient of variation); the error
rate changes by a difference (a ratio to zero errors means nothing).

Usage::

    metric_value(repeat, "p99")                 # latency in us, all requests
    metric_value(repeat, "throughput", "small") # one request name; None: not recorded
    generator_cpu_share(repeat)                 # 0.97: the load generator was saturated
    steal_pct(repeat)                           # 4.2: % of CPU time the host withheld
"""

from __future__ import annotations

from perflab.results.model import RepeatResult, ok_rate_per_s

METRIC_KEYS = ("throughput", "p50", "p99", "errors")
LOG_SCALE = {"throughput": True, "p50": True, "p99": True, "errors": False}
HIGHER_IS_BETTER = {"throughput": True, "p50": False, "p99": False, "errors": False}
# A generator process above this share of one core sets the pace itself: the measured load
# may be bounded by the client, not the server (DESIGN.md: a Python generator takes about
# half of a 2-core box).
GENERATOR_SATURATED = 0.9
# The host withholding this share of all CPU time (steal, perflab.bench.steal) while a repeat ran
# slowed it by about as much: more than a cell's run-to-run spread where that is a few percent.
STEAL_NOTICEABLE_PCT = 3.0


def metric_value(repeat: RepeatResult, key: str, name: str | None = None) -> float | None:
    """One repeat's value of metric `key` (METRIC_KEYS), all requests or one request name;
    None when that name was not recorded. Usage: ``metric_value(repeat, "p50")``"""
    stats = repeat.stats(name)
    if stats is None:
        return None
    if key == "throughput":
        return ok_rate_per_s(stats, repeat.duration_s)
    if key == "errors":
        return stats.failure_count / stats.requests if stats.requests else 0.0
    if key in ("p50", "p99"):
        return float(stats.histogram.value_at_percentile(float(key[1:])))
    raise KeyError(f"unknown metric {key!r}; metrics: {', '.join(METRIC_KEYS)}")


def generator_cpu_share(repeat: RepeatResult) -> float | None:
    """The load generator's CPU per process as a share of one core (1.0: a full core), or
    None when not recorded. Usage: ``generator_cpu_share(repeat) > GENERATOR_SATURATED``"""
    cpu_s = repeat.generator_cpu_s
    processes = max(repeat.recording.processes, 1)
    if cpu_s is None or repeat.duration_s <= 0:
        return None
    return cpu_s / (repeat.duration_s * processes)


def steal_pct(repeat: RepeatResult) -> float | None:
    """The share of all CPU time (%) the host withheld from this machine while the repeat's
    load ran, or None when not recorded (older files, not Linux). Usage:
    ``steal_pct(repeat) >= STEAL_NOTICEABLE_PCT``"""
    conditions = repeat.extra.get("conditions")
    value = conditions.get("steal_pct") if isinstance(conditions, dict) else None
    return float(value) if isinstance(value, int | float) else None
