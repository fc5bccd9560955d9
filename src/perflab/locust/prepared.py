"""A loadgen request, as the loadgen prepared it, made into a call of locust's FastHttpUser.

The worker prepares every request exactly as `perflab load` does (`perflab.loadgen`'s
`Prepared`: the request bytes built once, before timing; a flow step rendered with the
user's captured values by the loadgen's own templates). A send reads those bytes back into
what locust's client takes: method, URL, headers and body, so locust sends the headers
`perflab load` sends (its User-Agent, ``Accept: */*``, the body's Content-Type,
``Connection: close`` without keep-alive), plus ``Accept-Encoding: identity`` so that answers
are the bytes `perflab load` gets and checks (locust would ask for gzip). Host and
Content-Length are left to locust's client, which writes its own.

Usage::

    call = http_call(prepared, "http://127.0.0.1:8000")
    self.client.request(call.method, call.url, data=call.body, headers=call.headers, ...)
"""

from __future__ import annotations

from dataclasses import dataclass, field

from perflab.loadgen.connection import Prepared

_LEFT_TO_LOCUST = frozenset({"host", "content-length"})
_CACHE_LIMIT = 4096  # fixed requests are few; rendered flow steps are never cached


@dataclass(frozen=True)
class HttpCall:
    """What locust's client is asked to send. Usage: see the module docstring."""

    method: str
    url: str
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes | None = None
    bytes_out: int = 0  # what `perflab load` writes for it: head and body


def parse_wire(wire: bytes, origin: str) -> HttpCall:
    """An HTTP/1.1 request's bytes as a call to `origin`. Usage: ``parse_wire(b"GET / ...", o)``"""
    head, _, body = wire.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    method, target, _ = lines[0].split(" ", 2)
    headers: dict[str, str] = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        if name.strip().lower() not in _LEFT_TO_LOCUST:
            headers[name.strip()] = value.strip()
    if not any(name.lower() == "accept-encoding" for name in headers):
        headers["Accept-Encoding"] = "identity"
    has_body = bool(body) or b"\r\ncontent-length:" in head.lower()
    return HttpCall(method, origin + target, headers, body if has_body else None, len(wire))


class CallCache:
    """Each fixed request parsed once; a rendered flow step (new bytes each time) per send.

    Usage: ``calls = CallCache(origins); calls.get(prepared)``
    """

    def __init__(self, origins: dict[str, str]) -> None:
        self.origins = origins  # request name -> its origin (scheme://host:port)
        self._calls: dict[int, tuple[Prepared, HttpCall]] = {}

    def get(self, prepared: Prepared) -> HttpCall:
        """The call for `prepared`. Usage: see class."""
        key = id(prepared)
        cached = self._calls.get(key)
        if cached is not None and cached[0] is prepared:
            return cached[1]
        call = parse_wire(prepared.wire, self.origins[prepared.name])
        if prepared.template is None and len(self._calls) < _CACHE_LIMIT:
            self._calls[key] = (prepared, call)  # the object is kept: its id stays unique
        return call
