"""Render a recording: ab's layout, a compact table, or JSON (locust's is in `output_locust`).

Usage::

    print(render(recording, "table"))
    write_json(recording, Path("run.json"))
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import orjson

from perflab.loadgen.expectation import (
    CAPTURE_FAILED,
    CONNECT_ERROR,
    CONNECTION_RESET,
    PROTOCOL_ERROR,
    TIMEOUT,
    WRONG_CONTENT,
)
from perflab.loadgen.histogram import PERCENTILES
from perflab.loadgen.output_locust import render_locust
from perflab.loadgen.recording import NameStats, Recording

OutputFormat = Literal["ab", "locust", "table", "json"]


def render(recording: Recording, output_format: OutputFormat) -> str:
    """The recording as text in one of the formats. Usage: ``render(rec, "ab")``"""
    if output_format == "ab":
        return render_ab(recording)
    if output_format == "locust":
        return render_locust(recording)
    if output_format == "json":
        return orjson.dumps(recording.to_dict(), option=orjson.OPT_INDENT_2).decode()
    return render_table(recording)


def write_json(recording: Recording, path: Path) -> None:
    """Write the full recording (histograms included). Usage: ``write_json(rec, Path("r.json"))``"""
    path.write_bytes(orjson.dumps(recording.to_dict(), option=orjson.OPT_INDENT_2))


def _ms(latency_us: float) -> str:
    return f"{latency_us / 1000:.2f}"


def _model_line(recording: Recording) -> str:
    model = dict(recording.model)
    kind = model.pop("model", "streams")
    details = ", ".join(f"{k}={v}" for k, v in model.items())
    return f"{kind}: {details}"


def step_rows(recording: Recording) -> list[NameStats]:
    """Per-name rows: sorted by name, or, for flows, in the order steps run (on_start first).

    Usage: ``[row.name for row in step_rows(recording)]``
    """
    names = recording.names
    flows = recording.flows
    if not flows:
        return sorted(names.values(), key=lambda s: s.name)
    order = [*flows.get("on_start", []), *(s for f in flows.get("flows", []) for s in f["steps"])]
    in_order = list(dict.fromkeys(name for name in order if name in names))
    return [names[n] for n in [*in_order, *sorted(set(names) - set(in_order))]]


def flow_lines(recording: Recording) -> list[str]:
    """One line for on_start and one per flow, with its weight. Usage: ``flow_lines(rec)``"""
    flows = recording.flows
    lines = [f"on_start: {', '.join(flows['on_start'])}"] if flows.get("on_start") else []
    lines += [
        f"flow {flow['name']} (weight {flow['weight']}): {' > '.join(flow['steps'])}"
        for flow in flows.get("flows", [])
    ]
    return lines


def render_table(recording: Recording) -> str:
    """A compact table, one row per request name plus the total. Usage: ``render_table(rec)``"""
    duration_s = recording.duration_s
    flows = bool(recording.flows)
    skipped_head = f" {'skipped':>8}" if flows else ""  # flows only: plain runs skip nothing
    lines = [
        f"target {recording.target}   {_model_line(recording)}",
        f"{'name':<28} {'requests':>9} {'failures':>9}{skipped_head} {'req/s':>10} "
        f"{'p50':>8} {'p90':>8} {'p99':>8} {'p99.9':>8} {'max':>8}  (ms)",
    ]
    rows = step_rows(recording)
    if len(rows) > 1:
        rows.append(recording.total())
    for stats in rows:
        p = stats.histogram.values_at_percentiles([50.0, 90.0, 99.0, 99.9])
        rate = stats.requests / duration_s if duration_s > 0 else 0.0
        skipped = f" {stats.skipped:>8}" if flows else ""
        lines.append(
            f"{stats.name[:28]:<28} {stats.requests:>9} {stats.failure_count:>9}{skipped} "
            f"{rate:>10.1f} {_ms(p[50.0]):>8} {_ms(p[90.0]):>8} {_ms(p[99.0]):>8} "
            f"{_ms(p[99.9]):>8} {_ms(stats.histogram.max_us()):>8}"
        )
    lines += flow_lines(recording)
    total = recording.total()
    if total.failures:
        kinds = ", ".join(f"{k} {v}" for k, v in sorted(total.failures.items()))
        lines.append(f"failures: {kinds}")
    if total.late_sends or total.dropped_sends or recording.model.get("model") == "open":
        lines.append(f"late sends {total.late_sends}, dropped sends {total.dropped_sends}")
    per_request = 1e6 * recording.generator_cpu_s / total.requests if total.requests else 0.0
    lines.append(
        f"{duration_s:.2f} s, {total.bytes_in} bytes in, {total.bytes_out} bytes out; generator "
        f"{recording.generator_cpu_s:.2f} CPU s ({per_request:.1f} us/request), "
        f"{recording.processes} process(es), {recording.connections} connection(s)"
    )
    return "\n".join(lines)


def _ab_failures(stats: NameStats) -> tuple[int, int, int, int, int]:
    """ab's failure columns: Connect, Receive, Length, Exceptions, and Non-2xx."""
    failures = stats.failures
    connect = failures.get(CONNECT_ERROR, 0)
    receive = failures.get(CONNECTION_RESET, 0) + failures.get(PROTOCOL_ERROR, 0)
    # ab's "Length" is a wrong body; a flow's answer without the value to capture is one too
    length = failures.get(WRONG_CONTENT, 0) + failures.get(CAPTURE_FAILED, 0)
    exceptions = failures.get(TIMEOUT, 0)
    non_2xx = stats.failure_count - connect - receive - length - exceptions
    return connect, receive, length, exceptions, non_2xx


