"""Requests to send: what the user describes (`RequestSpec`) and the bytes that go on the wire.

Requests are serialised once, before timing starts, into the exact bytes of an HTTP/1.1
request (`wire_bytes`); the engine only writes them. Large bodies can be produced by a
`body_factory` (any picklable callable) so that a 25 MB payload is generated in the process
that sends it, before the clock starts, never while small requests are being timed.

Usage::

    spec = RequestSpec("http://127.0.0.1:8000/predict", method="POST",
                       body_parts=form_body({"file": "@cat.jpg"}), weight=3)
    spec.origin(), spec.wire_bytes(keepalive=True)
"""

from __future__ import annotations

import mimetypes
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import orjson

from perflab.loadgen.capture import parse_captures
from perflab.loadgen.errors import RequestSpecError
from perflab.loadgen.expectation import Expectation

USER_AGENT = "perflab-load/0.1"


@dataclass(frozen=True)
class Origin:
    """Scheme, host and port that connections are opened to. Usage: ``Origin.of(url)``"""

    scheme: str
    host: str
    port: int

    @classmethod
    def of(cls, url: str) -> Origin:
        """Parse an http(s) URL's origin. Usage: ``Origin.of("http://127.0.0.1:8000/")``"""
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise RequestSpecError(f"not an http(s) URL: {url!r}")
        default_port = 443 if parts.scheme == "https" else 80
        try:
            port = parts.port
        except ValueError as exc:  # a port that is not a number: ":80{x}"
            raise RequestSpecError(f"not an http(s) URL: {url!r} ({exc})") from exc
        return cls(parts.scheme, parts.hostname, port or default_port)

    @property
    def host_header(self) -> str:
        """The Host header value (port only when not the default). Usage: ``o.host_header``"""
        default = 443 if self.scheme == "https" else 80
        host = f"[{self.host}]" if ":" in self.host else self.host
        return host if self.port == default else f"{host}:{self.port}"

    def __str__(self) -> str:
        return f"{self.scheme}://{self.host_header}"


@dataclass(frozen=True)
class Body:
    """Body bytes (or a factory for them) and their content type. Usage: ``json_body({...})``"""

    data: bytes = b""
    content_type: str | None = None
    factory: Callable[[], bytes] | None = None

    def materialise(self) -> bytes:
        """The bytes, calling the factory if there is one. Usage: ``body.materialise()``"""
        return self.factory() if self.factory is not None else self.data


def json_body(document: Any) -> Body:
    """A JSON body. Usage: ``json_body({"title": "hello"})``"""
    return Body(orjson.dumps(document), "application/json")


def file_body(path: str | Path, content_type: str | None = None) -> Body:
    """A raw body read from a file now. Usage: ``file_body("big.json", "application/json")``"""
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise RequestSpecError(f"cannot read body file {path}: {exc}") from exc
    guessed = content_type or mimetypes.guess_type(str(path))[0] or "application/octet-stream"
    return Body(data, guessed)


def form_body(fields: Mapping[str, str], base_dir: Path | None = None) -> Body:
    """multipart/form-data; ``@path`` is a file part. Usage: ``form_body({"image": "@a.jpg"})``"""
    boundary = f"perflab{uuid.uuid4().hex}"
    parts: list[bytes] = []
    for name, value in fields.items():
        if value.startswith("@"):
            path = Path(value[1:])
            if base_dir is not None and not path.is_absolute():
                path = base_dir / path
            try:
                data = path.read_bytes()
            except OSError as exc:
                raise RequestSpecError(f"cannot read form file {path}: {exc}") from exc
            ctype = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
            head = (
                f'Content-Disposition: form-data; name="{name}"; filename="{path.name}"\r\n'
                f"Content-Type: {ctype}\r\n\r\n"
            )
        else:
            data = value.encode()
            head = f'Content-Disposition: form-data; name="{name}"\r\n\r\n'
        parts.append(f"--{boundary}\r\n{head}".encode() + data + b"\r\n")
    parts.append(f"--{boundary}--\r\n".encode())
    return Body(b"".join(parts), f"multipart/form-data; boundary={boundary}")


@dataclass(frozen=True)
class RequestSpec:
    """One kind of request: URL, method, headers, body, weight, what a correct answer is, and
    what to capture from it for a flow's later steps (`perflab.loadgen.capture`).

    Usage: ``RequestSpec("http://127.0.0.1:8000/", name="index", expect=Expectation((200,)))``
    """

    url: str
    method: str = "GET"
    name: str | None = None  # default: the path, as locust names requests
    headers: Mapping[str, str] = field(default_factory=dict)
    body: Body = field(default_factory=Body)
    weight: int = 1
    expect: Expectation = field(default_factory=Expectation)
    # name -> "json:PATH" | "header:NAME": values later steps of a flow use as {name}
    capture: Mapping[str, str] = field(default_factory=dict)
    # Keep every value this request captures in the recording (`NameStats.captured_values`):
    # what a fault study reconciles its acknowledged writes against.
    record_captures: bool = False

    def __post_init__(self) -> None:
        Origin.of(self.url)  # fail early on a bad URL
        if self.weight < 1:
            raise RequestSpecError(f"weight must be >= 1, got {self.weight} for {self.url}")
        parse_captures(self.capture)  # fail early on a bad capture

    @property
    def target(self) -> str:
        """Path and query as sent on the request line. Usage: ``spec.target``"""
        parts = urlsplit(self.url)
        return (parts.path or "/") + (f"?{parts.query}" if parts.query else "")

    @property
    def label(self) -> str:
        """The name results are reported under. Usage: ``spec.label``"""
        return self.name or urlsplit(self.url).path or "/"

    def origin(self) -> Origin:
        """Where this request's connections go. Usage: ``spec.origin()``"""
        return Origin.of(self.url)

    def length_header(self, body: bytes) -> int | None:
        """The Content-Length to send with `body` (None: send none). Usage: see `wire_bytes`."""
        return len(body) if body or self.method.upper() in ("POST", "PUT", "PATCH") else None

    def head_lines(self, *, keepalive: bool, body_length: int | None) -> list[str]:
        """Request line and headers, Content-Length only when `body_length` is not None.

        Usage: ``spec.head_lines(keepalive=True, body_length=None)``
        """
        lowered = {k.lower() for k in self.headers}
        lines = [f"{self.method.upper()} {self.target} HTTP/1.1"]
        if "host" not in lowered:
            lines.append(f"Host: {self.origin().host_header}")
        if "user-agent" not in lowered:
            lines.append(f"User-Agent: {USER_AGENT}")
        if "accept" not in lowered:
            lines.append("Accept: */*")
        if self.body.content_type and "content-type" not in lowered:
            lines.append(f"Content-Type: {self.body.content_type}")
        lines.extend(f"{k}: {v}" for k, v in self.headers.items())
        if body_length is not None:
            lines.append(f"Content-Length: {body_length}")
        if not keepalive:
            lines.append("Connection: close")
        return lines

    def wire_bytes(self, *, keepalive: bool) -> bytes:
        """The whole HTTP/1.1 request, ready to write. Usage: ``spec.wire_bytes(keepalive=True)``"""
        body = self.body.materialise()
        lines = self.head_lines(keepalive=keepalive, body_length=self.length_header(body))
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        return head + body
