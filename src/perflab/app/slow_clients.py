"""uvicorn's httptools protocol, hardened against slow and hostile clients (docs/hardening.md).

uvicorn on its own waits forever for a request head (a client sending one header byte a second
holds its connection, and a file descriptor, as long as it likes), closes idle keep-alive
connections with `close()`, which waits for unsent data a client that never reads will never
take, and has no limit on how slowly a client may read an answer. With thousands of such
clients the process runs out of descriptors and honest clients are refused. This subclass adds:

- a head timeout: a connection whose request head (request line and headers) is not complete
  `header_timeout_s` after it opened, or after its next request's first byte, gets a 408 and
  is closed; a connection that sends nothing at all is closed the same way;
- slow heads are read no more: a head still incomplete `PATIENCE_S` after its first byte
  (not after the connection opened) has its reading paused until its timeout, then is read
  once more for a moment (its last call, `head_clock.LAST_CALL_S`) and served if complete,
  else answered 408. An honest head comes in one piece, or in a few within a round trip; an
  attacker trickling a byte a second into 20,000 connections made 20,000 reads a second, in
  bursts that held the loop for tens of milliseconds (docs/hardening.md);
- a head size limit (`MAX_HEAD_BYTES`): a longer head gets a 431 and is closed;
- shedding: when this worker's connections come within `reserve` of its open-files limit, each
  new connection first closes the connection that has waited longest for its head, so a slow
  attacker can never take the descriptors honest clients need;
- a send timeout: while the answer a client has not read yet is over the transport's
  high-water mark, the client must take `MIN_SEND_PROGRESS_BYTES` of it every
  `send_timeout_s`, or the connection is aborted (its buffered answer freed at once);
- idle keep-alive connections are aborted rather than closed when an answer is still unsent.

Settings come from `PERFLAB_*` variables (read once per worker process, as the app factory
does): uvicorn builds protocol instances itself, in worker processes it spawned.

Usage: `uvicorn.Config(app, http=GuardedHttpToolsProtocol, loop="uvloop")`
"""

from __future__ import annotations

import asyncio
import functools
from dataclasses import dataclass
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from perflab.app.head_clock import HeadClock, head_clock
from perflab.config import Settings
from perflab.limits import open_files_limit

# Larger than any honest head (nginx reads up to 4 x 8 KiB; h11 in uvicorn stops at 16 KiB).
MAX_HEAD_BYTES = 64 * 1024
# A reader slower than this (16 KiB per send_timeout_s: 0.5 KiB/s at the default 30 s) is
# treated as gone: its buffered answer is freed rather than held for as long as it likes.
MIN_SEND_PROGRESS_BYTES = 16 * 1024

# A head still incomplete this long after its first byte is read no more until its timeout,
# then once more for a moment (its last call): see "slow heads" in the module docstring.
PATIENCE_S = 1.0

_408 = b"HTTP/1.1 408 Request Timeout\r\nconnection: close\r\ncontent-length: 0\r\n\r\n"
_431 = (
    b"HTTP/1.1 431 Request Header Fields Too Large\r\n"
    b"connection: close\r\ncontent-length: 0\r\n\r\n"
)


