"""A starter study before it is written: requests, the login each user runs first, flows,
the server (an app to start, or a URL to drive) and every guess made on the way, so the
writer can say it in a comment next to what it guessed.

Built by `perflab.bench.starter.openapi` (from an OpenAPI document) and
`perflab.bench.starter.har` (from a browser's HAR file); written by
`perflab.bench.starter.writer`.

Usage::

    starter = Starter(title="shop", source="http://127.0.0.1:8000/openapi.json")
    starter.requests.append(StarterRequest("get_items", "GET", "/items", expect_status=200))
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class StarterRequest:
    """One request of the starter study; `disabled` says why it is written commented out.

    Usage: ``StarterRequest("create_item", "POST", "/items", json={"name": "x"})``
    """

    name: str
    method: str
    path: str
    json: Any = None  # a JSON body (None: no JSON body)
    form: dict[str, str] | None = None
    body: str | None = None  # any other body, as text
    content_type: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    expect_status: int | None = None
    capture: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)  # guesses, written as comments
    disabled: str | None = None


@dataclass
class StarterFlow:
    """Steps run in order by one user, values captured on the way. Usage: see module."""

    name: str
    steps: list[str]
    notes: list[str] = field(default_factory=list)


@dataclass
class Starter:
    """Everything `perflab init` writes. Usage: see module."""

    title: str
    source: str  # where it came from: a URL, module:app, a HAR file
    base_url: str | None = None  # a running service (no app to start)
    app: str | None = None  # module:attr to start on the runners
    runners: list[str] = field(default_factory=lambda: ["uvicorn"])
    python: str | None = None  # the interpreter that has the app (its venv); None: perflab's
    workers: list[int] = field(default_factory=lambda: [1, 2])
    ready: str = "/"
    cwd: str = "."  # where the app imports, relative to the study file
    on_start: list[StarterRequest] = field(default_factory=list)
    requests: list[StarterRequest] = field(default_factory=list)
    flows: list[StarterFlow] = field(default_factory=list)
    vars: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)  # about the whole file
