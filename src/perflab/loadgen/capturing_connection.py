"""Connections for flows whose steps capture values from their answers.

A plain connection hands itself back to the engine *before* it checks and records an answer,
so the next request is on the wire while the bookkeeping runs. A step that captures cannot
work so: the next step may need what it captures. `CapturingHttpConnection` judges and
captures such an answer first, then hands back; every other step goes the usual way.

Usage: the engine picks the class (`Engine.__init__`) when a flow step captures::

    conn = CapturingHttpConnection(engine)
    ...                                  # in engine.connection_free(conn):
    conn.captured                        # the step's values, or None (failed or not captured)
"""

from __future__ import annotations

from time import perf_counter_ns

from perflab.loadgen.capture import capture_values
from perflab.loadgen.connection import RETRY_AFTER_MARK, ExactHttpConnection, Prepared
from perflab.loadgen.expectation import CAPTURE_FAILED


class CapturingHttpConnection(ExactHttpConnection):
    """Also takes captured values from a flow step's answer, before the engine sends the next
    step (which may need them): a capturing step is judged and captured first, then handed
    back. Any other step goes the usual way (handed back first).

    Usage: the engine uses it when a flow step captures (see `Prepared.captures`).
    """

    _headers: list[tuple[bytes, bytes]] | None = None  # filled by HeaderCapturingHttpConnection

    def send(self, request: Prepared, origin_ns: int = 0) -> None:
        """Write one request, forgetting the last capture. Usage: ``conn.send(p)``"""
        super().send(request, origin_ns)
        self.captured = None  # stays None unless this answer is captured
        self._headers = [] if request.header_captures else None

    def on_message_complete(self) -> None:
        request = self.request
        if request is None or not request.captures:
            super().on_message_complete()
            return
        # Before the hand-back below: the engine may send the next step on this connection at
        # once, which moves `origin_ns` to that request's start.
        latency_ns = perf_counter_ns() - self.origin_ns
        self.request = None
        self.served += 1
        status = self.parser.get_status_code()
        body = b"".join(self._body_parts or ())
        bytes_in, body_length, head = self._bytes_in, self._body_length, self._head
        recorder = request.recorder
        first_length = recorder.first_body_length
        if first_length < 0:
            first_length = recorder.note_first_length(body_length)
        retry_after = status == 503 and head is not None and RETRY_AFTER_MARK in head.lower()
        failure = request.expect.check(
            status, body, retry_after=retry_after, first_length=first_length,
            body_length=body_length,
        )  # fmt: skip
        if failure is None:
            self.captured = capture_values(request.captures, body, self._headers)
            failure = CAPTURE_FAILED if self.captured is None else None
        if not self.parser.should_keep_alive():
            self.close()
        self.engine.connection_free(self)  # now the next step can use what was captured
        recorder.record(latency_ns, failure, bytes_in, len(request.wire), body_length)


class HeaderCapturingHttpConnection(CapturingHttpConnection):
    """Also keeps the answer's headers, for ``header:NAME`` captures (httptools calls
    `on_header` once per header, so only flows that capture a header pay for it).

    Usage: the engine uses it when a flow step captures a header.
    """

    def on_header(self, name: bytes, value: bytes) -> None:
        if self._headers is not None:
            self._headers.append((name, value))
