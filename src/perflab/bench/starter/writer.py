"""Write a starter study as TOML that `perflab bench FILE --profile smoke` runs as it is, with a
comment wherever `perflab init` guessed, and requests it could not fill in written commented
out with the reason.

The server matrix: with an app (``module:app``) the file starts it per cell on each runner
asked for, with 1 and N workers; with only a URL it drives ``base_url`` and carries the
server table commented out, ready to start the app instead.

Usage::

    text = study_text(starter, command="perflab init shop:app")
    Path("study.toml").write_text(text)
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

from perflab.bench.starter.model import Starter, StarterFlow, StarterRequest

_BARE_KEY = re.compile(r"^[A-Za-z0-9_-]+$")


def toml_value(value: Any) -> str:
    """`value` as a TOML value (inline tables, arrays); ValueError for None (TOML has no null).

    Usage: ``toml_value({"name": "x", "tags": [1, 2]})  # '{ name = "x", tags = [1, 2] }'``
    """
    if value is None:
        raise ValueError("TOML has no null")
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        return ("inf" if value > 0 else "-inf") if math.isinf(value) else repr(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)  # JSON's escapes are TOML's
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(item) for item in value) + "]"
    if isinstance(value, dict):
        if not value:
            return "{}"
        pairs = ", ".join(f"{toml_key(str(k))} = {toml_value(v)}" for k, v in value.items())
        return "{ " + pairs + " }"
    raise ValueError(f"no TOML for {type(value).__name__}")


def toml_key(key: str) -> str:
    """A key, quoted unless bare. Usage: ``toml_key("Content-Type")``"""
    return key if _BARE_KEY.match(key) else json.dumps(key, ensure_ascii=False)


def _has_null(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, list):
        return any(_has_null(item) for item in value)
    if isinstance(value, dict):
        return any(_has_null(item) for item in value.values())
    return False


def _request_lines(request: StarterRequest, table: str) -> list[str]:
    lines = [f"# {note}" for note in request.notes]
    body: list[str] = [f"[[{table}]]", f"name = {toml_value(request.name)}"]
    body.append(f"method = {toml_value(request.method)}")
    body.append(f"path = {toml_value(request.path)}")
    if request.headers:
        body.append(f"headers = {toml_value(request.headers)}")
    if request.json is not None and not _has_null(request.json):
        body.append(f"json = {toml_value(request.json)}")
    elif request.json is not None:  # a null inside: TOML cannot hold it, JSON text can
        body.append(f"body = {toml_value(json.dumps(request.json))}")
        body.append('content_type = "application/json"')
    if request.form is not None:
        body.append(f"form = {toml_value(request.form)}")
    if request.body is not None:
        body.append(f"body = {toml_value(request.body)}")
    if request.content_type and request.json is None:
        body.append(f"content_type = {toml_value(request.content_type)}")
    if request.capture:
        body.append(f"capture = {toml_value(request.capture)}")
    if request.expect_status is not None:
        body.append(f"expect = {{ status = {request.expect_status} }}")
    if request.disabled:
        lines.append(f"# not run: {request.disabled} (then remove the # signs)")
        body = [f"# {line}" for line in body]
    return [*lines, *body, ""]


def _flow_lines(flow: StarterFlow) -> list[str]:
    lines = [f"# {note}" for note in flow.notes]
    steps = toml_value(flow.steps)
    return [*lines, "[[base.flow]]", f"name = {toml_value(flow.name)}", f"steps = {steps}", ""]


def _cells(starter: Starter) -> list[tuple[str, str, int]]:
    return [(runner, f"{runner}-{w}w", w) for runner in starter.runners for w in starter.workers]


def _server_lines(starter: Starter) -> list[str]:
    module = (starter.app or "module").split(":")[0]
    lines = [
        "[base.server]",
        f"app = {toml_value(starter.app or 'module:app')}",
        f"runner = {toml_value(starter.runners[0])}",
        "workers = 1",
        *(
            [f"python = {toml_value(starter.python)}  # the app's environment"]
            if starter.python
            else []
        ),
        f"cwd = {toml_value(starter.cwd)}  # where `import {module}` works, relative to this file",
        f"ready = {toml_value(starter.ready)}  # polled until it answers 2xx",
        "",
    ]
    if starter.app is None:
        intro = [
            "# To start your app per cell instead of driving base_url (and vary its server and",
            "# workers), drop base_url and uncomment these lines and the cells below:",
        ]
        return [*intro, *(f"# {line}" if line else "" for line in lines)]
    return lines


def _main_request(starter: Starter) -> str | None:
    in_flows = {step for flow in starter.flows for step in flow.steps}
    for request in starter.requests:
        plain = not (request.disabled or request.capture or request.name in in_flows)
        if plain and "{" not in request.path:
            return request.name
    return None


def study_text(starter: Starter, command: str) -> str:
    """The starter study as TOML text (see module). Usage: see module."""
    lines = [
        f"# A starter study written by `{command}`, from {starter.source}.",
        "# Run it as it is:   perflab bench THIS_FILE --profile smoke",
        "# then measure:      perflab bench THIS_FILE --profile quick   (--repeat 3 for spreads)",
        "# Comments say where perflab guessed; requests it could not fill in are commented out.",
        *(f"# {note}" for note in starter.notes),
        f"title = {toml_value(starter.title)}",
        f"question = {toml_value(f'How should {starter.title} run, and what does it hold?')}",
        "slo_p99_ms = 500.0  # guessed: the p99 your users accept",
    ]
    main = _main_request(starter)
    if main:
        lines.append(f"main_request = {toml_value(main)}  # the request --find-knee drives")
    if starter.base_url:
        lines.append(f"base_url = {toml_value(starter.base_url)}")
    lines += [
        "",
        "[base]",
        "warmup_s = 2.0",
        "timeout_s = 10.0",
        "# Each user runs "
        + ("its login once (on_start), then " if starter.on_start else "")
        + "the flows and requests, with no think time.",
        'load = { model = "users", users = 32, spawn_rate_per_s = 32.0, duration_s = 20.0 }',
    ]
    if starter.vars:
        lines.append(f"vars = {toml_value(starter.vars)}")
    lines += ["", *_server_lines(starter)]
    lines += [line for r in starter.on_start for line in _request_lines(r, "base.on_start")]
    lines += [line for r in starter.requests for line in _request_lines(r, "base.request")]
    lines += [line for flow in starter.flows for line in _flow_lines(flow)]
    cells = _cells(starter)
    comment = "" if starter.app else "# "
    for runner, name, workers in cells:
        plural = "s" if workers > 1 else ""
        lines += [
            f"{comment}[[cell]]",
            f"{comment}name = {toml_value(name)}",
            f"{comment}label = {toml_value(f'{runner}, {workers} worker{plural}')}",
            f"{comment}server = {{ runner = {toml_value(runner)}, workers = {workers} }}",
            "",
        ]
    smoke_cells = f"cells = [{toml_value(cells[0][1])}]\n" if starter.app else ""
    lines += [
        "[profile.quick]",
        "",
        "[profile.smoke]  # seconds: proves the file runs",
        smoke_cells + "warmup_s = 0.5",
        'load = { model = "users", users = 4, spawn_rate_per_s = 4.0, duration_s = 3.0 }',
        "",
        "[profile.full]",
        'load = { model = "users", users = 64, spawn_rate_per_s = 16.0, duration_s = 60.0 }',
    ]
    return "\n".join(lines) + "\n"
