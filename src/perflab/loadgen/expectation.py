"""What a correct answer is, and the failure kinds a wrong one is counted as.

Failure kinds (strings, so they merge and serialise as they are):

- ``connect_error``: the TCP connection could not be made;
- ``timeout``: no complete answer within the request timeout;
- ``connection_reset``: the connection was reset or closed before the answer was complete;
- ``protocol_error``: the bytes received were not HTTP;
- ``shed``: 503 *with* ``Retry-After`` (the server refused on purpose, cheaply);
- ``status_<code>``: any other status than the expected one (non-2xx by default);
- ``wrong_content``: the expected status, but the body fails the expectation;
- ``capture_failed``: a flow step's answer was right, but a value it captures for later
  steps is not in it (see `perflab.loadgen.capture`).

Usage::

    expect = Expectation(status=(200,), json_fields={"success": True})
    expect.check(200, b'{"success": true}', retry_after=False)   # -> None (correct)
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

import orjson

CONNECT_ERROR = "connect_error"
TIMEOUT = "timeout"
CONNECTION_RESET = "connection_reset"
PROTOCOL_ERROR = "protocol_error"
SHED = "shed"
WRONG_CONTENT = "wrong_content"
CAPTURE_FAILED = "capture_failed"


def status_kind(status: int) -> str:
    """The failure kind of an unexpected status. Usage: ``status_kind(404) == "status_404"``"""
    return f"status_{status}"


def json_lookup(document: Any, dotted_path: str) -> Any:
    """Walk ``a.b.0.c`` through dicts and lists; KeyError/IndexError/TypeError/ValueError when
    it is not there. Usage: ``json_lookup({"a": [{"b": 1}]}, "a.0.b")  # -> 1``
    """
    node = document
    for part in dotted_path.split("."):
        node = node[int(part)] if isinstance(node, list) else node[part]
    return node


@dataclass(frozen=True)
class Expectation:
    """A correct answer: status, and optionally a body hash, JSON field values, same length.

    Usage: ``Expectation(status=(201,), body_sha256="ab12...", same_length=True)``
    """

    status: tuple[int, ...] = ()  # empty: any 2xx
    body_sha256: str | None = None
    json_fields: dict[str, Any] = field(default_factory=dict)
    same_length: bool = False  # ab's rule: every body as long as the first one

    @property
    def needs_body(self) -> bool:
        """Whether the body must be kept to check it. Usage: ``expect.needs_body``"""
        return self.body_sha256 is not None or bool(self.json_fields)

    def status_ok(self, status: int) -> bool:
        """Whether this status is the expected one. Usage: ``expect.status_ok(200)``"""
        if self.status:
            return status in self.status
        return 200 <= status < 300

    def check(
        self,
        status: int,
        body: bytes | None,
        *,
        retry_after: bool,
        first_length: int = -1,
        body_length: int = -1,
    ) -> str | None:
        """None if right, else the failure kind. Usage: ``e.check(200, b"", retry_after=False)``"""
        if not self.status_ok(status):
            return SHED if status == 503 and retry_after else status_kind(status)
        if self.same_length and 0 <= first_length != body_length:
            return WRONG_CONTENT
        if body is None:
            return None
        if self.body_sha256 is not None and hashlib.sha256(body).hexdigest() != self.body_sha256:
            return WRONG_CONTENT
        if self.json_fields:
            try:
                document = orjson.loads(body)
                for path, expected in self.json_fields.items():
                    if json_lookup(document, path) != expected:
                        return WRONG_CONTENT
            except (orjson.JSONDecodeError, KeyError, IndexError, TypeError, ValueError):
                return WRONG_CONTENT
        return None

    def describe(self) -> dict[str, Any]:
        """JSON-ready description for the recording. Usage: ``expect.describe()``"""
        described: dict[str, Any] = {"status": list(self.status) or "2xx"}
        if self.body_sha256:
            described["body_sha256"] = self.body_sha256
        if self.json_fields:
            described["json"] = self.json_fields
        if self.same_length:
            described["same_length"] = True
        return described
