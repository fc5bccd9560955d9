"""What a body holds for `/pong`: its events walked into a summary, judged as pydantic would.

`walk` reads a whole document's events (from either source in `json_events`) and keeps only
what the answer needs: the last `name`, and of the last `data` object its entries
(`perflab.app.payload.entries`). A repeated field replaces the earlier one, as in the dict
json.loads builds. `Document.answer` then raises the error pydantic would report first for
`PingBody` (name before data, data in key order) or returns the answer.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from perflab.app.errors import BadRequest, Unprocessable
from perflab.app.payload.entries import COUNT, OPENS, Entries, Pass, read_entries
from perflab.app.payload.json_events import Event

# Deeper nesting is refused (400): see perflab.app.payload.service for why this number.
MAX_DEPTH = 900

_CLOSES = frozenset({"end_map", "end_array"})
_WRONG_TYPE = object()  # a field present with a value of the wrong JSON type


@dataclass
class Document:
    is_object: bool = True
    name: object = None  # the string, _WRONG_TYPE, or None when absent
    data: Entries | object | None = None  # Entries, _WRONG_TYPE, or None when absent

    @property
    def entries(self) -> Entries | None:
        return self.data if isinstance(self.data, Entries) else None

    def answer(self) -> dict[str, Any]:
        """The answer, or the first error pydantic reports for this document."""
        if not self.is_object:
            raise _invalid(
                ["body"],
                "Input should be a valid dictionary or object to extract fields from",
                "model_attributes_type",
            )
        if self.name is None:
            raise _invalid(["body", "name"], "Field required", "missing")
        if self.name is _WRONG_TYPE:
            raise _invalid(["body", "name"], "Input should be a valid string", "string_type")
        if self.data is None:
            raise _invalid(["body", "data"], "Field required", "missing")
        entries = self.entries
        if entries is None:
            raise _invalid(["body", "data"], "Input should be a valid dictionary", "dict_type")
        if entries.bad_key is not None:
            loc: list[str | int] = ["body", "data", _as_pydantic_shows(entries.bad_key)]
            raise _invalid(loc, "Input should be a valid integer", "int_type")
        return {"name": self.name, "count": entries.count, "maxval": entries.maxval}


def _invalid(loc: list[str | int], msg: str, kind: str) -> Unprocessable:
    where = ".".join(str(part) for part in loc)
    return Unprocessable(f"{where}: {msg}", details=[{"loc": loc, "msg": msg, "type": kind}])


def _as_pydantic_shows(key: str) -> str:
    """pydantic reports keys as Rust strings: a lone surrogate becomes U+FFFD per byte (and so
    the error can be written as UTF-8)."""
    return key.encode("utf-8", "surrogatepass").decode("utf-8", "replace")


def too_deep() -> BadRequest:
    return BadRequest(f"the body nests deeper than {MAX_DEPTH} levels")


def skip_value(events: Iterator[Event], depth: int) -> None:
    """Consume a container just opened at `depth` (1: the top level), up to its end."""
    if depth > MAX_DEPTH:
        raise too_deep()
    level = depth
    for event, _ in events:
        if event in OPENS:
            level += 1
            if level > MAX_DEPTH:
                raise too_deep()
        elif event in _CLOSES:
            if level == depth:
                return
            level -= 1


def walk(events: Iterator[Event], how: Pass = COUNT) -> Document:
    """One pass over a whole document's events, reading `data` as `how` says."""
    document = Document()
    event, _ = next(events)
    if event != "start_map":
        document.is_object = False
        if event in OPENS:
            skip_value(events, 1)
    else:
        for event, key in events:
            if event == "end_map":
                break
            event, value = next(events)
            if key == "data" and event == "start_map":
                document.data = read_entries(events, how, skip_value)
                continue
            if key == "data":
                document.data = _WRONG_TYPE
            elif key == "name":
                document.name = value if event == "string" else _WRONG_TYPE
            if event in OPENS:
                skip_value(events, 2)
    # Nothing may follow but whitespace: both sources raise on anything else when read on.
    for _ in events:
        pass
    return document
