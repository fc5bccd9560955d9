"""A cell's load as JSON: what the locust master sends every worker (and the bench writes).

Workers need no study file, no body generator and no configuration of their own: the master
ships them the cell's streams as plain data (`perflab.loadgen` objects written out field by
field), so a worker on another machine runs exactly the requests, weights, bodies, ``expect``
checks, on_start steps, flows and captures that `perflab load` would. Body bytes travel
base64-encoded; a body built by a factory (the 26 MB payload) travels as the factory's name
and is built on the worker. Only a module-level function of a ``perflab`` module is
accepted that way: a worker imports nothing else on the master's say-so.

Usage::

    document = streams_to_wire(streams)          # JSON-ready
    same = streams_from_wire(document)           # list[Stream], factories not yet called
"""

from __future__ import annotations

import base64
import importlib
from collections.abc import Callable, Sequence
from typing import Any

from perflab.loadgen import (
    Body,
    Closed,
    Expectation,
    Flow,
    LoadModel,
    Open,
    RequestSpec,
    Stream,
    Users,
)
from perflab.locust.errors import WorkloadError

WIRE_VERSION = 1
FACTORY_PACKAGE = "perflab"  # the only package whose functions a worker imports by name


def model_to_wire(model: LoadModel) -> dict[str, Any]:
    """A load model as data (its full parameters). Usage: ``model_to_wire(Closed(100, 4))``"""
    if isinstance(model, Closed):
        return {"model": "closed", "requests": model.requests, "connections": model.connections}
    if isinstance(model, Users):
        return {
            "model": "users",
            "users": model.users,
            "spawn_rate_per_s": model.spawn_rate_per_s,
            "duration_s": model.duration_s,
            "think_s": list(model.think_s),
        }
    return {
        "model": "open",
        "rate_per_s": model.rate_per_s,
        "duration_s": model.duration_s,
        "connections": model.connections,
        "late_after_ms": model.late_after_ms,
    }


def model_from_wire(data: dict[str, Any]) -> LoadModel:
    """Inverse of `model_to_wire`. Usage: ``model_from_wire({"model": "closed", ...})``"""
    kind = data["model"]
    if kind == "closed":
        return Closed(int(data["requests"]), int(data["connections"]))
    if kind == "users":
        low, high = data["think_s"]
        return Users(
            int(data["users"]),
            float(data["spawn_rate_per_s"]),
            float(data["duration_s"]),
            (float(low), float(high)),
        )
    if kind == "open":
        return Open(
            float(data["rate_per_s"]),
            float(data["duration_s"]),
            int(data["connections"]),
            float(data["late_after_ms"]),
        )
    raise WorkloadError(f"unknown load model {kind!r}")


def factory_name(factory: Callable[[], bytes]) -> str:
    """``module:qualname`` of a body factory a worker may import. Usage: see module."""
    module = getattr(factory, "__module__", "") or ""
    qualname = getattr(factory, "__qualname__", "") or ""
    if not module.startswith(f"{FACTORY_PACKAGE}.") or not qualname or "<" in qualname:
        raise WorkloadError(
            f"body factory {factory!r} cannot travel to locust workers: it must be a "
            f"module-level function of a {FACTORY_PACKAGE} module (bench/bodies.py generators are)"
        )
    return f"{module}:{qualname}"


def factory_from_name(name: str) -> Callable[[], bytes]:
    """The function `factory_name` named. Usage: ``factory_from_name("perflab.x:make")``"""
    module_name, _, qualname = name.partition(":")
    if not module_name.startswith(f"{FACTORY_PACKAGE}.") or not qualname:
        raise WorkloadError(f"refusing body factory {name!r}: not a {FACTORY_PACKAGE} function")
    target: Any = importlib.import_module(module_name)
    for part in qualname.split("."):
        target = getattr(target, part)
    if not callable(target):
        raise WorkloadError(f"body factory {name!r} is not callable")
    factory: Callable[[], bytes] = target
    return factory


