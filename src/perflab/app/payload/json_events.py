"""Two sources of JSON parse events for one body: fast (yajl) and exact (Python's json rules).

`/ping` parses with `json.loads` (FastAPI), so `json.loads` defines which bodies are JSON.
yajl, through ijson's C backend, is as fast as any dict-building parser and streams in
constant memory, but it disagrees with `json.loads` on a few inputs (measured, ijson 3.6):

| input                                   | json.loads                 | yajl                  |
|-----------------------------------------|----------------------------|-----------------------|
| `\\v`, `\\f` between tokens             | error                      | whitespace            |
| an unterminated string after the value  | error (extra data)         | accepted              |
| `\\uD800`-`\\uDFFF` escapes             | kept as they are           | `?`, or wrongly paired|
| UTF-8 BOM, UTF-16, UTF-32 bodies        | decoded                    | error                 |
| surrogates encoded in UTF-8             | kept (surrogatepass)       | error                 |
| NaN, Infinity, -Infinity                | floats                     | error                 |
| integers beyond 64 bits (<= 4300 digits)| ints                       | error                 |
| floats beyond 1.8e308                   | inf                        | error                 |

`fast_events` therefore reads the body through `_GuardedReader`, which ends it with a newline
(whitespace after a complete document, but a control character inside an unterminated string,
so yajl refuses that) and notes the bytes of the first three rows. When yajl fails, or the
guard noted anything, `exact_events` decides: an iterative walk of the decoded text that calls
the `json` module's own scanners for keys, strings and scalars, so it accepts exactly what
`json.loads` accepts, yet never builds the document (and so has no recursion limit).
"""

from __future__ import annotations

import json
import re
from _json import make_scanner, scanstring
from collections.abc import Callable, Iterator
from typing import Any, BinaryIO, cast

import ijson

Event = tuple[str, Any]

# Kept by the reader: any of these makes the fast verdict unreliable (see the table above).
_YAJL_WHITESPACE = (b"\x0b", b"\x0c")
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")
_ESCAPE_TAIL_BYTES = 3  # an escape split across two reads is still seen whole
_READ_BYTES = 1 << 16

# json's own whitespace: no \v, no \f. A `*` pattern always matches, hence the cast.
_whitespace = cast(Callable[[str, int], "re.Match[str]"], re.compile(r"[ \t\n\r]*").match)
# _json's scanners are the C ones json.loads runs. typeshed types make_scanner's context as a
# make_scanner; json.scanner passes a JSONDecoder, as here.
_scan_scalar = make_scanner(json.JSONDecoder())  # type: ignore[arg-type]

_START_MAP: Event = ("start_map", None)
_END_MAP: Event = ("end_map", None)
_START_ARRAY: Event = ("start_array", None)
_END_ARRAY: Event = ("end_array", None)


class _GuardedReader:
    """The body as yajl reads it, plus a final newline, noting what yajl gets wrong."""

    def __init__(self, stream: BinaryIO) -> None:
        self._stream = stream
        self._tail = b""
        self._ended = False
        self.suspect = False

    def read(self, size: int = -1) -> bytes:
        if size == 0:  # ijson probes the type of what read() returns
            return b""
        chunk = self._stream.read(size)
        if not chunk:
            if self._ended:
                return b""
            self._ended = True
            return b"\n"
        if not self.suspect:
            window = self._tail + chunk
            self.suspect = any(byte in chunk for byte in _YAJL_WHITESPACE) or (
                b"\\u" in window and _SURROGATE_ESCAPE.search(window) is not None
            )
            self._tail = chunk[-_ESCAPE_TAIL_BYTES:]
        return chunk


class FastEvents:
    """yajl's events for `stream`; `trusted` says, once they are consumed, whether they are
    exactly what `json.loads` would see. Errors (ijson.JSONError, UnicodeDecodeError) mean
    only `exact_events` can tell whether the body is JSON."""

    def __init__(self, stream: BinaryIO) -> None:
        self._reader = _GuardedReader(stream)
        self.events: Iterator[Event] = ijson.basic_parse(
            self._reader, buf_size=_READ_BYTES, use_float=True
        )

    @property
    def trusted(self) -> bool:
        return not self._reader.suspect


def decode(raw: bytes) -> str:
    """The body as `json.loads` decodes it: UTF-8/16/32 detected, a BOM dropped, surrogates kept."""
    return raw.decode(json.detect_encoding(raw), "surrogatepass")


def exact_events(text: str) -> Iterator[Event]:
    """Parse events for `text`, accepting exactly what `json.loads` accepts (raising its
    `JSONDecodeError`, or `ValueError` for an integer over Python's digit limit, otherwise).

    The grammar is `json.decoder.JSONObject`/`JSONArray`'s, walked with a stack instead of
    recursion; scalars go through the same C scanner `json.loads` uses.
    """
    # A stack of open containers: True for an object, False for an array.
    stack: list[bool] = []
    end = _whitespace(text, 0).end()
    while True:
        # A value starts at `end`.
        char = text[end : end + 1]
        if char == "{":
            yield _START_MAP
            end = _whitespace(text, end + 1).end()
            if text[end : end + 1] != "}":
                key, end = _member_key(text, end)
                stack.append(True)
                yield ("map_key", key)
                continue
            end += 1
            yield _END_MAP
        elif char == "[":
            yield _START_ARRAY
            end = _whitespace(text, end + 1).end()
            if text[end : end + 1] != "]":
                stack.append(False)
                continue
            end += 1
            yield _END_ARRAY
        elif char == '"':
            string, end = scanstring(text, end + 1, True)
            yield ("string", string)
        else:
            try:
                value, end = _scan_scalar(text, end)
            except StopIteration:
                raise json.JSONDecodeError("Expecting value", text, end) from None
            yield _scalar_event(value)
        # After a value: close containers until the next value starts, or the text ends.
        while True:
            end = _whitespace(text, end).end()
            if not stack:
                if end != len(text):
                    raise json.JSONDecodeError("Extra data", text, end)
                return
            char = text[end : end + 1]
            closer = "}" if stack[-1] else "]"
            if char == closer:
                stack.pop()
                end += 1
                yield _END_MAP if closer == "}" else _END_ARRAY
            elif char == ",":
                end = _whitespace(text, end + 1).end()
                if stack[-1]:
                    key, end = _member_key(text, end)
                    yield ("map_key", key)
                break
            else:
                raise json.JSONDecodeError("Expecting ',' delimiter", text, end)


def _member_key(text: str, end: int) -> tuple[str, int]:
    """The key at `end` and where its value starts (after the colon and whitespace)."""
    if text[end : end + 1] != '"':
        raise json.JSONDecodeError("Expecting property name enclosed in double quotes", text, end)
    key, end = scanstring(text, end + 1, True)
    end = _whitespace(text, end).end()
    if text[end : end + 1] != ":":
        raise json.JSONDecodeError("Expecting ':' delimiter", text, end)
    return key, _whitespace(text, end + 1).end()


def _scalar_event(value: object) -> Event:
    if value is None:
        return ("null", None)
    if value is True or value is False:
        return ("boolean", value)
    return ("number", value)
