"""The parity table: bodies `/ping` and `/pong` must answer with the same status and error code.

Each row states what `/ping` does (FastAPI 0.165: `json.loads` on the bytes, then the pydantic
model), checked in-process by `reference` and through real servers by test_parity.py.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from perflab.app.payload.schemas import PingBody

OK = b'{"name":"x","data":{"a":1}}'


def nested(depth: int, opener: bytes = b"[", closer: bytes = b"]", inner: bytes = b"") -> bytes:
    return opener * depth + inner + closer * depth


@dataclass(frozen=True)
class Row:
    id: str
    body: bytes
    status: int
    loc: tuple[Any, ...] = ()  # 422: where pydantic reports the first error
    answer: dict[str, Any] | None = None  # 200: what /ping answers (and /pong, unless below)
    pong_answer: dict[str, Any] | None = None  # 200: /pong's, where it counts differently


def answer(name: str = "x", count: int = 1, maxval: int | None = 1) -> dict[str, Any]:
    return {"name": name, "count": count, "maxval": maxval}


ROWS = [
    # Around the document: json.loads reads one value, then whitespace (space, tab, CR, LF).
    Row("trailing garbage", OK + b" xyz", 400),
    Row("trailing second document", OK + b' {"b": 2}', 400),
    Row("trailing unterminated string", OK + b' "}', 400),
    Row("trailing whitespace", OK + b" \n\t\r ", 200, answer=answer()),
    Row("leading whitespace", b"\r\n\t " + OK, 200, answer=answer()),
    Row("trailing vertical tab", OK + b"\x0b", 400),
    Row("form feed between tokens", b'{"name":"x",\x0c"data":{}}', 400),
    Row("trailing NUL", OK + b"\x00", 400),
    Row("empty body", b"", 400),
    Row("whitespace only", b"  \n", 400),
    # Encodings: json.loads detects UTF-8/16/32 from the first bytes and drops a BOM.
    Row("UTF-8 BOM", b"\xef\xbb\xbf" + OK, 200, answer=answer()),
    Row("UTF-16 with BOM", OK.decode().encode("utf-16"), 200, answer=answer()),
    Row("UTF-32-LE, no BOM", OK.decode().encode("utf-32-le"), 200, answer=answer()),
    Row("invalid UTF-8", b'{"name":"x\xff","data":{}}', 400),
    Row("surrogate in UTF-8 bytes", b'{"name":"\xed\xa0\x80","data":{}}', 200,
        answer=answer("\ud800", 0, None)),
    Row("escaped lone surrogate name", b'{"name":"\\ud800","data":{}}', 200,
        answer=answer("\ud800", 0, None)),
    Row("escaped surrogate pair name", b'{"name":"\\ud83d\\ude00","data":{}}', 200,
        answer=answer("\U0001f600", 0, None)),
    Row("lone surrogate key, bad value", b'{"name":"x","data":{"\\udc00":"v"}}', 422,
        ("body", "data", "\ufffd\ufffd\ufffd")),
    Row("control character in a string", b'{"name":"a\tb","data":{}}', 400),
    # Not JSON, but Python's json reads them as floats: fine where ignored, not as integers.
    Row("NaN as an ignored field", b'{"name":"x","data":{},"z":NaN}', 200,
        answer=answer(count=0, maxval=None)),
    Row("NaN as a value", b'{"name":"x","data":{"a":NaN}}', 422, ("body", "data", "a")),
    Row("-Infinity as a value", b'{"name":"x","data":{"a":-Infinity}}', 422,
        ("body", "data", "a")),
    Row("Infinity as the name", b'{"name":Infinity,"data":{}}', 422, ("body", "name")),
    # Numbers: integers are Python ints up to its 4300-digit limit; floats are never integers.
    Row("integer beyond 64 bits", b'{"name":"x","data":{"a":%d}}' % 2**64, 200,
        answer=answer(maxval=2**64)),
    Row("4300-digit integer", b'{"name":"x","data":{"a":%s}}' % (b"9" * 4300), 200,
        answer=answer(maxval=10**4300 - 1)),
    Row("10**5000 as a value", b'{"name":"x","data":{"a":1%s}}' % (b"0" * 5000), 400),
    Row("10**5000 as an ignored field", b'{"name":"x","data":{},"z":1%s}' % (b"0" * 5000), 400),
    Row("1.0 as a value", b'{"name":"x","data":{"a":1.0}}', 422, ("body", "data", "a")),
    Row("1e2 as a value", b'{"name":"x","data":{"a":1e2}}', 422, ("body", "data", "a")),
    Row("1e400 as an ignored field", b'{"name":"x","data":{},"z":1e400}', 200,
        answer=answer(count=0, maxval=None)),
    Row("-0 as a value", b'{"name":"x","data":{"a":-0}}', 200, answer=answer(maxval=0)),
    Row("true as a value", b'{"name":"x","data":{"a":true}}', 422, ("body", "data", "a")),
    # Repeated keys: the dict json.loads builds keeps the last value, in the first's place.
    Row("repeated data key", b'{"name":"x","data":{"a":5,"a":1}}', 200,
        answer=answer(count=1, maxval=1), pong_answer=answer(count=2, maxval=5)),
    Row("repeated key, bad then good", b'{"name":"x","data":{"a":"s","b":2,"a":1}}', 200,
        answer=answer(count=2, maxval=2), pong_answer=answer(count=3, maxval=2)),
    Row("repeated key, good then bad", b'{"name":"x","data":{"b":"s","a":1,"b":2,"a":[]}}', 422,
        ("body", "data", "a")),
    Row("repeated name", b'{"name":5,"name":"y","data":{}}', 200,
        answer=answer("y", 0, None)),
    Row("repeated data", b'{"name":"x","data":[],"data":{"a":1}}', 200, answer=answer()),
    # Nesting: json.loads recurses (RecursionError: 400); /pong stops at 900 levels.
    Row("depth 100 as an ignored field", b'{"name":"x","data":{},"z":%s}' % nested(100), 200,
        answer=answer(count=0, maxval=None)),
    Row("depth 100 as a value", b'{"name":"x","data":{"a":%s}}' % nested(100), 422,
        ("body", "data", "a")),
    Row("depth bomb as an ignored field", b'{"name":"x","data":{},"z":%s}' % nested(100_000),
        400),
    Row("depth bomb as a value",
        b'{"name":"x","data":{"a":%s}}' % nested(100_000, b'{"b":', b"}", b"1"), 400),
    # Shape: pydantic reports the name before the data, and the data in key order.
    Row("top-level array", b"[1, 2]", 422, ("body",)),
    Row("top-level string", b'"x"', 422, ("body",)),
    Row("top-level null", b"null", 422, ("body",)),
    Row("name and data both bad", b'{"data":{"a":"s"},"name":5}', 422, ("body", "name")),
    Row("syntax error after a shape error", b'{"name":5,"data":{}', 400),
    Row("single quotes", b"{'name':'x','data':{}}", 400),
    Row("trailing comma", b'{"name":"x","data":{},}', 400),
    # Longer than the small lane: the same rules, read in many slices by the offloaded parse.
    Row("long body, NaN at the end",
        json.dumps({"name": "x", "data": {f"k{i}": i for i in range(20_000)}}).encode()[:-1]
        + b',"z":NaN}', 200, answer=answer(count=20_000, maxval=19_999)),
    Row("long body, trailing garbage",
        json.dumps({"name": "x", "data": {f"k{i}": i for i in range(20_000)}}).encode() + b"x",
        400),
]  # fmt: skip


def reference(body: bytes) -> tuple[int, Any]:
    """What `/ping` does with `body`, in-process: (status, answer or 422 location)."""
    if not body:
        return 400, None
    try:
        document = json.loads(body)
    except (ValueError, RecursionError):
        return 400, None
    try:
        model = PingBody.model_validate(document)
    except ValidationError as error:
        return 422, ("body", *error.errors()[0]["loc"])
    return 200, answer(model.name, len(model.data), max(model.data.values(), default=None))
