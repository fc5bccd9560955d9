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

Flows (`perflab.loadgen.flow`): ``[[on_start]]`` tables are requests (same keys, no
``weight``) each user runs once, first; ``capture`` takes values from an answer for later
requests' ``{name}``; ``[[flow]]`` tables name the requests a user runs in order::

    [[on_start]]
    name = "login"
    method = "POST"
    path = "/login"
    json = { user = "ada", password = "secret" }
    capture = { token = "json:token" }

    [[request]]
    name = "create"
    method = "POST"
    path = "/items"
    headers = { Authorization = "Bearer {token}" }
    json = { title = "x" }
    capture = { item = "json:id" }

    [[request]]
    name = "read"
    path = "/items/{item}"
    headers = { Authorization = "Bearer {token}" }

    [[flow]]
    name = "buy"
    weight = 3
    steps = ["create", "read"]

A bench study gives the same tables under ``[base]``; it hands them to `parse_scenario`.

Usage: ``scenario = load_scenario(Path("study.toml")); scenario.requests``
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from perflab.loadgen.errors import LoadgenError, ScenarioError
from perflab.loadgen.expectation import Expectation
from perflab.loadgen.flow import Flow, ScenarioRequests, resolve_flows, uses_flows
from perflab.loadgen.models import LoadModel
from perflab.loadgen.request_spec import Body, RequestSpec, file_body, form_body, json_body
from perflab.loadgen.runner import Stream

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
    "capture",
    "record_captures",
}
_EXPECT_KEYS = {"status", "sha256", "json", "same_length"}
_FLOW_KEYS = {"name", "weight", "steps"}


@dataclass(frozen=True)
class Scenario:
    """A parsed scenario file. Usage: ``load_scenario(path).requests``

    With flows, `requests` is a `ScenarioRequests` list that carries `on_start` and `flows`
    too, so ``run(scenario.requests, model)`` runs them; `stream` builds a `Stream` with all.
    """

    requests: list[RequestSpec]
    timeout_s: float | None = None
    keepalive: bool | None = None
    load: dict[str, Any] = field(default_factory=dict)  # the [load] table, as written
    on_start: list[RequestSpec] = field(default_factory=list)
    flows: list[Flow] = field(default_factory=list)

    def stream(
        self,
        model: LoadModel,
        *,
        processes: int = 1,
        keepalive: bool = True,
        timeout_s: float = 30.0,
    ) -> Stream:
        """The scenario's requests and flows under `model`; its own ``timeout_s`` and
        ``keepalive = false`` win over the arguments.

        Usage: ``run_streams([scenario.stream(Users(10, 10, 60))])``
        """
        return Stream(
            self.requests,
            model,
            processes,
            keepalive and self.keepalive is not False,
            self.timeout_s if self.timeout_s is not None else timeout_s,
            self.on_start,
            self.flows,
        )


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
    table: dict[str, Any],
    index: int,
    scenario: dict[str, Any],
    base_dir: Path,
    kind: str = "request",
) -> RequestSpec:
    where = f"{kind} #{index + 1} ({table.get('name', table.get('path', '?'))})"
    allowed = _REQUEST_KEYS - {"weight"} if kind == "on_start" else _REQUEST_KEYS
    unknown = set(table) - allowed
    if unknown:
        raise ScenarioError(f"{where}: unknown keys {sorted(unknown)}")
    capture = table.get("capture", {})
    if not isinstance(capture, dict):
        raise ScenarioError(f'{where}: capture is a table, name = "json:PATH" or "header:NAME"')
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
        capture={str(k): str(v) for k, v in capture.items()},
        record_captures=bool(table.get("record_captures", False)),
    )


def _flow(table: Any, index: int, weighted: set[str]) -> Flow:
    if not isinstance(table, dict) or "name" not in table or "steps" not in table:
        raise ScenarioError(f"flow #{index + 1}: a [[flow]] needs `name` and `steps`")
    where = f"flow #{index + 1} ({table['name']})"
    unknown = set(table) - _FLOW_KEYS
    if unknown:
        raise ScenarioError(f"{where}: unknown keys {sorted(unknown)}")
    steps = table["steps"]
    if not isinstance(steps, list) or not all(isinstance(step, str) for step in steps):
        raise ScenarioError(f"{where}: steps is a list of request names")
    given_weight = sorted(weighted & set(steps))
    if given_weight:
        raise ScenarioError(
            f"{where}: {given_weight} run in a flow, which has the weight; drop their `weight`"
        )
    return Flow(str(table["name"]), tuple(steps), int(table.get("weight", 1)))


def _tables(document: dict[str, Any], key: str) -> list[dict[str, Any]]:
    tables = document.get(key, [])
    if not isinstance(tables, list) or not all(isinstance(t, dict) for t in tables):
        raise ScenarioError(f"`{key}` is a list of tables: write [[{key}]]")
    return tables


def parse_scenario(document: dict[str, Any], base_dir: Path) -> Scenario:
    """A `Scenario` from parsed TOML (top-level keys; a study's ``[base]`` table as well): its
    ``request``, ``on_start`` and ``flow`` lists of tables, ``base_url``, ``headers``, ...

    Usage: ``parse_scenario(tomllib.loads(text), Path("."))``
    """
    tables = _tables(document, "request")
    if not tables:
        raise ScenarioError("a scenario needs at least one [[request]] table")
    try:
        requests = [_request(t, i, document, base_dir) for i, t in enumerate(tables)]
        on_start = [
            _request(t, i, document, base_dir, "on_start")
            for i, t in enumerate(_tables(document, "on_start"))
        ]
        weighted = {spec.label for spec, table in zip(requests, tables, strict=True)
                    if "weight" in table}  # fmt: skip
        flows = [_flow(t, i, weighted) for i, t in enumerate(_tables(document, "flow"))]
        labels = [r.label for r in [*on_start, *requests]]
        duplicates = sorted({label for label in labels if labels.count(label) > 1})
        if duplicates:
            raise ScenarioError(f"request names must differ; repeated: {duplicates} (set `name`)")
        if uses_flows(requests, on_start, flows):
            resolve_flows(requests, on_start, flows)  # fails early, naming what is wrong
            requests = ScenarioRequests(requests, on_start, flows)
    except ScenarioError:
        raise
    except LoadgenError as exc:
        raise ScenarioError(str(exc)) from exc
    return Scenario(
        requests=requests,
        timeout_s=float(document["timeout_s"]) if "timeout_s" in document else None,
        keepalive=bool(document["keepalive"]) if "keepalive" in document else None,
        load=dict(document.get("load", {})),
        on_start=on_start,
        flows=flows,
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