def render_ab(recording: Recording) -> str:
    """ApacheBench's report layout. Usage: ``render_ab(rec)``"""
    total = recording.total()
    duration_s = recording.duration_s
    names = sorted(recording.names)
    host, _, port = recording.target.split("://", 1)[-1].rpartition(":")
    concurrency = max(recording.connections, 1)
    connect, receive, length, exceptions, non_2xx = _ab_failures(total)
    rate = total.requests / duration_s if duration_s > 0 else 0.0
    mean_ms = 1000 * concurrency * duration_s / total.requests if total.requests else 0.0
    lines = [
        f"Server Hostname:        {host or recording.target}",
        f"Server Port:            {port}",
        "",
        f"Document Path:          {names[0] if len(names) == 1 else ', '.join(names)}",
        f"Document Length:        {max(total.first_body_length, 0)} bytes",
        "",
        f"Concurrency Level:      {concurrency}",
        f"Time taken for tests:   {duration_s:.3f} seconds",
        f"Complete requests:      {total.requests}",
        f"Failed requests:        {total.failure_count - non_2xx}",
        f"   (Connect: {connect}, Receive: {receive}, Length: {length}, Exceptions: {exceptions})",
    ]
    if non_2xx:
        lines.append(f"Non-2xx responses:      {non_2xx}")
    if recording.flows:
        lines.append(f"Capture failures:       {total.failures.get(CAPTURE_FAILED, 0)}")
        lines.append(f"Skipped requests:       {total.skipped}")
    lines += [
        f"Total transferred:      {total.bytes_in} bytes",
        f"HTML transferred:       {total.body_bytes_in} bytes",
        f"Requests per second:    {rate:.2f} [#/sec] (mean)",
        f"Time per request:       {mean_ms:.3f} [ms] (mean)",
        f"Time per request:       {mean_ms / concurrency:.3f} [ms] "
        "(mean, across all concurrent requests)",
        f"Transfer rate:          {total.bytes_in / 1024 / duration_s if duration_s else 0:.2f} "
        "[Kbytes/sec] received",
        "",
        "Percentage of the requests served within a certain time (ms)",
    ]
    values = total.histogram.values_at_percentiles(PERCENTILES)
    for percentile in PERCENTILES:
        label = f"{percentile:g}%"
        suffix = " (longest request)" if percentile == 100.0 else ""
        lines.append(f" {label:>5}  {values[percentile] / 1000:>6.0f}{suffix}")
    if recording.flows:
        lines += ["", *_ab_steps(recording)]
    return "\n".join(lines)


def _ab_steps(recording: Recording) -> list[str]:
    """Flows: a row per step (ab itself has one request, so its report has no such table)."""
    lines = [
        *flow_lines(recording),
        "",
        f"{'Step':<28} {'Complete':>9} {'Failed':>7} {'Capture':>8} {'Skipped':>8} "
        f"{'Mean':>8} {'50%':>6} {'99%':>6}  (ms)",
    ]
    for stats in step_rows(recording):
        hist = stats.histogram
        capture_failed = stats.failures.get(CAPTURE_FAILED, 0)
        lines.append(
            f"{stats.name[:28]:<28} {stats.requests:>9} {stats.failure_count:>7} "
            f"{capture_failed:>8} {stats.skipped:>8} {_ms(hist.mean_us()):>8} "
            f"{_ms(hist.value_at_percentile(50)):>6} {_ms(hist.value_at_percentile(99)):>6}"
        )
    return lines
