"""A cell's load as loadgen objects: its requests (scenario syntax), user flows, load model(s)
and streams.

Request tables are parsed by `perflab.loadgen.scenario` (the same syntax and ``expect`` checks
as `perflab load --scenario`), ``[[on_start]]`` and ``[[flow]]`` tables included (a login once
per user, then steps that pass captured values on); a ``body = { generator = "NAME" }`` is
swapped for a generated body from `perflab.bench.bodies`.

``{name}`` is replaced from the cell's ``vars`` in paths, URLs, headers and bodies, and only
names that are vars: a name a request captures (``capture = { token = "json:token" }``) stays
``{token}`` for the loadgen to fill at send time. In a path, URL or header a name that is
neither is refused when the study loads; in a body it is left as written (a body may hold
braces of its own).

Usage::

    streams = cell_streams(plan, "http://127.0.0.1:8123")
    recording = run_streams(streams)
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field
from typing import Any

from perflab.bench.bodies import body_generator
from perflab.bench.study import CellPlan
from perflab.loadgen import Closed, Flow, LoadModel, Open, RequestSpec, Stream, Users
from perflab.loadgen.errors import LoadgenError
from perflab.loadgen.flow import ScenarioRequests
from perflab.loadgen.scenario import parse_scenario
from perflab.results.errors import StudyError

_VAR = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")


def load_model(load: dict[str, Any]) -> LoadModel:
    """A loadgen model from a (checked) load table. Usage: ``load_model({"model": "open", ...})``"""
    kind = load["model"]
    try:
        if kind == "closed":
            return Closed(int(load["requests"]), int(load.get("connections", 1)))
        if kind == "users":
            think = load.get("think_s", [0.0, 0.0])
            think_s = (float(think[0]), float(think[1])) if isinstance(think, list) else (0.0, 0.0)
            return Users(
                int(load["users"]),
                float(load.get("spawn_rate_per_s", load["users"])),
                float(load["duration_s"]),
                think_s,
            )
        return Open(
            float(load["rate_per_s"]),
            float(load["duration_s"]),
            int(load.get("connections", 64)),
            float(load.get("late_after_ms", 10.0)),
        )
    except KeyError as exc:
        raise StudyError(f"a {kind} load needs `{exc.args[0]}`") from None
    except LoadgenError as exc:
        raise StudyError(str(exc)) from None


def substitute(
    text: str,
    variables: dict[str, Any],
    where: str,
    *,
    captured: frozenset[str] = frozenset(),
    strict: bool = True,
) -> str:
    """``{name}`` replaced from `variables`; captured names stay for the loadgen; any other
    name is a StudyError when `strict`, else left as written.

    Usage: ``substitute("{p}/x/{token}", {"p": "/a"}, "", captured=frozenset({"token"}))``
    """

    def value(match: re.Match[str]) -> str:
        name = match.group(1)
        if name in variables:
            return str(variables[name])
        if name in captured or not strict:
            return match.group(0)
        known = f"; captured: {sorted(captured)}" if captured else ""
        raise StudyError(f"{where}: uses {{{name}}} but [vars] has no {name!r}{known}")

    return _VAR.sub(value, text)


def _substitute_json(value: Any, variables: dict[str, Any], captured: frozenset[str]) -> Any:
    if isinstance(value, str):
        return substitute(value, variables, "", captured=captured, strict=False)
    if isinstance(value, list):
        return [_substitute_json(item, variables, captured) for item in value]
    if isinstance(value, dict):
        return {k: _substitute_json(v, variables, captured) for k, v in value.items()}
    return value


def _captured_names(tables: list[dict[str, Any]]) -> frozenset[str]:
    return frozenset(
        str(name)
        for table in tables
        if isinstance(table.get("capture"), dict)
        for name in table["capture"]
    )


def _filled(
    raw: dict[str, Any], variables: dict[str, Any], captured: frozenset[str], where: str
) -> dict[str, Any]:
    """A request table with the cell's vars filled in (see module)."""
    table = dict(raw)
    for key in ("path", "url"):
        if key in table:
            table[key] = substitute(str(table[key]), variables, where, captured=captured)
    if isinstance(table.get("headers"), dict):
        table["headers"] = {
            name: substitute(str(value), variables, f"{where}: header {name}", captured=captured)
            for name, value in table["headers"].items()
        }
    for key in ("json", "form"):
        if key in table:
            table[key] = _substitute_json(table[key], variables, captured)
    if isinstance(table.get("body"), str):
        table["body"] = _substitute_json(table["body"], variables, captured)
    return table


@dataclass(frozen=True)
class CellScenario:
    """A cell's requests by name, its on_start steps and its flows (empty without flows).

    Usage: ``scenario = cell_scenario(plan, url); scenario.requests["login"]``
    """

    requests: dict[str, RequestSpec]
    on_start: list[RequestSpec] = field(default_factory=list)
    flows: list[Flow] = field(default_factory=list)


