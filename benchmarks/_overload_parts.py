"""Pieces of benchmarks/overload.py: the seeds' requests with their checks, and probe threads.

A `Probe` sends one request every `interval_s` on its own keep-alive connection while a load
runs, and keeps each answer's status and latency: `/healthz` p99 during the load, and the time
to a 503 for requests that ask for a zero queue budget (`X-Queue-Budget-S: 0`), which the
service sheds whenever anything is queued.
"""

from __future__ import annotations

import base64
import hashlib
import http.client
import threading
import time
from types import TracebackType
from urllib.parse import urlsplit

import cv2
import numpy as np
import orjson
import skimage.data

from perflab.app.faceblur.service import BlurOptions, blur_image
from perflab.app.fanout.service import INPUTS, step
from perflab.loadgen import Body, Expectation, NameStats, RequestSpec

_SEED_000_SIZE = (1366, 768)  # the seed's test photo: a 1366x768 JPEG (~210 KB of base64 JSON)


def seed_000_jpeg() -> bytes:
    """A 1366x768 JPEG with a face (scikit-image's astronaut, stretched), as the seed sent."""
    bgr = np.ascontiguousarray(skimage.data.astronaut()[:, :, ::-1])
    resized = cv2.resize(bgr, _SEED_000_SIZE, interpolation=cv2.INTER_CUBIC)
    ok, encoded = cv2.imencode(".jpg", resized, [cv2.IMWRITE_JPEG_QUALITY, 92])
    assert ok
    return encoded.tobytes()


def blur_request(url: str, budget_s: float | None = None) -> RequestSpec:
    """Seed 000's request; a correct answer is byte-identical to the kernel's own output."""
    jpeg = seed_000_jpeg()
    result = blur_image(jpeg, BlurOptions())
    answer = orjson.dumps(
        {"data": base64.b64encode(result.jpeg).decode("ascii"), "faces": result.faces}
    )
    headers = {} if budget_s is None else {"X-Queue-Budget-S": str(budget_s)}
    body = orjson.dumps({"image": base64.b64encode(jpeg).decode("ascii")})
    return RequestSpec(
        url,
        method="POST",
        headers=headers,
        body=Body(body, "application/json"),
        expect=Expectation(status=(200,), body_sha256=hashlib.sha256(answer).hexdigest()),
    )


def fanout_request(url: str) -> RequestSpec:
    """Seed 004's request; a correct answer carries the three downstream results."""
    results = [step(value) for value in INPUTS]
    return RequestSpec(url, expect=Expectation(status=(200,), json_fields={"results": results}))


def percentile_ms(stats: NameStats, percentile: float) -> float:
    return stats.histogram.value_at_percentile(percentile) / 1000


class Probe(threading.Thread):
    """Sends one request every `interval_s` until the block ends; keeps (status, ms) of each.

    Usage: `with Probe(base + "/healthz") as health: run(...)`, then `health.p99_ms()`
    """

    def __init__(
        self,
        url: str,
        *,
        method: str = "GET",
        body: bytes | None = None,
        headers: dict[str, str] | None = None,
        interval_s: float = 0.05,
    ) -> None:
        super().__init__(daemon=True)
        parts = urlsplit(url)
        self._host, self._port = parts.hostname or "127.0.0.1", parts.port or 80
        self._target = parts.path + (f"?{parts.query}" if parts.query else "")
        self._method, self._body, self._headers = method, body, headers or {}
        self.interval_s = interval_s
        self.answers: list[tuple[int, float]] = []
        self._stop_event = threading.Event()

    @classmethod
    def of(cls, spec: RequestSpec, interval_s: float = 0.1) -> Probe:
        headers = dict(spec.headers)
        if spec.body.content_type:
            headers["Content-Type"] = spec.body.content_type
        body = spec.body.materialise() or None
        return cls(spec.url, method=spec.method, body=body, headers=headers, interval_s=interval_s)

    @classmethod
    def large_shed(cls, base_url: str) -> Probe:
        """A 1 MB `/pong` body (past the inline lane, so it meets the offloader's admission)
        asking for no queueing at all: answered 503 whenever large bodies are queued."""
        entries = ",".join(f'"k{i}":{i}' for i in range(90_000))
        body = f'{{"name":"probe","data":{{{entries}}}}}'.encode()
        headers = {"Content-Type": "application/json", "X-Queue-Budget-S": "0"}
        return cls(base_url + "/pong", method="POST", body=body, headers=headers, interval_s=0.2)

    def run(self) -> None:
        connection = http.client.HTTPConnection(self._host, self._port, timeout=60)
        while not self._stop_event.wait(self.interval_s):
            started = time.perf_counter()
            try:
                connection.request(self._method, self._target, self._body, self._headers)
                response = connection.getresponse()
                response.read()
                status = response.status
                if response.getheader("connection", "").lower() == "close":
                    connection.close()
            except OSError:
                status = 0
                connection.close()
            self.answers.append((status, (time.perf_counter() - started) * 1000))
        connection.close()

    def __enter__(self) -> Probe:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._stop_event.set()
        self.join()

    def count(self, status: int) -> int:
        return sum(1 for s, _ in self.answers if s == status)

    def p99_ms(self, status: int | None = None) -> float | None:
        """p99 latency of the answers (with `status` only, if given); None when there are none."""
        times = sorted(ms for s, ms in self.answers if status is None or s == status)
        if not times:
            return None
        return times[min(len(times) - 1, int(len(times) * 0.99))]
