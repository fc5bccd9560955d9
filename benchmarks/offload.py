"""The one variable, on a calibrated kernel: what each offloader does to throughput and loop lag.

For offload inline, thread and process (one server worker each), it sends `--requests` calls of
`GET /diag/cpu?work_ms=N` (pure-Python CPU, which holds the GIL) over `--concurrency`
connections with perflab's load generator, then reads the server's own loop-lag metrics.

Usage:
    .venv/bin/python benchmarks/offload.py                   # ~30 s
    .venv/bin/python benchmarks/offload.py --work-ms 50 --requests 200

Expected on 2 cores: process ~2x inline's requests/s with loop lag near zero; thread no faster
than inline (the GIL), its loop lag lower only because the loop gets switched in between.
"""

from __future__ import annotations

import argparse
import tempfile
import urllib.request
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from _harness import perflab_serve
from perflab.loadgen import Closed, Expectation, RequestSpec, run


def loop_lag(base_url: str) -> tuple[float, float]:
    """(max lag over the last seconds, share of 50 ms ticks that woke over 50 ms late)."""
    with urllib.request.urlopen(base_url + "/metrics", timeout=30) as response:
        text = response.read().decode()
    values: dict[tuple[str, str], float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            values[(sample.name, sample.labels.get("le", ""))] = sample.value
    total = values[("perflab_event_loop_lag_seconds_count", "")]
    late = total - values[("perflab_event_loop_lag_seconds_bucket", "0.05")]
    return values[("perflab_event_loop_lag_max_seconds", "")], late / total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--work-ms", type=int, default=100)
    parser.add_argument("--requests", type=int, default=100)
    parser.add_argument("--concurrency", type=int, default=8)
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory(prefix="perflab-offload-") as log_dir:
        for offload in ("inline", "thread", "process"):
            log_path = Path(log_dir) / f"{offload}.log"
            with perflab_serve(["--offload", offload, "--workers", "1"], {}, log_path) as server:
                spec = RequestSpec(
                    f"{server.base_url}/diag/cpu?work_ms={args.work_ms}",
                    expect=Expectation(status=(200,), json_fields={"work_ms": args.work_ms}),
                )
                recording = run([spec], Closed(args.requests, args.concurrency))
                lag_max_s, late_share = loop_lag(server.base_url)
            total = recording.total()
            rps = total.requests / recording.duration_s
            rows.append((offload, rps, total.histogram.value_at_percentile(99) / 1000,
                         total.failure_count, lag_max_s * 1000, late_share))  # fmt: skip
    print(f"GET /diag/cpu?work_ms={args.work_ms}, {args.requests} requests, c={args.concurrency}\n")
    header = ("offload", "req/s", "p99 ms", "fail", "loop lag max ms", "ticks >50ms")
    print("{:8} {:>7} {:>8} {:>5} {:>16} {:>12}".format(*header))
    for offload, rps, p99_ms, failures, lag_ms, late in rows:
        print(f"{offload:8} {rps:7.1f} {p99_ms:8.0f} {failures:5d} {lag_ms:16.0f} {late:12.0%}")
    inline_rps, process_rps = rows[0][1], rows[2][1]
    print(f"\nprocess / inline: {process_rps / inline_rps:.2f}x requests/s")


if __name__ == "__main__":
    main()
