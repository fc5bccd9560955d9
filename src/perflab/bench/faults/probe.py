"""A probe beside a fault cell's load: the cell's main request, one at a time, every 50 ms.

The load's own per-second windows are too coarse to say when service came back (the goal is
"first success within 1 s of the part's return"), so while faults run, a thread sends the
main request on its own connection and notes the time and outcome of each answer, checked
by the request's own `expect`. Its answers are requests too: a probe that writes (POST a
note) reports what it acknowledged, for the reconciliation.

Usage::

    probe = Probe(spec, interval_s=0.05, timeout_s=2.0)
    probe.start(t0_unix_s)
    ...
    samples = probe.stop()         # [ProbeSample(t_s=1.23, kind=None, latency_ms=3.1), ...]
"""

from __future__ import annotations

import http.client
import threading
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

from perflab.loadgen.expectation import CONNECT_ERROR, CONNECTION_RESET, TIMEOUT
from perflab.loadgen.request_spec import RequestSpec

PROBE_INTERVAL_S = 0.05


@dataclass(frozen=True)
class ProbeSample:
    """One probe request: when it was answered (s since t0), its failure kind (None: right)
    and latency. Usage: ``sample.ok``"""

    t_s: float
    kind: str | None
    latency_ms: float
    body: bytes = b""

    @property
    def ok(self) -> bool:
        """True when the answer was right. Usage: ``sample.ok``"""
        return self.kind is None


class Probe:
    """Sends `spec` again and again on one thread until stopped. Usage: see module."""

    def __init__(
        self, spec: RequestSpec, interval_s: float = PROBE_INTERVAL_S, timeout_s: float = 2.0
    ) -> None:
        self.spec = spec
        self.interval_s = interval_s
        self.timeout_s = timeout_s
        self.samples: list[ProbeSample] = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._t0_unix_s = 0.0
        self._body = spec.body.materialise()

    def start(self, t0_unix_s: float) -> None:
        """Start probing; times count from `t0_unix_s`. Usage: ``probe.start(time.time())``"""
        self._t0_unix_s = t0_unix_s
        self._thread = threading.Thread(target=self._run, name="perflab-probe", daemon=True)
        self._thread.start()

    def stop(self) -> list[ProbeSample]:
        """Stop after the request in flight. Usage: ``samples = probe.stop()``"""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        return self.samples

    def _run(self) -> None:
        parts = urlsplit(self.spec.url)
        target = parts.path + (f"?{parts.query}" if parts.query else "")
        headers = dict(self.spec.headers)
        if self.spec.body.content_type and self._body:
            headers.setdefault("Content-Type", self.spec.body.content_type)
        connection: http.client.HTTPConnection | None = None
        while not self._stop.is_set():
            sent_s = time.perf_counter()
            try:
                if connection is None:
                    connection = http.client.HTTPConnection(
                        parts.hostname or "127.0.0.1", parts.port or 80, timeout=self.timeout_s
                    )
                connection.request(self.spec.method, target, self._body or None, headers)
                response = connection.getresponse()
                body = response.read()
                retry_after = response.getheader("Retry-After") is not None
                kind = self.spec.expect.check(response.status, body, retry_after=retry_after)
                if response.getheader("Connection", "").lower() == "close":
                    connection.close()
                    connection = None
            except TimeoutError:
                kind, body, connection = TIMEOUT, b"", self._drop(connection)
            except ConnectionRefusedError:
                kind, body, connection = CONNECT_ERROR, b"", self._drop(connection)
            except (OSError, http.client.HTTPException):
                kind, body, connection = CONNECTION_RESET, b"", self._drop(connection)
            latency_ms = (time.perf_counter() - sent_s) * 1000.0
            now_s = time.time() - self._t0_unix_s
            self.samples.append(ProbeSample(round(now_s, 4), kind, round(latency_ms, 3), body))
            self._stop.wait(max(0.0, self.interval_s - latency_ms / 1000.0))
        self._drop(connection)

    @staticmethod
    def _drop(connection: http.client.HTTPConnection | None) -> None:
        if connection is not None:
            connection.close()
        return None