def _body_to_wire(body: Body) -> dict[str, Any]:
    wired: dict[str, Any] = {"content_type": body.content_type}
    if body.factory is not None:
        wired["factory"] = factory_name(body.factory)
    else:
        wired["data_b64"] = base64.b64encode(body.data).decode("ascii")
    return wired


def _body_from_wire(data: dict[str, Any]) -> Body:
    content_type = data.get("content_type")
    if "factory" in data:
        return Body(content_type=content_type, factory=factory_from_name(str(data["factory"])))
    return Body(base64.b64decode(data.get("data_b64", "")), content_type)


def spec_to_wire(spec: RequestSpec) -> dict[str, Any]:
    """One request as data, its check included. Usage: ``spec_to_wire(RequestSpec(url))``"""
    expect = spec.expect
    return {
        "url": spec.url,
        "method": spec.method,
        "name": spec.label,
        "headers": dict(spec.headers),
        "body": _body_to_wire(spec.body),
        "weight": spec.weight,
        "expect": {
            "status": list(expect.status),
            "body_sha256": expect.body_sha256,
            "json": expect.json_fields,
            "same_length": expect.same_length,
        },
        "capture": dict(spec.capture),
        "record_captures": spec.record_captures,
    }


def spec_from_wire(data: dict[str, Any]) -> RequestSpec:
    """Inverse of `spec_to_wire`. Usage: ``spec_from_wire(spec_to_wire(spec))``"""
    expect = data["expect"]
    return RequestSpec(
        url=str(data["url"]),
        method=str(data["method"]),
        name=str(data["name"]),
        headers={str(k): str(v) for k, v in data["headers"].items()},
        body=_body_from_wire(data["body"]),
        weight=int(data["weight"]),
        expect=Expectation(
            status=tuple(int(s) for s in expect["status"]),
            body_sha256=expect.get("body_sha256"),
            json_fields=dict(expect.get("json") or {}),
            same_length=bool(expect.get("same_length", False)),
        ),
        capture={str(k): str(v) for k, v in (data.get("capture") or {}).items()},
        record_captures=bool(data.get("record_captures", False)),
    )


def _stream_to_wire(stream: Stream) -> dict[str, Any]:
    on_start, flows = stream.flow_parts() or ((), ())
    return {
        "model": model_to_wire(stream.model),
        "keepalive": stream.keepalive,
        "timeout_s": stream.timeout_s,
        "requests": [spec_to_wire(spec) for spec in stream.requests],
        "on_start": [spec_to_wire(spec) for spec in on_start],
        "flows": [flow.describe() for flow in flows],
    }


def _stream_from_wire(data: dict[str, Any]) -> Stream:
    flows = [
        Flow(str(f["name"]), tuple(str(step) for step in f["steps"]), int(f["weight"]))
        for f in data.get("flows") or []
    ]
    return Stream(
        [spec_from_wire(spec) for spec in data["requests"]],
        model_from_wire(data["model"]),
        1,
        bool(data["keepalive"]),
        float(data["timeout_s"]),
        [spec_from_wire(spec) for spec in data.get("on_start") or []],
        flows,
    )


def streams_to_wire(streams: Sequence[Stream]) -> dict[str, Any]:
    """A cell's streams as JSON-ready data. Usage: ``json.dumps(streams_to_wire(streams))``"""
    return {"version": WIRE_VERSION, "streams": [_stream_to_wire(s) for s in streams]}


def streams_from_wire(document: dict[str, Any]) -> list[Stream]:
    """Inverse of `streams_to_wire` (factories imported, not called). Usage: see module."""
    if document.get("version") != WIRE_VERSION:
        raise WorkloadError(
            f"workload format {document.get('version')!r}; this perflab reads {WIRE_VERSION} "
            "(run the same perflab version on the master and the workers)"
        )
    return [_stream_from_wire(stream) for stream in document["streams"]]