@dataclass(frozen=True)
class ConnectionLimits:
    header_timeout_s: float
    send_timeout_s: float
    max_connections: int | None  # None: no open-files limit to stay under

    @classmethod
    def from_settings(cls, settings: Settings) -> ConnectionLimits:
        limit = open_files_limit()
        if limit is None:
            return cls(settings.header_timeout_s, settings.send_timeout_s, None)
        # Room for what else the worker opens: the database pool, Redis, the downstream pool,
        # pipes to offload workers, metric files, logs.
        reserve = max(settings.fd_reserve, limit // 20)
        return cls(settings.header_timeout_s, settings.send_timeout_s, max(1, limit - reserve))


@functools.cache
def _limits() -> ConnectionLimits:
    return ConnectionLimits.from_settings(Settings())


class GuardedHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with head and send timeouts and descriptor shedding."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.limits = _limits()
        self._heads: HeadClock[GuardedHttpToolsProtocol] = head_clock(
            self.loop, self.limits.header_timeout_s
        )
        self._awaiting_head = False
        self._head_first_at: float | None = None  # when its head's first byte came
        self._head_paused = False
        self._head_last_call = False
        self._head_bytes = 0
        self._send_timer: asyncio.TimerHandle | None = None
        self._unsent_at_check = 0

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._shed_for_room()
        self._await_head()

    def connection_lost(self, exc: Exception | None) -> None:
        self._head_done()
        self._cancel_send_timer()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._awaiting_head:
            self._head_bytes += len(data)
        super().data_received(data)
        if not self._awaiting_head:  # an honest head comes whole: nothing more to do
            return
        # Still in the head after this chunk (a head that completed in it cleared the count).
        now = self.loop.time()
        if self._head_first_at is None:
            # Patience counts from the head's first byte, not from the connection's opening:
            # a browser's idle preconnect, then a head in two segments, is not slow.
            self._head_first_at = now
        if self._head_bytes > MAX_HEAD_BYTES:
            self._refuse(_431)
        elif (
            not self._head_last_call
            and now - self._head_first_at > PATIENCE_S
            and not self.transport.is_closing()  # e.g. uvicorn answered a malformed head 400
        ):
            self._head_paused = True
            self.transport.pause_reading()

    def on_message_begin(self) -> None:
        super().on_message_begin()
        if not self._awaiting_head:  # the next request on a kept-alive connection
            self._await_head()

    def on_headers_complete(self) -> None:
        self._head_done()
        super().on_headers_complete()

    def pause_writing(self) -> None:
        super().pause_writing()
        if self._send_timer is None:
            self._unsent_at_check = self.transport.get_write_buffer_size()
            self._send_timer = self.loop.call_later(
                self.limits.send_timeout_s, self._check_send_progress
            )

    def resume_writing(self) -> None:
        self._cancel_send_timer()
        super().resume_writing()

    def timeout_keep_alive_handler(self) -> None:
        if not self.transport.is_closing() and self.transport.get_write_buffer_size():
            # close() would wait for the client to read what is left, which it may never do.
            self.transport.abort()
            return
        super().timeout_keep_alive_handler()

    def head_late(self) -> None:
        """The head timeout passed (called by the loop's head clock)."""
        if self._head_paused and not self.transport.is_closing():
            # What it sent while paused may have finished the head: one more look first.
            self._resume_head()
            self._head_last_call = True
            self._heads.last_call(self)
            return
        self._refuse(_408)

    def _await_head(self) -> None:
        self._head_bytes = 0
        self._awaiting_head = True
        self._head_last_call = False
        self._head_first_at = None
        self._heads.add(self, self.loop.time())

    def _head_done(self) -> None:
        if self._awaiting_head:
            self._awaiting_head = False
            self._heads.remove(self)
            self._resume_head()

    def _resume_head(self) -> None:
        if self._head_paused:
            self._head_paused = False
            if not self.transport.is_closing():
                self.transport.resume_reading()

    def _refuse(self, answer: bytes) -> None:
        self._head_done()
        if not self.transport.is_closing():
            self.transport.write(answer)
            self.transport.close()

    def _shed_for_room(self) -> None:
        """Close the connections waiting longest for their heads until this one fits."""
        limit = self.limits.max_connections
        if limit is None:
            return
        # Aborted connections leave `self.connections` only when the loop reports them lost,
        # so count what is shed rather than re-reading the set.
        excess = len(self.connections) - limit
        waiting = self._heads.waiting
        while excess > 0 and waiting:
            oldest = next(iter(waiting))
            oldest._head_done()
            # abort: the descriptor is needed now, not once a 408 has been flushed.
            oldest.transport.abort()
            excess -= 1

    def _check_send_progress(self) -> None:
        self._send_timer = None
        unsent = self.transport.get_write_buffer_size()
        if self.transport.is_closing() or not self.flow.write_paused:
            return
        if self._unsent_at_check - unsent < MIN_SEND_PROGRESS_BYTES:
            self.transport.abort()  # the client stopped reading: free its answer and descriptor
            return
        self._unsent_at_check = unsent
        self._send_timer = self.loop.call_later(
            self.limits.send_timeout_s, self._check_send_progress
        )

    def _cancel_send_timer(self) -> None:
        if self._send_timer is not None:
            self._send_timer.cancel()
            self._send_timer = None
