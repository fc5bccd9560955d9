"""Per-second series of a study's cells on one shared time axis, for the report's charts.

Seconds count from each repeat's load start. A cell's repeats are merged second by second:
window histograms add (so p50/p99 stay exact), rates are averaged over the repeats, server
signals are averaged except loop lag, which keeps its maximum (one stall is the story).
Long runs are downsampled to at most `MAX_POINTS` buckets: rates by mean, latency and lag
by maximum, so a spike never disappears from the chart.

Usage::

    axis_s, charts = study_timeline(study.cells)
    charts[0]["series"][0]["values"]      # the first cell's p50 per second, None where absent
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from perflab.loadgen.histogram import LatencyHistogram
from perflab.report.units import finite
from perflab.results.model import CellResults

MAX_POINTS = 300
MIN_LATENCY_MS = 0.001  # log-scale charts cannot draw 0

Values = list[float | None]

# (key in the signals samples, chart title, unit, how repeats and buckets combine)
SIGNAL_CHARTS: tuple[tuple[str, str, str, str], ...] = (
    ("loop_lag_ms", "Server event-loop lag", "ms", "max"),
    ("waiting_jobs", "Server offload queue", "waiting jobs", "mean"),
    ("threadpool_in_use", "Server threadpool", "threads in use", "mean"),
    ("cpu_pct", "Server CPU", "% of one core", "mean"),
)


def study_timeline(cells: list[CellResults]) -> tuple[list[float], list[dict[str, Any]]]:
    """The shared axis (s) and the charts: latency, throughput, errors, then each server
    signal some cell exposed. Usage: ``axis_s, charts = study_timeline(cells)``"""
    measured = [cell for cell in cells if cell.measured]
    client = {cell.name: _client_seconds(cell) for cell in measured}
    signals = {cell.name: _signal_seconds(cell) for cell in measured}
    length = max(
        [len(v["ok_per_s"]) for v in client.values()]
        + [len(v) for per_key in signals.values() for v in per_key.values()]
        + [0]
    )
    bucket = max(1, math.ceil(length / MAX_POINTS))
    axis_s = [float(start) for start in range(0, length, bucket)]

    def squeeze(values: Values, how: str) -> Values:
        padded = values + [None] * (length - len(values))
        return _downsample(padded, bucket, how)

    latency = []
    for name, series in client.items():
        latency.append(
            {
                "name": f"{name} p50",
                "cell": name,
                "dash": True,
                "values": squeeze(series["p50_ms"], "max"),
            }
        )
        latency.append(
            {
                "name": f"{name} p99",
                "cell": name,
                "dash": False,
                "values": squeeze(series["p99_ms"], "max"),
            }
        )
    charts: list[dict[str, Any]] = [
        {
            "id": "latency",
            "title": "Client latency p50 (dashed) and p99",
            "unit": "ms",
            "log": True,
            "series": latency,
        },
        _chart("throughput", "Throughput", "ok answers/s", client, "ok_per_s", squeeze),
        _chart("errors", "Errors", "failed requests/s", client, "errors_per_s", squeeze),
    ]
    for key, title, unit, how in SIGNAL_CHARTS:
        exposed = {name: per_key[key] for name, per_key in signals.items() if key in per_key}
        if exposed:
            lines = [
                {"name": name, "cell": name, "dash": False, "values": squeeze(values, how)}
                for name, values in exposed.items()
            ]
            charts.append({"id": key, "title": title, "unit": unit, "log": False, "series": lines})
    return axis_s, charts


def _chart(
    chart_id: str,
    title: str,
    unit: str,
    client: dict[str, dict[str, Values]],
    key: str,
    squeeze: Callable[[Values, str], Values],
) -> dict[str, Any]:
    series = [
        {"name": name, "cell": name, "dash": False, "values": squeeze(values[key], "mean")}
        for name, values in client.items()
    ]
    return {"id": chart_id, "title": title, "unit": unit, "log": False, "series": series}


def _client_seconds(cell: CellResults) -> dict[str, Values]:
    """p50/p99 (ms), ok and errors per second, repeats merged."""
    histograms: dict[int, LatencyHistogram] = {}
    ok: dict[int, int] = {}
    errors: dict[int, int] = {}
    for repeat in cell.repeats:
        for second, window in repeat.total.windows.items():
            ok[second] = ok.get(second, 0) + window.requests - window.failures
            errors[second] = errors.get(second, 0) + window.failures
            histograms.setdefault(second, LatencyHistogram()).merge(window.histogram)
    length = max(ok, default=-1) + 1
    repeats = max(len(cell.repeats), 1)
    result: dict[str, Values] = {"p50_ms": [], "p99_ms": [], "ok_per_s": [], "errors_per_s": []}
    for second in range(length):
        hist = histograms.get(second)
        if hist is not None and hist.total_count:
            p = hist.values_at_percentiles([50.0, 99.0])
            result["p50_ms"].append(max(p[50.0] / 1000, MIN_LATENCY_MS))
            result["p99_ms"].append(max(p[99.0] / 1000, MIN_LATENCY_MS))
        else:
            result["p50_ms"].append(None)
            result["p99_ms"].append(None)
        result["ok_per_s"].append(ok.get(second, 0) / repeats)
        result["errors_per_s"].append(errors.get(second, 0) / repeats)
    return result


def _signal_seconds(cell: CellResults) -> dict[str, Values]:
    """Each exposed signal per whole second; absent metrics stay absent."""
    hows = {key: how for key, _, _, how in SIGNAL_CHARTS}
    buckets: dict[str, dict[int, list[float]]] = {}
    for repeat in cell.repeats:
        for sample in repeat.signals.series:
            t_s = finite(sample.get("t_s"))
            if t_s is None or t_s < 0:
                continue
            second = int(t_s)
            for key, value in _signal_values(sample).items():
                buckets.setdefault(key, {}).setdefault(second, []).append(value)
    result: dict[str, Values] = {}
    for key, per_second in buckets.items():
        length = max(per_second) + 1
        result[key] = [_combine(per_second.get(s, []), hows[key]) for s in range(length)]
    return result


def _signal_values(sample: dict[str, Any]) -> dict[str, float]:
    values = {
        key: number for key, *_ in SIGNAL_CHARTS if (number := finite(sample.get(key))) is not None
    }
    # The in-process pool's queue and the Redis backlog are the same story: jobs waiting.
    waiting = [finite(sample.get(k)) for k in ("offload_queued", "queue_backlog")]
    numbers = [v for v in waiting if v is not None]
    if numbers:
        values["waiting_jobs"] = sum(numbers)
    return values


def _combine(values: list[float], how: str) -> float | None:
    if not values:
        return None
    return max(values) if how == "max" else sum(values) / len(values)


def _downsample(values: Values, bucket: int, how: str) -> Values:
    if bucket == 1:
        return values
    result: Values = []
    for start in range(0, len(values), bucket):
        present = [v for v in values[start : start + bucket] if v is not None]
        result.append(_combine(present, how))
    return result
