"""A real locust master and worker processes against a real perflab server: the merged
histograms are exactly the workers' latencies, answers are checked as `perflab load` checks
them, and a dead worker or an unreachable service is data, not a hang."""

from __future__ import annotations

import os
import signal
from pathlib import Path

from perflab.loadgen import Closed, LatencyHistogram, Stream, Users
from perflab.locust.driver import LocustDriver
from perflab.locust.ledger import FINISHED, LOST
from perflab.results.exactness import exactness_rows
from tests.locust.conftest import ping
from tests.support.servers import RunningServer, free_port


def _raw_latencies(folder: Path) -> dict[str, list[int]]:
    by_name: dict[str, list[int]] = {}
    for path in folder.glob("worker-*.tsv"):
        for line in path.read_text().splitlines():
            name, latency_us, _ = line.split("\t")
            by_name.setdefault(name, []).append(int(latency_us))
    return by_name


def test_two_workers_merge_into_exactly_their_latencies(
    ping_server: RunningServer, tmp_path: Path
) -> None:
    raw = tmp_path / "raw"
    driver = LocustDriver(
        2, work_dir=tmp_path / "locust", worker_env={"PERFLAB_LOCUST_RAW_LATENCIES": str(raw)}
    )
    url = ping_server.base_url
    # A right request and one whose check always fails, 3:1; exactly 600 requests.
    stream = Stream([ping(url, "ok", weight=3), ping(url, "wrong", count=999)], Closed(600, 12))
    recording = driver([stream])

    total = recording.total()
    assert total.requests == 600
    assert total.failures == {"wrong_content": 150}
    assert recording.names["wrong"].requests == 150
    raw_by_name = _raw_latencies(raw)
    every = [latency for latencies in raw_by_name.values() for latency in latencies]
    assert total.histogram.total_count == len(every) == 600  # one latency per answer
    assert total.histogram.percentiles() == LatencyHistogram.of(every).percentiles()
    for name, latencies in raw_by_name.items():
        assert recording.names[name].histogram.percentiles() == (
            LatencyHistogram.of(latencies).percentiles()
        )
    assert sum(window.requests for window in total.windows.values()) == 600

    locust = recording.metadata["locust"]
    assert recording.metadata["engine"] == "locust"
    assert [w["status"] for w in locust["workers"]] == [FINISHED, FINISHED]
    assert [w["requests"] for w in locust["workers"]] == [300, 300]
    assert locust["own_stats"]["Aggregated"]["requests"] == 600
    assert locust["own_stats"]["wrong"]["failures"] == 150  # locust saw the same failures
    assert recording.processes == 2
    assert recording.connections == 12
    rows = {row["name"]: row for row in exactness_rows(recording)}
    assert rows["Aggregated"]["exact_p99_ms"] == total.histogram.value_at_percentile(99) / 1000


def test_a_killed_worker_is_named_with_what_it_reported(
    ping_server: RunningServer, tmp_path: Path
) -> None:
    driver = LocustDriver(2, work_dir=tmp_path / "locust")
    killed: list[int] = []

    def kill_one_worker(elapsed_s: float, requests: int, failures: int) -> None:
        if elapsed_s >= 2.0 and requests and not killed:
            killed.append(driver.worker_processes[0].pid)
            os.kill(killed[0], signal.SIGKILL)

    stream = Stream([ping(ping_server.base_url, "ok")], Users(6, 6.0, 6.0))
    recording = driver([stream], kill_one_worker)

    assert killed
    workers = {w["pid"]: w for w in recording.metadata["locust"]["workers"]}
    assert workers[killed[0]]["status"] == LOST
    assert workers[killed[0]]["requests"] > 0  # what it reported before it died is kept
    survivor = next(w for pid, w in workers.items() if pid != killed[0])
    assert survivor["status"] == FINISHED
    assert recording.total().requests == sum(w["requests"] for w in workers.values())
    assert recording.total().failures == {}
    assert recording.metadata["locust"]["complete"] is False


def test_an_unreachable_service_is_connection_failures_not_a_hang(tmp_path: Path) -> None:
    nowhere = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    driver = LocustDriver(1, work_dir=tmp_path / "locust")
    recording = driver([Stream([ping(nowhere, "ping")], Closed(40, 4), timeout_s=5.0)])
    assert recording.total().requests == 40
    assert recording.total().failures == {"connect_error": 40}
