"""`perflab serve --offload queue` with a `perflab worker` beside it: the endpoints answer as
with any offloader, the kernels run in the worker, and /metrics shows the queue."""

from __future__ import annotations

import base64
import json
import time
import urllib.request
from pathlib import Path

import pytest

from tests.app.faceblur.images import small_face_jpeg
from tests.app.offload.workers import consumer_pid, live_consumers, queue_worker
from tests.support.prom import scrape, value
from tests.support.servers import get_json, perflab_server

pytestmark = [pytest.mark.redis, pytest.mark.timeout(180)]


def post_json(url: str, body: object) -> tuple[int, dict[str, object]]:
    data = json.dumps(body).encode()
    request = urllib.request.Request(url, data, {"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=60) as response:
        return response.status, json.loads(response.read())


def test_serve_with_the_queue_offloader(tmp_path: Path, redis_url: str, namespace: str) -> None:
    env = {"PERFLAB_REDIS_URL": redis_url, "PERFLAB_QUEUE_NAMESPACE": namespace}
    with (
        queue_worker(tmp_path, redis_url, namespace, kernels="cpu,blur") as worker,
        perflab_server(tmp_path, "--offload", "queue", env=env) as server,
    ):
        worker_pid = consumer_pid(live_consumers(redis_url, namespace)[0])
        status, burnt = get_json(server.url("/diag/cpu?work_ms=20"))
        assert status == 200
        assert burnt["pid"] == worker_pid != server.process.pid

        image = base64.b64encode(small_face_jpeg()).decode()
        status, blurred = post_json(server.url("/api/blur/encoded"), {"image": image})
        assert status == 200
        assert blurred["faces"]
        assert isinstance(blurred["data"], str)

        # Live workers and the workers' totals are sampled from Redis every second.
        jobs_done = ("perflab_queue_worker_events", frozenset({("event", "jobs")}))
        deadline_s = time.monotonic() + 30
        samples = scrape(server.url("/metrics"))
        while samples.get(jobs_done) != 2 and time.monotonic() < deadline_s:
            time.sleep(0.2)
            samples = scrape(server.url("/metrics"))
        assert value(samples, "perflab_queue_live_workers") == 1
        assert value(samples, "perflab_queue_batch_size_count") == 2
        assert value(samples, "perflab_queue_backlog", kernel="cpu") == 0
        assert samples[jobs_done] == 2
        assert worker.stop() == 0
