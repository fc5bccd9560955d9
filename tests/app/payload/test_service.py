"""The streamed validator agrees with the pydantic model on every body, good or bad."""

from __future__ import annotations

import json
from typing import Any

import pytest
from pydantic import ValidationError

from perflab.app.errors import BadRequest, Unprocessable
from perflab.app.payload.schemas import PingBody
from perflab.app.payload.service import summarize_bytes

VALID: list[Any] = [
    {"name": "small", "data": {"a": 1, "b": 7, "c": -3}},
    {"name": "empty", "data": {}},
    {"name": "extra fields are ignored", "data": {"k": 2}, "more": [1, {"x": [2]}], "n": None},
    {"data": {"order": 1}, "name": "keys in any order"},
    {"name": "ünïcode ✓", "data": {"ключ": 10**12, '"quoted"': 0}},
]

INVALID: list[tuple[Any, list[Any]]] = [
    ({"name": "s", "data": {"a": 1, "b": "5"}}, ["body", "data", "b"]),
    ({"name": "f", "data": {"a": 1.5}}, ["body", "data", "a"]),
    ({"name": "z", "data": {"a": 2.0}}, ["body", "data", "a"]),
    ({"name": "t", "data": {"a": True}}, ["body", "data", "a"]),
    ({"name": "n", "data": {"a": None}}, ["body", "data", "a"]),
    ({"name": "o", "data": {"a": {"nested": 1}}}, ["body", "data", "a"]),
    ({"name": 5, "data": {}}, ["body", "name"]),
    ({"name": "l", "data": [1, 2]}, ["body", "data"]),
    ({"data": {}}, ["body", "name"]),
    ({"name": "no data"}, ["body", "data"]),
    ([1, 2, 3], ["body"]),
]


def pydantic_summary(document: Any) -> dict[str, Any]:
    body = PingBody.model_validate(document)
    return {
        "name": body.name,
        "count": len(body.data),
        "maxval": max(body.data.values(), default=None),
    }


@pytest.mark.parametrize("document", VALID)
def test_valid_bodies_summarise_like_pydantic(document: Any) -> None:
    assert summarize_bytes(json.dumps(document).encode()) == pydantic_summary(document)


@pytest.mark.parametrize(("document", "loc"), INVALID)
def test_invalid_bodies_fail_where_pydantic_fails(document: Any, loc: list[Any]) -> None:
    with pytest.raises(ValidationError) as reference:
        PingBody.model_validate(document)
    with pytest.raises(Unprocessable) as ours:
        summarize_bytes(json.dumps(document).encode())
    assert ours.value.details is not None
    assert ours.value.details[0]["loc"] == loc
    assert ["body", *reference.value.errors()[0]["loc"]][: len(loc)] == loc


@pytest.mark.parametrize("body", [b"", b"   ", b'{"name": "x", "data": {"a": 1', b"{nope}", b"[1,"])
def test_malformed_or_empty_bodies_are_bad_requests(body: bytes) -> None:
    with pytest.raises(BadRequest):
        summarize_bytes(body)


def test_large_body_counts_every_entry() -> None:
    data = {f"key_{i:07d}": (i * 7919) % 1_000_003 for i in range(200_000)}
    body = json.dumps({"name": "large", "data": data}).encode()
    expected = {"name": "large", "count": 200_000, "maxval": max(data.values())}
    assert summarize_bytes(body) == expected


def test_bad_entries_replaced_later_are_accepted_as_the_dict_would() -> None:
    # Every bad value is repeated later with an integer: the dict keeps only good ones.
    bad = ",".join(f'"k{i}":"bad"' for i in range(0, 30_000, 3))
    good = ",".join(f'"k{i}":{i}' for i in range(30_000))
    body = f'{{"name":"r","data":{{{bad},{good}}}}}'.encode()
    # Counted as sent: the 10 000 replaced entries count too (see payload/entries.py).
    assert summarize_bytes(body) == {"name": "r", "count": 40_000, "maxval": 29_999}
    with pytest.raises(Unprocessable) as refused:
        summarize_bytes(body[:-2] + b',"k3":"bad again"}}')
    assert refused.value.details is not None
    assert refused.value.details[0]["loc"] == ["body", "data", "k3"]
