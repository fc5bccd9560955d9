"""perflab.bench.signals: /metrics parsed into sample fields, and sampling a real server."""

from __future__ import annotations

import os
import threading
import time
import urllib.request
from pathlib import Path

from perflab.bench.launcher import free_port, perflab_serve
from perflab.bench.signals import SignalSampler, parse_metrics

# What `perflab serve --workers 2 --offload queue` exports (trimmed), merged over workers by
# prometheus-client's multiprocess mode; values chosen so every combination rule shows.
METRICS_TEXT = """\
# HELP perflab_event_loop_lag_seconds How late the event loop woke a monitor task.
# TYPE perflab_event_loop_lag_seconds histogram
perflab_event_loop_lag_seconds_sum 9.5
perflab_event_loop_lag_seconds_bucket{le="0.0005"} 1.0
perflab_event_loop_lag_seconds_bucket{le="+Inf"} 12.0
perflab_event_loop_lag_seconds_count 12.0
# HELP perflab_event_loop_lag_max_seconds Largest loop lag seen in the last few seconds.
# TYPE perflab_event_loop_lag_max_seconds gauge
perflab_event_loop_lag_max_seconds 0.0125
# HELP perflab_threadpool_tokens_in_use Worker threads busy.
# TYPE perflab_threadpool_tokens_in_use gauge
perflab_threadpool_tokens_in_use 3.0
# HELP perflab_threadpool_tokens_total Worker threads available.
# TYPE perflab_threadpool_tokens_total gauge
perflab_threadpool_tokens_total 80.0
# HELP perflab_offload_in_flight Offloaded jobs running now.
# TYPE perflab_offload_in_flight gauge
perflab_offload_in_flight 2.0
# HELP perflab_offload_queued Offloaded jobs waiting for a slot.
# TYPE perflab_offload_queued gauge
perflab_offload_queued 5.0
# HELP perflab_admission_shed_total Requests refused with 503 at admission.
# TYPE perflab_admission_shed_total counter
perflab_admission_shed_total{reason="expected_wait",resource="offload"} 4.0
perflab_admission_shed_total{reason="memory",resource="offload"} 1.0
perflab_admission_shed_total{reason="expected_wait",resource="threadpool"} 2.0
perflab_admission_shed_total{reason="memory",resource="threadpool"} 0.0
# HELP perflab_admission_expected_wait_seconds Wait a request admitted now would see.
# TYPE perflab_admission_expected_wait_seconds gauge
perflab_admission_expected_wait_seconds{resource="offload"} 0.8
perflab_admission_expected_wait_seconds{resource="threadpool"} 0.05
# HELP perflab_queue_backlog Unfinished jobs in a kernel's job stream.
# TYPE perflab_queue_backlog gauge
perflab_queue_backlog{kernel="blur"} 7.0
perflab_queue_backlog{kernel="cpu"} 3.0
# HELP perflab_http_requests_total HTTP requests answered.
# TYPE perflab_http_requests_total counter
perflab_http_requests_total{method="GET",route="/healthz",status="200"} 1.0
"""


def test_parse_combines_labels_and_converts_units() -> None:
    assert parse_metrics(METRICS_TEXT) == {
        "loop_lag_ms": 12.5,  # seconds -> ms, the gauge (not the histogram of the same stem)
        "threadpool_in_use": 3,
        "offload_in_flight": 2,
        "offload_queued": 5,
        "expected_wait_s": 0.8,  # the worst resource
        "queue_backlog": 10,  # every kernel's stream
        "shed_total": 7,  # every resource and reason
    }


def test_a_metric_the_server_does_not_export_is_absent_not_zero() -> None:
    without_queue = "\n".join(
        line for line in METRICS_TEXT.splitlines() if "queue_backlog" not in line
    )
    parsed = parse_metrics(without_queue + "\n")
    assert "queue_backlog" not in parsed
    assert parsed["offload_queued"] == 5
    assert parse_metrics("") == {}


