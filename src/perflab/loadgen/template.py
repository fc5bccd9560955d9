"""Request bytes with holes: a flow step whose path, headers or body use captured values.

A step's bytes are built once, like any request's, and split at each ``{name}`` of a
captured value into literal pieces and slots; a send joins the pieces with the user's values,
each encoded for where it stands:

- in the path and query: characters a request target may not hold are percent-encoded
  (``/``, ``?`` and ``%`` are kept, so a captured path or an encoded value goes in as it is);
- in a header: as text, line breaks turned into spaces (no header can be smuggled in);
- in a JSON body (a content type with ``json``): ``"{item}"``, a whole string value, becomes
  the captured value as JSON (``42`` stays a number); inside a longer string, or as a key,
  the value is JSON-escaped text;
- in any other body: the value as UTF-8 text.

A value that is not a string is written as JSON text (``42``, ``true``). When the body has
holes its Content-Length is counted per send; otherwise the head and body are fixed bytes. A
body made by a factory (`Body.factory`) is sent as it is.

Usage::

    template = WireTemplate.of(spec, keepalive=True, names={"token", "item"}, body=body)
    wire = template.render({"token": "t1", "item": 42}) if template else spec.wire_bytes(...)
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection
from typing import Any
from urllib.parse import quote

import orjson

from perflab.loadgen.request_spec import RequestSpec

Encoder = Callable[[Any], bytes]
_PATH_SAFE = "!#$&'()*+,/:;=?@[]~%"  # RFC 3986's reserved characters, and % (already encoded)


def _text(value: Any) -> str:
    return value if isinstance(value, str) else orjson.dumps(value).decode()


def _in_path(value: Any) -> bytes:
    return quote(_text(value), safe=_PATH_SAFE).encode("ascii")


def _in_header(value: Any) -> bytes:
    return _text(value).replace("\r", " ").replace("\n", " ").encode("latin-1", "replace")


def _in_json_string(value: Any) -> bytes:
    return orjson.dumps(_text(value))[1:-1]


def _as_json_value(value: Any) -> bytes:
    return orjson.dumps(value)


def _as_text(value: Any) -> bytes:
    return _text(value).encode()


def _names_pattern(names: Collection[str]) -> bytes:
    return b"|".join(re.escape(name.encode()) for name in sorted(names))


def find_placeholders(spec: RequestSpec, names: Collection[str]) -> frozenset[str]:
    """Which of `names` a request uses as ``{name}``: in its head or its body (given as data),
    the places `WireTemplate.of` fills. Usage: ``find_placeholders(spec, {"token", "item"})``
    """
    if not names:
        return frozenset()
    pattern = re.compile(rb"\{(" + _names_pattern(names) + rb")\}")
    head = "\r\n".join(spec.head_lines(keepalive=True, body_length=None))
    places = [head.encode("latin-1", "replace")]
    if spec.body.factory is None:
        places.append(spec.body.data)
    return frozenset(m.group(1).decode() for text in places for m in pattern.finditer(text))


class _Split:
    """Bytes cut at placeholders: ``first`` then (name, encoder, literal) triples."""

    __slots__ = ("first", "rest")

    def __init__(self, first: bytes, rest: tuple[tuple[str, Encoder, bytes], ...] = ()) -> None:
        self.first = first
        self.rest = rest

    @classmethod
    def of(
        cls, data: bytes, pattern: re.Pattern[bytes], slot: Callable[[re.Match[bytes]], Encoder]
    ) -> _Split:
        pieces: list[bytes] = []
        slots: list[tuple[str, Encoder]] = []
        position = 0
        for match in pattern.finditer(data):
            pieces.append(data[position : match.start()])
            name = next(group for group in match.groups() if group is not None)
            slots.append((name.decode(), slot(match)))
            position = match.end()
        pieces.append(data[position:])
        rest = tuple((n, e, p) for (n, e), p in zip(slots, pieces[1:], strict=True))
        return cls(pieces[0], rest)

    def then(self, other: _Split) -> _Split:
        """This split followed by `other`, as one."""
        if not self.rest:
            return _Split(self.first + other.first, other.rest)
        *head, (name, encoder, last) = self.rest
        return _Split(self.first, (*head, (name, encoder, last + other.first), *other.rest))

    @property
    def names(self) -> frozenset[str]:
        return frozenset(name for name, _, _ in self.rest)

    def render(self, values: dict[str, Any]) -> bytes:
        parts = [self.first]
        for name, encoder, literal in self.rest:
            parts.append(encoder(values[name]))
            parts.append(literal)
        return b"".join(parts)


class WireTemplate:
    """A request's wire bytes with captured values still to fill in. Usage: see the module."""

    __slots__ = ("body", "head")

    def __init__(self, head: _Split, body: _Split | None) -> None:
        self.head = head  # ends with the blank line when `body` is None (the body is in it)
        self.body = body

    @classmethod
    def of(
        cls, spec: RequestSpec, *, keepalive: bool, names: Collection[str], body: bytes
    ) -> WireTemplate | None:
        """The template of `spec` (whose body, materialised, is `body`), or None when it uses
        none of `names`. Usage: see the module docstring.
        """
        if not names:
            return None
        alternatives = _names_pattern(names)
        plain = re.compile(rb"\{(" + alternatives + rb")\}")
        if spec.body.factory is not None:
            body_split = _Split(body)
        elif "json" in (spec.body.content_type or ""):
            whole_value = rb'(?<!\\)"\{(' + alternatives + rb')\}"(?!\s*:)'
            json_pattern = re.compile(whole_value + rb"|\{(" + alternatives + rb")\}")
            body_split = _Split.of(
                body, json_pattern, lambda m: _as_json_value if m.group(1) else _in_json_string
            )
        else:
            body_split = _Split.of(body, plain, lambda m: _as_text)
        templated_body = bool(body_split.rest)
        length = None if templated_body else spec.length_header(body)
        request_line, *headers = spec.head_lines(keepalive=keepalive, body_length=length)
        head = _Split.of(f"{request_line}\r\n".encode("latin-1"), plain, lambda m: _in_path)
        header_bytes = "".join(f"{line}\r\n" for line in headers).encode("latin-1")
        head = head.then(_Split.of(header_bytes, plain, lambda m: _in_header))
        if not (head.rest or templated_body):
            return None
        if templated_body:
            return cls(head, body_split)
        return cls(head.then(_Split(b"\r\n" + body)), None)

    @property
    def names(self) -> frozenset[str]:
        """The captured names the request uses. Usage: ``template.names``"""
        body_names = self.body.names if self.body is not None else frozenset()
        return self.head.names | body_names

    def render(self, values: dict[str, Any]) -> bytes:
        """The request's bytes with `values` filled in. Usage: ``template.render({"id": 3})``"""
        if self.body is None:
            return self.head.render(values)
        body = self.body.render(values)
        return b"%sContent-Length: %d\r\n\r\n%s" % (self.head.render(values), len(body), body)
