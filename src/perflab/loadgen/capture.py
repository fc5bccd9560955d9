"""Values captured from an answer for a user's later requests: ``json:PATH`` and ``header:NAME``.

A request that captures says what to take from its answer, by name::

    capture = { token = "json:token", item = "json:data.items.0.id", next = "header:Location" }

``json:`` takes a dotted path into the JSON body (the same paths as ``expect.json``: keys,
and list indexes as numbers); ``header:`` a response header, by case-insensitive name. A
value must be a string, a number or a boolean: a missing field, ``null``, an object or a
list is a failed capture. A request's captures succeed or fail together: the answer is
counted as ``capture_failed`` when it was otherwise right, and none of its names is set.

Usage::

    captures = parse_captures({"token": "json:token"})
    capture_values(captures, b'{"token": "t1"}', None)   # -> {"token": "t1"}
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import orjson

from perflab.loadgen.errors import RequestSpecError
from perflab.loadgen.expectation import json_lookup

NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")  # what may stand between braces: {token}
_LOOKUP_ERRORS = (KeyError, IndexError, TypeError, ValueError)


@dataclass(frozen=True)
class Capture:
    """One value to take from an answer. Usage: ``Capture.parse("token", "json:token")``"""

    name: str
    source: Literal["json", "header"]
    path: str  # a dotted JSON path, or a header name in lower case

    @classmethod
    def parse(cls, name: str, text: str) -> Capture:
        """From ``json:PATH`` or ``header:NAME``. Usage: ``Capture.parse("id", "json:id")``"""
        if NAME.fullmatch(name) is None:
            raise RequestSpecError(f"a capture name is a word (letters, digits, _), got {name!r}")
        source, _, path = text.partition(":")
        if source == "json" and path:
            return cls(name, "json", path)
        if source == "header" and path.strip():
            return cls(name, "header", path.strip().lower())
        raise RequestSpecError(
            f"capture {name} = {text!r}: write json:PATH (json:data.id) or header:NAME"
        )


def parse_captures(table: Mapping[str, str]) -> tuple[Capture, ...]:
    """Captures from a ``capture`` table. Usage: ``parse_captures({"t": "json:t"})``"""
    return tuple(Capture.parse(str(name), str(text)) for name, text in table.items())


def capture_values(
    captures: Sequence[Capture], body: bytes, headers: Sequence[tuple[bytes, bytes]] | None
) -> dict[str, Any] | None:
    """Every capture's value, or None when one is missing.

    `headers` are the answer's (name, value) pairs as httptools gives them, or None when no
    capture reads a header. Usage: ``capture_values(captures, body, None)``
    """
    values: dict[str, Any] = {}
    document: Any = None
    parsed = False
    for capture in captures:
        if capture.source == "json":
            if not parsed:
                try:
                    document = orjson.loads(body)
                except orjson.JSONDecodeError:
                    return None
                parsed = True
            try:
                value = json_lookup(document, capture.path)
            except _LOOKUP_ERRORS:
                return None
            if not isinstance(value, str | int | float):  # bool is an int; None is missing
                return None
        else:
            value = _header(headers or (), capture.path)
            if value is None:
                return None
        values[capture.name] = value
    return values


def _header(headers: Sequence[tuple[bytes, bytes]], lower_name: str) -> str | None:
    wanted = lower_name.encode("latin-1")
    for name, value in headers:
        if name.lower() == wanted:
            return value.decode("latin-1")
    return None
