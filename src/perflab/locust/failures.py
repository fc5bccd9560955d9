"""A locust answer judged as `perflab load` judges it: the same checks, the same failure kinds.

The check is `perflab.loadgen.expectation.Expectation.check` itself (status, body hash, JSON
fields, ab's same-length rule; 503 with Retry-After is ``shed``). What geventhttpclient raises
when no complete answer came is mapped onto the loadgen's kinds: ``connect_error`` (refused,
unreachable, no such host), ``timeout``, ``connection_reset`` (reset, closed before the answer
was complete) and ``protocol_error`` (not HTTP). One difference remains: geventhttpclient
reports a connect that times out like any other timeout, so it counts as ``timeout`` here and
as ``connect_error`` under `perflab load`.

Runs inside locust processes only (geventhttpclient is locust's client).

Usage::

    failure = transport_failure(exc)             # "connect_error", "timeout", ...
    failure = answer_failure(expect, status, body, retry_after=False, first_length=-1)
"""

from __future__ import annotations

import errno
import socket
import ssl
import zlib

from geventhttpclient._parser import HTTPParseError
from geventhttpclient.response import HTTPConnectionClosed
from geventhttpclient.useragent import RetriesExceeded

from perflab.loadgen.expectation import (
    CONNECT_ERROR,
    CONNECTION_RESET,
    PROTOCOL_ERROR,
    TIMEOUT,
    Expectation,
)

_CONNECT_ERRNOS = {
    errno.ECONNREFUSED,
    errno.EHOSTUNREACH,
    errno.ENETUNREACH,
    errno.EADDRNOTAVAIL,
    errno.EHOSTDOWN,
}


def _unwrap(error: BaseException) -> BaseException:
    """geventhttpclient wraps a retried error (a timeout) in RetriesExceeded(original=...)."""
    seen = 0
    while isinstance(error, RetriesExceeded) and seen < 5:
        original = getattr(error, "original", None)
        if not isinstance(original, BaseException):
            break
        error, seen = original, seen + 1
    return error


def transport_failure(error: BaseException) -> str:
    """The failure kind of a request that got no complete answer.

    Usage: ``transport_failure(ConnectionRefusedError())  # -> "connect_error"``
    """
    error = _unwrap(error)
    if isinstance(error, HTTPConnectionClosed):
        return CONNECTION_RESET
    if isinstance(error, HTTPParseError):
        # geventhttpclient reports a close before the head ended as a parse error.
        return CONNECTION_RESET if "connection closed" in str(error) else PROTOCOL_ERROR
    if isinstance(error, TimeoutError | socket.timeout) or type(error).__name__ == "Timeout":
        return TIMEOUT  # socket timeouts, and gevent.Timeout (not imported: untyped)
    if isinstance(error, socket.gaierror | ConnectionRefusedError):
        return CONNECT_ERROR
    if isinstance(error, ssl.SSLError | zlib.error):
        return PROTOCOL_ERROR
    if isinstance(error, OSError) and error.errno in _CONNECT_ERRNOS:
        return CONNECT_ERROR
    return CONNECTION_RESET  # reset, broken pipe, aborted, anything else that broke the answer


def answer_failure(
    expect: Expectation,
    status: int,
    body: bytes,
    *,
    retry_after: bool,
    first_length: int,
) -> str | None:
    """None when the answer is right, else its failure kind (`Expectation.check`, with the
    body kept only when a check reads it, as the loadgen does).

    Usage: ``answer_failure(Expectation((200,)), 200, b"{}", retry_after=False, first_length=-1)``
    """
    kept = body if expect.needs_body else None
    return expect.check(
        status, kept, retry_after=retry_after, first_length=first_length, body_length=len(body)
    )
