"""Locust's own statistics beside perflab's exact ones, per request name (a run on locust's
runner, `perflab bench --engine locust`): here, below the report that shows them and the
locust package that stores them.

Locust's workers round every latency into a bucket before they count it (to the millisecond
under 100 ms, to 10 ms under 1 s, to 100 ms under 10 s, to the second above), and its
percentile picks a bucket, so a p99 can land above the max (locust issues 255, 331, 1563).
Its latency also counts from when a request was actually sent, so under the open model it
leaves out the time a request waited for its slot (coordinated omission). perflab's figures
come from HdrHistograms merged bucket by bucket (3 significant digits) and, in the open
model, count from the scheduled time.

The master stores locust's own figures in the recording (``metadata["locust"]["own_stats"]``,
per name and ``"Aggregated"``) beside the exact histograms; `exactness_rows` sets them side
by side, `exactness_markdown` prints them.

Usage::

    rows = exactness_rows(recording)
    rows[0]["exact_p99_ms"], rows[0]["locust_p99_ms"], rows[0]["locust_p99_over_max"]
    print(exactness_markdown(rows))
"""

from __future__ import annotations

from typing import Any

from perflab.loadgen.recording import TOTAL_NAME, NameStats, Recording


def _ms(us: int) -> float:
    return round(us / 1000, 3)


def _row(name: str, exact: NameStats, own: dict[str, Any]) -> dict[str, Any]:
    p = exact.histogram.values_at_percentiles([50.0, 99.0])
    exact_p99_ms = _ms(p[99.0])
    locust_p99_ms = own.get("p99_ms")
    locust_max_ms = own.get("max_ms")
    error_pct = None
    if isinstance(locust_p99_ms, int | float) and exact_p99_ms > 0:
        error_pct = round(100 * (locust_p99_ms - exact_p99_ms) / exact_p99_ms, 2)
    return {
        "name": name,
        "requests": exact.requests,
        "locust_requests": own.get("requests"),
        "exact_p50_ms": _ms(p[50.0]),
        "locust_p50_ms": own.get("p50_ms"),
        "exact_p99_ms": exact_p99_ms,
        "locust_p99_ms": locust_p99_ms,
        "exact_max_ms": _ms(exact.histogram.max_us()),
        "locust_max_ms": locust_max_ms,
        "p99_error_pct": error_pct,  # locust's p99 against the exact one
        "locust_p99_over_max": (
            isinstance(locust_p99_ms, int | float)
            and isinstance(locust_max_ms, int | float)
            and locust_p99_ms > locust_max_ms
        ),
    }


def exactness_rows(recording: Recording) -> list[dict[str, Any]]:
    """One row per request name and one for all of them ("Aggregated"); [] for a recording
    that did not run on locust. Usage: ``exactness_rows(repeat.recording)``"""
    own_stats = recording.metadata.get("locust", {}).get("own_stats")
    if not isinstance(own_stats, dict):
        return []
    rows = [
        _row(name, stats, own_stats.get(name) or {})
        for name, stats in sorted(recording.names.items())
    ]
    rows.append(_row(TOTAL_NAME, recording.total(), own_stats.get(TOTAL_NAME) or {}))
    return rows


def exactness_markdown(rows: list[dict[str, Any]]) -> str:
    """The rows as a Markdown table. Usage: ``print(exactness_markdown(rows))``"""

    def cell(value: Any) -> str:
        if value is None:
            return "-"
        return f"{value:,}" if isinstance(value, int | float) else str(value)

    lines = [
        "| name | requests | p50 exact / locust (ms) | p99 exact / locust (ms) "
        "| max exact / locust (ms) | locust p99 error |",
        "|---|---|---|---|---|---|",
    ]
    for row in rows:
        error = row["p99_error_pct"]
        flag = " (p99 > max)" if row["locust_p99_over_max"] else ""
        lines.append(
            f"| {row['name']} | {cell(row['requests'])} "
            f"| {cell(row['exact_p50_ms'])} / {cell(row['locust_p50_ms'])} "
            f"| {cell(row['exact_p99_ms'])} / {cell(row['locust_p99_ms'])} "
            f"| {cell(row['exact_max_ms'])} / {cell(row['locust_max_ms'])} "
            f"| {'-' if error is None else f'{error:+.1f}%'}{flag} |"
        )
    return "\n".join(lines)
