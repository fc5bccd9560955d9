"""The entries of a `data` object: counted as sent, and judged as the dict json.loads builds.

The answer counts entries as sent and takes the largest integer sent: one pass, nothing kept
per key. A repeated key makes that differ from `/ping`, whose dict keeps one entry per key
with its last value (`{"a": 5, "a": 1}`: `/ping` answers count 1, maxval 1; `/pong` count 2,
maxval 5). Telling repeats apart costs a hash per key, 8 bytes a key and half as much time
again, measured, for what well-formed bodies never do; the status must match though, so a
body with any bad entry (`{"a": "x", "a": 1}` is fine for `/ping`: the last value wins) is
read again to find which bad entries the dict would have kept:

1. `hashes`: every key's hash, to find those seen twice (`repeated`);
2. only if some are: those keys alone are held in a dict, last value wins, first position kept.
"""

from __future__ import annotations

from array import array
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import numpy as np

from perflab.app.payload.json_events import Event

OPENS = frozenset({"start_map", "start_array"})
_BAD_VALUE = object()

SkipValue = Callable[[Iterator[Event], int], None]


@dataclass(frozen=True)
class Pass:
    """How to read `data`: counting (the default), keeping hashes, or resolving repeats."""

    keep_hashes: bool = False
    repeated_hashes: frozenset[int] | None = None


COUNT = Pass()


@dataclass
class Entries:
    count: int = 0
    maxval: int | None = None
    bad_key: str | None = None  # the first key (by the pass's rules) whose value is not an int
    repeated_hashes: frozenset[int] = field(default_factory=frozenset)  # `keep_hashes` only


def read_entries(events: Iterator[Event], how: Pass, skip_value: SkipValue) -> Entries:
    """Read a `data` object just opened, up to its end; containers as values are skipped
    with `skip_value(events, 3)` (it checks the depth)."""
    if how.repeated_hashes is not None:
        return _resolve_repeats(events, how.repeated_hashes, skip_value)
    entries = Entries()
    count = 0
    maxval: int | None = None
    hashes = array("q")
    keep_hash = hashes.append if how.keep_hashes else None
    for event, key in events:
        if event == "end_map":
            break
        event, value = next(events)
        count += 1
        if keep_hash is not None:
            keep_hash(hash(key))
        # type() rather than isinstance(): bool is an int subclass, and true is not an integer.
        if type(value) is int:
            if maxval is None or value > maxval:
                maxval = value
            continue
        if entries.bad_key is None:
            entries.bad_key = key
        if event in OPENS:
            skip_value(events, 3)
    entries.count, entries.maxval = count, maxval
    if keep_hash is not None:
        entries.repeated_hashes = _repeated(hashes)
    return entries


def _resolve_repeats(
    events: Iterator[Event], repeated_hashes: frozenset[int], skip_value: SkipValue
) -> Entries:
    """The first bad entry in dict order, with keys whose hash repeats held in a dict."""
    entries = Entries()
    bad_position: int | None = None
    repeating: dict[str, tuple[int, object]] = {}  # key -> (first position, last value)
    position = -1
    for event, key in events:
        if event == "end_map":
            break
        event, value = next(events)
        position += 1
        good = type(value) is int
        if not good and event in OPENS:
            skip_value(events, 3)
        if hash(key) in repeated_hashes:
            first = repeating.get(key)
            first_position = position if first is None else first[0]
            repeating[key] = (first_position, value if good else _BAD_VALUE)
        elif not good and bad_position is None:
            bad_position, entries.bad_key = position, key
    for key, (first_position, last) in repeating.items():
        if last is _BAD_VALUE and (bad_position is None or first_position < bad_position):
            bad_position, entries.bad_key = first_position, key
    return entries


def _repeated(hashes: array[int]) -> frozenset[int]:
    """Hashes that occur more than once (sorting 1.25 M of them takes ~20 ms)."""
    if len(hashes) < 2:
        return frozenset()
    ordered = np.sort(np.frombuffer(hashes, dtype=np.int64))
    same = ordered[1:] == ordered[:-1]
    return frozenset(int(h) for h in ordered[1:][same])
