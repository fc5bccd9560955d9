"""The two event sources: the exact one accepts what json.loads accepts; the fast one knows
when it cannot be trusted."""

from __future__ import annotations

import io
import json
import random
from collections.abc import Iterator
from typing import Any

import ijson
import pytest

from perflab.app.payload.json_events import Event, FastEvents, decode, exact_events

DOCUMENTS = [
    b'{"name": "x", "data": {"a": 1, "b": [1, 2.5, -0, 1e2]}}',
    b" [ ] ",
    b"{}",
    b'"\\u00e9\\ud83d\\ude00\\ud800"',
    b"[NaN, Infinity, -Infinity, true, false, null]",
    b'{"a": {"b": {"c": [[], {}]}}, "": ""}',
    b"12345678901234567890123",
    b'\xef\xbb\xbf{"bom": 1}',
    '{"wide": "\u00e9"}'.encode("utf-16"),
]
PIECES = [b"{", b"}", b"[", b"]", b",", b":", b'"', b'"k"', b"1", b"-", b"1.5e3", b"NaN",
          b"-Infinity", b"true", b"nul", b" ", b"\n", b"\x0b", b"\\", b"\\ud800", b"\xed\xa0\x80",
          b"\xff", b"\t", b"0", b"01", b"x", b"\x00", b"9" * 4301]  # fmt: skip


def build(events: Iterator[Event]) -> Any:
    """The Python value a stream of events describes (a tiny ijson-style builder)."""
    stack: list[Any] = []
    keys: list[str | None] = []
    result: Any = None

    def add(value: Any) -> None:
        nonlocal result
        if not stack:
            result = value
        elif isinstance(stack[-1], dict):
            stack[-1][keys[-1]] = value
        else:
            stack[-1].append(value)

    for event, value in events:
        if event in ("start_map", "start_array"):
            container: Any = {} if event == "start_map" else []
            add(container)
            stack.append(container)
            keys.append(None)
        elif event in ("end_map", "end_array"):
            stack.pop()
            keys.pop()
        elif event == "map_key":
            keys[-1] = value
        else:
            add(value)
    return result


def by_json(body: bytes) -> tuple[str, Any]:
    try:
        return "ok", json.loads(body)
    except ValueError:
        return "error", None


def by_exact(body: bytes) -> tuple[str, Any]:
    try:
        return "ok", build(exact_events(decode(body)))
    except ValueError:
        return "error", None


def same(a: tuple[str, Any], b: tuple[str, Any]) -> bool:
    # repr: NaN != NaN, but both sides must hold a NaN in the same place.
    return repr(a) == repr(b)


@pytest.mark.parametrize("body", DOCUMENTS)
def test_exact_events_describe_what_json_loads_returns(body: bytes) -> None:
    assert same(by_exact(body), by_json(body))


def test_exact_events_agree_with_json_loads_on_mutated_bodies() -> None:
    rng = random.Random(3)
    for _ in range(3000):
        body = bytearray(rng.choice(DOCUMENTS))
        for _ in range(rng.randint(1, 3)):
            at = rng.randint(0, len(body))
            if rng.random() < 0.6:
                body[at:at] = rng.choice(PIECES)
            else:
                del body[at : at + rng.randint(1, 3)]
        assert same(by_exact(bytes(body)), by_json(bytes(body))), bytes(body)


def test_exact_events_have_no_recursion_limit() -> None:
    depth = 50_000
    events = list(exact_events("[" * depth + "]" * depth))
    assert len(events) == 2 * depth


def fast(body: bytes) -> tuple[list[Event] | None, bool]:
    source = FastEvents(io.BytesIO(body))
    try:
        events = list(source.events)
    except (ijson.JSONError, ValueError):
        events = None
    return events, source.trusted


def test_fast_events_are_trusted_on_plain_json() -> None:
    events, trusted = fast(b'{"a": [1, "\\u00e9\\n"]}  \r\n')
    assert trusted
    assert events is not None
    assert ("string", "\u00e9\n") in events


@pytest.mark.parametrize(
    "body",
    [
        b'{"a": 1}\x0b',  # yajl's whitespace, not json's
        b'{"a": 1,\x0c"b": 2}',
        b'{"a": "\\ud800"}',  # yajl makes "?" of it
        b'{"a": "\\uDC00\\u0041"}',
        b'{"a": "\\ud800\\u0041"}',  # yajl pairs it with the next escape
    ],
)
def test_fast_events_are_not_trusted_where_yajl_and_json_differ(body: bytes) -> None:
    assert fast(body)[1] is False


def test_a_surrogate_escape_split_between_two_reads_is_still_seen() -> None:
    read_bytes = 1 << 16
    head = b'{"pad": "' + b"x" * (read_bytes - 9 - 3) + b"\\ud"  # the read ends mid-escape
    body = head + b'800", "a": 1}'
    assert len(head) == read_bytes
    assert fast(body)[1] is False


def test_fast_events_refuse_an_unterminated_string_after_the_document() -> None:
    # yajl alone accepts this; the newline the reader adds ends inside the string.
    assert fast(b'{"a": 1} "}')[0] is None