def test_no_url_and_no_pid_gives_an_empty_object() -> None:
    sampler = SignalSampler(None, None, interval_s=0.05)
    sampler.start(time.time())
    time.sleep(0.2)
    signals = sampler.stop()
    assert signals["interval_s"] == 0.05
    assert signals["series"] == []
    assert signals["summary"] == {
        "cpu_s": None,
        "rss_max_bytes": None,
        "threads_max": None,
        "open_fds_max": None,
        "loop_lag_max_ms": None,
        "expected_wait_max_s": None,
        "shed": None,
    }


def test_a_server_that_does_not_answer_leaves_the_psutil_part() -> None:
    nobody_listens = f"http://127.0.0.1:{free_port()}"
    sampler = SignalSampler(nobody_listens, os.getpid(), interval_s=0.05)
    sampler.start(time.time())
    wait_for_samples(sampler, 3)
    signals = sampler.stop()
    for sample in signals["series"]:
        assert set(sample) == {"t_s", "cpu_pct", "rss_bytes", "threads", "open_fds", "processes"}
    assert signals["summary"]["rss_max_bytes"] > 0
    assert signals["summary"]["loop_lag_max_ms"] is None
    assert signals["summary"]["shed"] is None


def wait_for_samples(sampler: SignalSampler, count: int, timeout_s: float = 60.0) -> None:
    deadline_s = time.monotonic() + timeout_s
    while len(sampler.series) < count:
        assert time.monotonic() < deadline_s, f"only {len(sampler.series)} samples"
        time.sleep(0.05)


def test_samples_a_real_server_under_load(tmp_path: Path) -> None:
    # inline offload: the CPU work runs in the event loop, so the loop lag has to show it.
    with perflab_serve(["--offload", "inline"], log_dir=tmp_path) as server:
        sampler = SignalSampler(server.base_url, server.pid, interval_s=0.2)
        started_at_unix_s = time.time()
        sampler.start(started_at_unix_s)

        def burn() -> None:
            for _ in range(4):
                with urllib.request.urlopen(server.url("/diag/cpu?work_ms=200"), timeout=60) as r:
                    r.read()

        client = threading.Thread(target=burn)
        client.start()
        client.join()
        # Scrapes time out while the loop is blocked: wait for a few taken after the work.
        wait_for_samples(sampler, len(sampler.series) + 3)
        signals = sampler.stop()
        count = len(signals["series"])
        time.sleep(0.5)
        assert len(sampler.series) == count  # stopped means stopped

    series, summary = signals["series"], signals["summary"]
    assert signals["interval_s"] == 0.2
    times = [sample["t_s"] for sample in series]
    assert times == sorted(times)
    assert len(set(times)) == len(times)
    assert 0 <= times[0] <= times[-1] <= time.time() - started_at_unix_s
    assert all("cpu_pct" in s and s["rss_bytes"] > 0 for s in series)
    scraped = [s for s in series if "loop_lag_ms" in s]
    assert scraped, "no sample had the server's metrics"
    assert all("offload_in_flight" in s and "threadpool_in_use" in s for s in scraped)
    assert all("queue_backlog" not in s for s in series)  # no queue offloader in this server
    assert summary["loop_lag_max_ms"] == max(s["loop_lag_ms"] for s in scraped)
    assert summary["loop_lag_max_ms"] >= 100  # 200 ms of work held the loop
    assert summary["rss_max_bytes"] == max(s["rss_bytes"] for s in series)
    assert summary["threads_max"] == max(s["threads"] for s in series) > 1
    assert summary["open_fds_max"] == max(s["open_fds"] for s in series) > 0
    assert summary["cpu_s"] > 0
    assert summary["shed"] == 0
    waits = [s["expected_wait_s"] for s in series if "expected_wait_s" in s]
    assert summary["expected_wait_max_s"] == (max(waits) if waits else None)
