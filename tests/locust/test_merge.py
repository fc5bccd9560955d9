"""Workers' deltas merged at the master are exactly one histogram fed every latency."""

from __future__ import annotations

import random

from perflab.loadgen import LatencyHistogram
from perflab.locust.ledger import FINISHED, LOST, STOPPED, Ledger
from perflab.locust.worker_recording import WorkerRecording


def test_deltas_from_two_workers_merge_losslessly() -> None:
    rng = random.Random(7)
    start_s = 1_000.0
    ledger = Ledger()
    every: list[int] = []
    for worker in ("w1", "w2"):
        recording = WorkerRecording({"a": "GET", "b": "POST"})
        recording.start(start_s)
        ledger.join(worker, {"host": "box", "pid": 1}).index = 0 if worker == "w1" else 1
        for second in range(4):
            recording.tick(start_s + second + 0.01)  # the worker's ticker, past the boundary
            for part in (0.5, 0.99):  # a delta mid-second, one at its end: they add up
                for _ in range(rng.randrange(50, 200)):
                    latency_us = int(rng.lognormvariate(8, 1.2))
                    every.append(latency_us)
                    name = rng.choice("ab")
                    failure = "wrong_content" if name == "b" and rng.random() < 0.1 else None
                    recording.record(
                        name, latency_us=latency_us, failure=failure, bytes_in=10,
                        bytes_out=5, body_length=2,
                    )  # fmt: skip
                ledger.add(worker, recording.take_delta(start_s + second + part))
        ledger.add(worker, {**recording.take_delta(start_s + 4.2), "done": True}, final=True)
    merged = ledger.recording("http://x", {"model": "closed"}, started_at_unix_s=start_s)
    total = merged.total()
    exact = LatencyHistogram.of(every)
    assert total.requests == total.histogram.total_count == len(every)
    assert total.histogram.percentiles() == exact.percentiles()
    assert total.histogram.max_us() == exact.max_us()
    assert sum(w.requests for w in total.windows.values()) == len(every)
    assert sorted(total.windows) == [0, 1, 2, 3]
    assert [w["status"] for w in merged.metadata["locust"]["workers"]] == [FINISHED, FINISHED]


def test_a_worker_without_a_final_report_is_lost_and_kept() -> None:
    ledger = Ledger()
    recording = WorkerRecording({"a": "GET"})
    recording.start(0.0)
    recording.record("a", latency_us=900, failure=None, bytes_in=1, bytes_out=1, body_length=0)
    ledger.account("dead").index = 0
    ledger.account("early").index = 1
    ledger.add("dead", recording.take_delta(0.5))
    ledger.add("early", {"names": {}}, final=True)
    merged = ledger.recording("http://x", {}, started_at_unix_s=0.0)
    workers = {w["client_id"]: w for w in merged.metadata["locust"]["workers"]}
    assert workers["dead"]["status"] == LOST
    assert workers["dead"]["requests"] == 1
    assert workers["early"]["status"] == STOPPED
    assert merged.total().requests == 1
