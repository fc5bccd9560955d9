"""Turning command-line strings into requests, durations and think times.

Usage::

    parse_duration_s("1m30s")   # -> 90.0
    parse_think_s("1-5")        # -> (1.0, 5.0)
    specs_from_options("http://127.0.0.1:8000/", method="POST", json_body='{"a": 1}', ...)
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import orjson

from perflab.loadgen.errors import LoadgenError, RequestSpecError
from perflab.loadgen.expectation import Expectation
from perflab.loadgen.request_spec import Body, RequestSpec, file_body, form_body

_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|h|m|s)?")
_UNIT_S = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001, None: 1.0}


def parse_duration_s(text: str) -> float:
    """Seconds from ``30``, ``30s``, ``2m``, ``1h``, ``1m30s``. Usage: ``parse_duration_s("2m")``"""
    position, total = 0, 0.0
    text = text.strip()
    while position < len(text):
        match = _DURATION_PART.match(text, position)
        if match is None:
            raise LoadgenError(f"not a duration: {text!r} (try 30, 30s, 2m, 1h)")
        total += float(match.group(1)) * _UNIT_S[match.group(2)]
        position = match.end()
    if total <= 0:
        raise LoadgenError(f"duration must be positive: {text!r}")
    return total


def parse_think_s(text: str) -> tuple[float, float]:
    """Think time range from ``2`` or ``1-5`` (seconds). Usage: ``parse_think_s("1-5")``"""
    low, _, high = text.partition("-")
    try:
        return float(low), float(high or low)
    except ValueError as exc:
        raise LoadgenError(f"not a think time: {text!r} (try 2 or 1-5)") from exc


def _json_value(text: str) -> Any:
    """A JSON literal if it parses (``true``, ``3``, ``"x"``), else the text itself."""
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return text


def specs_from_options(
    url: str,
    *,
    method: str | None,
    headers: Sequence[str],
    json_body: str | None,
    body_file: Path | None,
    content_type: str | None,
    form: Sequence[str],
    expect_status: Sequence[int],
    expect_sha256: str | None,
    expect_json: Sequence[str],
    same_length: bool,
) -> list[RequestSpec]:
    """The single request the command line describes. Usage: see `perflab.loadgen.command`."""
    header_map: dict[str, str] = {}
    for line in headers:
        name, sep, value = line.partition(":")
        if not sep or not name.strip():
            raise RequestSpecError(f"a header is 'Name: value', got {line!r}")
        header_map[name.strip()] = value.strip()
    given = [g for g, v in (("json", json_body), ("body-file", body_file), ("form", form)) if v]
    if len(given) > 1:
        raise RequestSpecError(f"give one body, not {given}")
    body = Body()
    if json_body is not None:
        text = Path(json_body[1:]).read_text() if json_body.startswith("@") else json_body
        try:
            body = Body(orjson.dumps(orjson.loads(text)), "application/json")
        except orjson.JSONDecodeError as exc:
            raise RequestSpecError(f"--json-body is not JSON: {exc}") from exc
    elif body_file is not None:
        body = file_body(body_file, content_type)
    elif form:
        fields = {}
        for item in form:
            name, sep, value = item.partition("=")
            if not sep:
                raise RequestSpecError(f"a form field is name=value or name=@file, got {item!r}")
            fields[name] = value
        body = form_body(fields)
    if content_type:
        body = Body(body.data, content_type, body.factory)
    fields_expected: dict[str, Any] = {}
    for item in expect_json:
        path, sep, value = item.partition("=")
        if not sep:
            raise RequestSpecError(f"--expect-json is path=value, got {item!r}")
        fields_expected[path] = _json_value(value)
    expect = Expectation(
        status=tuple(expect_status),
        body_sha256=expect_sha256.lower() if expect_sha256 else None,
        json_fields=fields_expected,
        same_length=same_length,
    )
    chosen_method = method or ("POST" if body.data or body.factory else "GET")
    return [RequestSpec(url, chosen_method.upper(), headers=header_map, body=body, expect=expect)]