def cell_scenario(plan: CellPlan, base_url: str, *, materialise: bool = True) -> CellScenario:
    """The cell's requests, on_start steps and flows, bodies built unless `materialise` is
    false (checking only). Usage: ``cell_scenario(plan, "http://127.0.0.1:8000").flows``
    """
    variables = dict(plan.settings.get("vars", {}))
    raw_requests = list(plan.settings["request"])
    raw_on_start = list(plan.settings.get("on_start", []))
    captured = _captured_names([*raw_requests, *raw_on_start])
    tables: list[dict[str, Any]] = []
    generators: dict[int, str] = {}
    for index, raw in enumerate(raw_requests):
        where = f"cell {plan.name}: request {raw.get('name', index + 1)}"
        table = _filled(raw, variables, captured, where)
        body = table.get("body")
        if isinstance(body, dict):
            if set(body) != {"generator"}:
                raise StudyError(f"{where}: body table takes only `generator`")
            try:
                body_generator(str(body["generator"]))
            except KeyError as exc:
                raise StudyError(f"{where}: {exc.args[0]}") from None
            generators[index] = str(body["generator"])
            del table["body"]
        tables.append(table)
    on_start = []
    for index, raw in enumerate(raw_on_start):
        where = f"cell {plan.name}: on_start {raw.get('name', index + 1)}"
        if isinstance(raw.get("body"), dict):
            raise StudyError(f"{where}: body generators are for [[request]] tables only")
        on_start.append(_filled(raw, variables, captured, where))
    document = {"base_url": base_url, "request": tables, "on_start": on_start}
    document["flow"] = list(plan.settings.get("flow", []))
    try:
        scenario = parse_scenario(document, plan.base_dir)
    except LoadgenError as exc:
        raise StudyError(f"cell {plan.name}: {exc}") from None
    specs = list(scenario.requests)
    if materialise:
        for index, name in generators.items():
            generated = body_generator(name)
            spec = specs[index]
            expect = dataclasses.replace(
                spec.expect, json_fields={**generated.expect_json(), **spec.expect.json_fields}
            )
            specs[index] = dataclasses.replace(spec, body=generated.body(), expect=expect)
    requests = {spec.label: spec for spec in specs}
    return CellScenario(requests, list(scenario.on_start), list(scenario.flows))


def cell_requests(
    plan: CellPlan, base_url: str, *, materialise: bool = True
) -> dict[str, RequestSpec]:
    """The cell's requests by name, bodies built unless `materialise` is false (checking only).

    Usage: ``cell_requests(plan, "http://127.0.0.1:8000")["blur"]``
    """
    return cell_scenario(plan, base_url, materialise=materialise).requests


def cell_streams(plan: CellPlan, base_url: str, *, materialise: bool = True) -> list[Stream]:
    """The cell's streams: one for [load], one per [[stream]]. A stream runs the on_start
    steps and the flows whose steps are all among its requests. Usage: see module."""
    scenario = cell_scenario(plan, base_url, materialise=materialise)
    requests = scenario.requests
    settings = plan.settings
    timeout_s = float(settings.get("timeout_s", 30.0))
    keepalive = bool(settings.get("keepalive", True))
    on_start = scenario.on_start
    if "load" in settings:
        load = settings["load"]
        model = load_model(load)
        processes = int(load.get("processes", 1))
        specs = _carrying(list(requests.values()), on_start, scenario.flows)
        return [Stream(specs, model, processes, keepalive, timeout_s, on_start, scenario.flows)]
    streams = []
    for table in settings["stream"]:
        names = list(table.get("requests", []))
        missing = [n for n in names if n not in requests]
        if missing or not names:
            known = ", ".join(requests)
            raise StudyError(
                f"cell {plan.name}: stream {table['name']} requests {names}; known: {known}"
            )
        model = load_model(table)
        stream_timeout_s = float(table.get("timeout_s", timeout_s))
        processes = int(table.get("processes", 1))
        flows = [flow for flow in scenario.flows if set(flow.steps) <= set(names)]
        specs = _carrying([requests[n] for n in names], on_start, flows)
        stream = Stream(specs, model, processes, keepalive, stream_timeout_s, on_start, flows)
        streams.append(stream)
    return streams


def _carrying(
    specs: list[RequestSpec], on_start: list[RequestSpec], flows: list[Flow]
) -> list[RequestSpec]:
    """The specs as a list that carries the on_start steps and flows too, so code that runs a
    stream's requests alone (the warm-up's ``run(stream.requests, ...)``) runs the flows."""
    if not (on_start or flows or any(spec.capture for spec in specs)):
        return specs
    return ScenarioRequests(specs, on_start, flows)


def warmup_streams(streams: list[Stream], max_connections: int = 4) -> list[Stream]:
    """One round of the same requests at low concurrency: wakes pools, caches and models.

    Run repeatedly for a study's ``warmup_s``; never recorded. Usage: ``warmup_streams(streams)``
    """
    warm = []
    for stream in streams:
        connections = max(1, min(max_connections, _connections(stream.model)))
        model = Closed(requests=max(connections, len(stream.requests)), connections=connections)
        warm.append(dataclasses.replace(stream, model=model, processes=1))
    return warm


def _connections(model: LoadModel) -> int:
    if isinstance(model, Users):
        return model.users
    return model.connections


def main_request(streams: list[Stream], name: str | None) -> RequestSpec:
    """The request the knee drives: `name`, else the first one. Usage: ``main_request(s, None)``"""
    specs = [spec for stream in streams for spec in stream.requests]
    for spec in specs:
        if name is None or spec.label == name:
            return spec
    raise StudyError(f"main_request {name!r} is not one of {[s.label for s in specs]}")
