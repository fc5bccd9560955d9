"""locust's console report and its CSV files (``--csv PREFIX``), from a recording.

Usage::

    print(render_locust(recording))
    write_csv(recording, "run")   # run_stats.csv, run_failures.csv, run_stats_history.csv
"""

from __future__ import annotations

import csv
from pathlib import Path

from perflab.loadgen.recording import TOTAL_NAME, NameStats, Recording

CSV_PERCENTILES = (50.0, 66.0, 75.0, 80.0, 90.0, 95.0, 98.0, 99.0, 99.9, 99.99, 100.0)
_RULE = "-" * 8 + "|" + "-" * 50 + "|" + "-" * 7 + "|" + "-" * 13 + "|" + "-" * 31 + "|" + "-" * 20


def _rows(recording: Recording) -> list[NameStats]:
    rows = sorted(recording.names.values(), key=lambda s: s.name)
    if recording.flows:  # flows: the order steps run in (locust keeps insertion order too)
        order = [*recording.flows.get("on_start", [])]
        order += [step for flow in recording.flows.get("flows", []) for step in flow["steps"]]
        position = {name: index for index, name in enumerate(dict.fromkeys(order))}
        rows.sort(key=lambda s: (position.get(s.name, len(position)), s.name))
    return [*rows, recording.total()]


def _ms(latency_us: float) -> int:
    return round(latency_us / 1000)


def render_locust(recording: Recording) -> str:
    """locust's stats, percentile and error tables. Usage: ``render_locust(rec)``"""
    duration_s = recording.duration_s or 1.0
    lines = [
        f"{'Type':<8} {'Name':<50} {'# reqs':>7} {'# fails':>13} | {'Avg':>7} {'Min':>7} "
        f"{'Max':>7} {'Med':>7} | {'req/s':>8} {'failures/s':>10}",
        _RULE,
    ]
    rows = _rows(recording)
    for stats in rows:
        if stats.name == TOTAL_NAME:
            lines.append(_RULE)
        hist = stats.histogram
        fails = stats.failure_count
        share = 100 * fails / stats.requests if stats.requests else 0.0
        method = "" if stats.name == TOTAL_NAME else stats.method
        lines.append(
            f"{method:<8} {stats.name[:50]:<50} {stats.requests:>7} "
            f"{f'{fails}({share:.2f}%)':>13} | {_ms(hist.mean_us()):>7} {_ms(hist.min_us()):>7} "
            f"{_ms(hist.max_us()):>7} {_ms(hist.value_at_percentile(50)):>7} | "
            f"{stats.requests / duration_s:>8.2f} {fails / duration_s:>10.2f}"
        )
    lines += ["", "Response time percentiles (approximated)"]
    head = " ".join(f"{f'{p:g}%':>6}" for p in CSV_PERCENTILES)
    lines += [f"{'Type':<8} {'Name':<50} {head} {'# reqs':>7}", "-" * 8 + "|" + "-" * 50]
    for stats in rows:
        values = stats.histogram.values_at_percentiles(CSV_PERCENTILES)
        cells = " ".join(f"{_ms(values[p]):>6}" for p in CSV_PERCENTILES)
        method = "" if stats.name == TOTAL_NAME else stats.method
        lines.append(f"{method:<8} {stats.name[:50]:<50} {cells} {stats.requests:>7}")
    failures = [(s, kind, n) for s in rows[:-1] for kind, n in sorted(s.failures.items())]
    if failures:
        lines += ["", "Error report", f"{'# occurrences':<20} Error", "-" * 60]
        lines += [f"{n:<20} {s.method} {s.name}: {kind}" for s, kind, n in failures]
    skipped = [s for s in rows[:-1] if s.skipped]
    if recording.flows:
        lines += ["", "Skipped steps (not sent: a value they need was not captured)"]
        lines += [f"{'# skipped':<20} Name", "-" * 60]
        lines += [f"{s.skipped:<20} {s.method} {s.name}" for s in skipped] or ["0"]
    return "\n".join(lines)


def write_csv(recording: Recording, prefix: str) -> list[Path]:
    """locust's three CSV files under `prefix`. Usage: ``write_csv(rec, "results/run")``"""
    duration_s = recording.duration_s or 1.0
    stats_path = Path(f"{prefix}_stats.csv")
    failures_path = Path(f"{prefix}_failures.csv")
    history_path = Path(f"{prefix}_stats_history.csv")
    percentile_heads = [f"{p:g}%" for p in CSV_PERCENTILES]
    with stats_path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(
            ["Type", "Name", "Request Count", "Failure Count", "Median Response Time",
             "Average Response Time", "Min Response Time", "Max Response Time",
             "Average Content Size", "Requests/s", "Failures/s", *percentile_heads]
        )  # fmt: skip
        for stats in _rows(recording):
            hist = stats.histogram
            values = hist.values_at_percentiles(CSV_PERCENTILES)
            method = "" if stats.name == TOTAL_NAME else stats.method
            writer.writerow(
                [method, stats.name, stats.requests, stats.failure_count,
                 _ms(values[50.0]), round(hist.mean_us() / 1000, 2), _ms(hist.min_us()),
                 _ms(hist.max_us()), stats.body_bytes_in // max(stats.requests, 1),
                 round(stats.requests / duration_s, 2), round(stats.failure_count / duration_s, 2),
                 *(_ms(values[p]) for p in CSV_PERCENTILES)]
            )  # fmt: skip
    with failures_path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["Method", "Name", "Error", "Occurrences"])
        for stats in _rows(recording)[:-1]:
            for kind, count in sorted(stats.failures.items()):
                writer.writerow([stats.method, stats.name, kind, count])
    with history_path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(
            ["Timestamp", "User Count", "Type", "Name", "Requests/s", "Failures/s",
             *percentile_heads, "Total Request Count", "Total Failure Count"]
        )  # fmt: skip
        for stats in _rows(recording):
            method = "" if stats.name == TOTAL_NAME else stats.method
            requests = failures = 0
            for second in sorted(stats.windows):
                window = stats.windows[second]
                requests += window.requests
                failures += window.failures
                values = window.histogram.values_at_percentiles(CSV_PERCENTILES)
                writer.writerow(
                    [int(recording.started_at_unix_s) + second, recording.connections, method,
                     stats.name, window.requests, window.failures,
                     *(_ms(values[p]) for p in CSV_PERCENTILES), requests, failures]
                )  # fmt: skip
    return [stats_path, failures_path, history_path]
