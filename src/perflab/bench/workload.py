"""A cell's load as loadgen objects: its requests (scenario syntax), load model(s) and streams.

Request tables are parsed by `perflab.loadgen.scenario` (the same syntax and ``expect`` checks
as `perflab load --scenario`); a ``body = { generator = "NAME" }`` is swapped for a generated
body from `perflab.bench.bodies`, and ``{var}`` in a path is replaced from the cell's ``vars``.

Usage::

    streams = cell_streams(plan, "http://127.0.0.1:8123")
    recording = run_streams(streams)
"""

from __future__ import annotations

import dataclasses
import os
import re
from pathlib import Path
from typing import Any

from perflab.bench.bodies import body_generator
from perflab.bench.study import CellPlan
from perflab.loadgen import Closed, LoadModel, Open, RequestSpec, Stream, Users
from perflab.loadgen.errors import LoadgenError
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


def substitute(path: str, variables: dict[str, Any], where: str) -> str:
    """``{name}`` replaced from `variables`. Usage: ``substitute("{p}/x", {"p": "/a"}, "")``"""

    def value(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in variables:
            raise StudyError(f"{where}: path uses {{{name}}} but [vars] has no {name!r}")
        return str(variables[name])

    return _VAR.sub(value, path)


def cell_requests(
    plan: CellPlan, base_url: str, *, materialise: bool = True
) -> dict[str, RequestSpec]:
    """The cell's requests by name, bodies built unless `materialise` is false (checking only).

    Usage: ``cell_requests(plan, "http://127.0.0.1:8000")["blur"]``
    """
    variables = dict(plan.settings.get("vars", {}))
    tables: list[dict[str, Any]] = []
    generators: dict[int, str] = {}
    for index, raw in enumerate(plan.settings["request"]):
        table = dict(raw)
        where = f"cell {plan.name}: request {table.get('name', index + 1)}"
        for key in ("path", "url"):
            if key in table:
                table[key] = substitute(str(table[key]), variables, where)
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
    document = {"base_url": base_url, "request": tables}
    try:
        specs = parse_scenario(document, Path(os.getcwd())).requests
    except LoadgenError as exc:
        raise StudyError(f"cell {plan.name}: {exc}") from None
    if materialise:
        for index, name in generators.items():
            generated = body_generator(name)
            spec = specs[index]
            expect = dataclasses.replace(
                spec.expect, json_fields={**generated.expect_json(), **spec.expect.json_fields}
            )
            specs[index] = dataclasses.replace(spec, body=generated.body(), expect=expect)
    return {spec.label: spec for spec in specs}


def cell_streams(plan: CellPlan, base_url: str, *, materialise: bool = True) -> list[Stream]:
    """The cell's streams: one for [load], one per [[stream]]. Usage: see module."""
    requests = cell_requests(plan, base_url, materialise=materialise)
    settings = plan.settings
    timeout_s = float(settings.get("timeout_s", 30.0))
    keepalive = bool(settings.get("keepalive", True))
    if "load" in settings:
        load = settings["load"]
        model = load_model(load)
        processes = int(load.get("processes", 1))
        return [Stream(list(requests.values()), model, processes, keepalive, timeout_s)]
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
        specs = [requests[n] for n in names]
        streams.append(Stream(specs, model, processes, keepalive, stream_timeout_s))
    return streams


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
