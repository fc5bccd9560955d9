"""Scenario files (TOML): several named, weighted requests, each with what a right answer is.

Example (paths relative to the file)::

    base_url = "http://127.0.0.1:8000"
    timeout_s = 30          # optional, as --timeout
    keepalive = true        # optional, as --no-keepalive

    [headers]               # optional, sent with every request
    X-Client = "perflab"

    [load]                  # optional default model, used when the command line names none
    users = 200
    spawn_rate = 20
    duration = "60s"
    think = "1-5"

    [[request]]
    name = "index"
    path = "/"
    expect = { status = 200 }

    [[request]]
    name = "predict"
    method = "POST"
    path = "/predict"
    weight = 3
    form = { file = "@images/cat.jpg" }
    expect = { status = 200, json = { success = true }, same_length = false }

A request's body is one of ``json`` (a table or array), ``body`` (a string), ``body_file``
or ``form``; ``content_type`` overrides the guessed type. ``expect`` takes ``status`` (an
integer or a list), ``sha256`` (hex digest of the whole body), ``json`` (dotted path ->
value) and ``same_length`` (ab's rule).

Usage: ``scenario = load_scenario(Path("study.toml")); scenario.requests``
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from perflab.loadgen.errors import LoadgenError, ScenarioError
from perflab.loadgen.expectation import Expectation
from perflab.loadgen.request_spec import Body, RequestSpec, file_body, form_body, json_body

_REQUEST_KEYS = {
    "name",
    "method",
    "path",
    "url",
    "weight",
    "headers",
    "json",
    "body",
    "body_file",
    "form",
    "content_type",
    "expect",
}
_EXPECT_KEYS = {"status", "sha256", "json", "same_length"}


@dataclass(frozen=True)
class Scenario:
    """A parsed scenario file. Usage: ``load_scenario(path).requests``"""

    requests: list[RequestSpec]
    timeout_s: float | None = None
    keepalive: bool | None = None
    load: dict[str, Any] = field(default_factory=dict)  # the [load] table, as written


def parse_expectation(table: dict[str, Any], where: str) -> Expectation:
    """`Expectation` from an ``expect`` table. Usage: ``parse_expectation({"status": 200}, "")``"""
    unknown = set(table) - _EXPECT_KEYS
    if unknown:
        raise ScenarioError(f"{where}: unknown expect keys {sorted(unknown)}")
    status = table.get("status", [])
    statuses = (status,) if isinstance(status, int) else tuple(int(s) for s in status)
    return Expectation(
        status=statuses,
        body_sha256=str(table["sha256"]).lower() if "sha256" in table else None,
        json_fields=dict(table.get("json", {})),
        same_length=bool(table.get("same_length", False)),
    )


def _body(table: dict[str, Any], base_dir: Path, where: str) -> Body:
    given = [k for k in ("json", "body", "body_file", "form") if k in table]
    if len(given) > 1:
        raise ScenarioError(f"{where}: give one body, not {given}")
    content_type = table.get("content_type")
    if "json" in table:
        body = json_body(table["json"])
    elif "body" in table:
        body = Body(str(table["body"]).encode(), "text/plain; charset=utf-8")
    elif "body_file" in table:
        body = file_body(base_dir / str(table["body_file"]))
    elif "form" in table:
        body = form_body({str(k): str(v) for k, v in table["form"].items()}, base_dir)
    else:
        body = Body()
    if content_type:
        body = Body(body.data, str(content_type), body.factory)
    return body


def _request(
    table: dict[str, Any], index: int, scenario: dict[str, Any], base_dir: Path
) -> RequestSpec:
    where = f"request #{index + 1} ({table.get('name', table.get('path', '?'))})"
    unknown = set(table) - _REQUEST_KEYS
    if unknown:
        raise ScenarioError(f"{where}: unknown keys {sorted(unknown)}")
    if "url" in table:
        url = str(table["url"])
    elif "path" in table and "base_url" in scenario:
        url = str(scenario["base_url"]).rstrip("/") + "/" + str(table["path"]).lstrip("/")
    else:
        raise ScenarioError(f"{where}: needs `url`, or `path` and a top-level `base_url`")
    headers = {**scenario.get("headers", {}), **table.get("headers", {})}
    return RequestSpec(
        url=url,
        method=str(table.get("method", "GET")).upper(),
        name=str(table["name"]) if "name" in table else None,
        headers={str(k): str(v) for k, v in headers.items()},
        body=_body(table, base_dir, where),
        weight=int(table.get("weight", 1)),
        expect=parse_expectation(dict(table.get("expect", {})), where),
    )


def parse_scenario(document: dict[str, Any], base_dir: Path) -> Scenario:
    """A `Scenario` from parsed TOML. Usage: ``parse_scenario(tomllib.loads(text), Path("."))``"""
    tables = document.get("request", [])
    if not isinstance(tables, list) or not tables:
        raise ScenarioError("a scenario needs at least one [[request]] table")
    try:
        requests = [_request(t, i, document, base_dir) for i, t in enumerate(tables)]
    except ScenarioError:
        raise
    except LoadgenError as exc:
        raise ScenarioError(str(exc)) from exc
    labels = [r.label for r in requests]
    duplicates = sorted({label for label in labels if labels.count(label) > 1})
    if duplicates:
        raise ScenarioError(f"request names must differ; repeated: {duplicates} (set `name`)")
    return Scenario(
        requests=requests,
        timeout_s=float(document["timeout_s"]) if "timeout_s" in document else None,
        keepalive=bool(document["keepalive"]) if "keepalive" in document else None,
        load=dict(document.get("load", {})),
    )


def load_scenario(path: Path) -> Scenario:
    """Read and validate a scenario file. Usage: ``load_scenario(Path("study.toml"))``"""
    try:
        document = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ScenarioError(f"{path}: {exc}") from exc
    try:
        return parse_scenario(document, path.parent)
    except ScenarioError as exc:
        raise ScenarioError(f"{path}: {exc}") from exc
