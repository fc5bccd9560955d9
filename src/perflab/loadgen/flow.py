"""User flows: ordered steps that pass captured values (a login's token, a created id) along.

A stream may group its requests into **flows**. A user runs a flow's steps in order; values
a step captures (`perflab.loadgen.capture`) fill ``{name}`` in later steps' paths, headers
and bodies (`perflab.loadgen.template`). **on_start** requests run once per user before
its first flow (a login). Then each flow is picked by weight, in smooth weighted round robin
over the engine's users: exact proportions, evenly interleaved and the same on every run, so
cells compare like for like and a test can count them (a seeded random choice would add
run-to-run noise for nothing). A request that no flow names is a one-step flow of its own,
with its own weight.

Where a value lives:

- what on_start captures lasts for the user's life; when one of its captures fails, the user
  runs on_start again before its next flow;
- what a flow's step captures lasts until that run of the flow ends (the next run starts
  again from on_start's values), so a step never uses an id left over from an earlier run.

A step whose values are not there (the step that captures them failed) is **skipped**, not
sent with a hole in it, and counted as skipped under its name. Every ``{name}`` a step uses
must be captured by on_start or by an earlier step of the same flow: `resolve_flows` says
which one is not.

Usage::

    flows = [Flow("buy", ("create", "read", "delete"), weight=3)]
    Stream(requests, Users(10, 10, 60), on_start=[login], flows=flows)
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TypeVar

from perflab.loadgen.capture import parse_captures
from perflab.loadgen.errors import RequestSpecError
from perflab.loadgen.request_spec import RequestSpec
from perflab.loadgen.template import find_placeholders

T = TypeVar("T")


def weighted_sequence(items: Sequence[T], weights: Sequence[int]) -> list[T]:
    """Smooth weighted round robin (nginx's): exact proportions, evenly interleaved.

    Usage: ``weighted_sequence([a, b], [1, 3])  # -> [b, a, b, b]``
    """
    current = [0] * len(items)
    total = sum(weights)
    sequence: list[T] = []
    for _ in range(total):
        for i, weight in enumerate(weights):
            current[i] += weight
        best = max(range(len(items)), key=current.__getitem__)
        current[best] -= total
        sequence.append(items[best])
    return sequence


@dataclass(frozen=True)
class Flow:
    """Steps (request names) a user runs in order, picked by weight.

    Usage: ``Flow("buy", ("create", "read", "delete"), weight=3)``
    """

    name: str
    steps: tuple[str, ...]
    weight: int = 1

    def __post_init__(self) -> None:
        if not self.steps:
            raise RequestSpecError(f"flow {self.name} has no steps")
        if self.weight < 1:
            raise RequestSpecError(f"flow {self.name}: weight must be >= 1, got {self.weight}")

    def describe(self) -> dict[str, object]:
        """JSON-ready description. Usage: ``flow.describe()``"""
        return {"name": self.name, "weight": self.weight, "steps": list(self.steps)}


class ScenarioRequests(list[RequestSpec]):
    """A scenario's [[request]] specs that also carry its on_start steps and flows, so code
    that runs ``scenario.requests`` (``run(scenario.requests, model)``) runs its flows.

    Usage: ``ScenarioRequests(specs, on_start=[login], flows=[buy])``
    """

    def __init__(
        self,
        requests: Iterable[RequestSpec] = (),
        on_start: Sequence[RequestSpec] = (),
        flows: Sequence[Flow] = (),
    ) -> None:
        super().__init__(requests)
        self.on_start = tuple(on_start)
        self.flows = tuple(flows)


def uses_flows(
    requests: Sequence[RequestSpec], on_start: Sequence[RequestSpec], flows: Sequence[Flow]
) -> bool:
    """Whether a stream needs the flow engines. Usage: ``uses_flows(specs, (), ())``"""
    return bool(on_start or flows or any(spec.capture for spec in requests))


def _captured(specs: Iterable[RequestSpec]) -> set[str]:
    return {capture.name for spec in specs for capture in parse_captures(spec.capture)}


def _check_steps(
    where: str, steps: Sequence[RequestSpec], known: set[str], everything: set[str]
) -> None:
    """Each step uses only `known` names and what earlier steps capture."""
    available = set(known)
    for spec in steps:
        missing = find_placeholders(spec, everything) - available
        if missing:
            names = ", ".join(f"{{{name}}}" for name in sorted(missing))
            raise RequestSpecError(
                f"{where}: step {spec.label} uses {names}, which neither on_start nor an "
                "earlier step of it captures"
            )
        available |= _captured([spec])


def resolve_flows(
    requests: Sequence[RequestSpec], on_start: Sequence[RequestSpec], flows: Sequence[Flow]
) -> list[Flow]:
    """Check the flows; return them with a one-step flow for each request no flow names.

    Usage: ``resolve_flows(specs, [login], [Flow("buy", ("create", "read"))])``
    """
    by_name = {spec.label: spec for spec in requests}
    start_names = {spec.label for spec in on_start}
    everything = _captured([*requests, *on_start])
    _check_steps("on_start", on_start, set(), everything)
    session = _captured(on_start)
    named: set[str] = set()
    for flow in flows:
        for step in flow.steps:
            if step not in by_name:
                kind = "an on_start step" if step in start_names else "not a request"
                known = ", ".join(by_name)
                raise RequestSpecError(f"flow {flow.name}: {step!r} is {kind}; known: {known}")
        _check_steps(f"flow {flow.name}", [by_name[s] for s in flow.steps], session, everything)
        named.update(flow.steps)
    alone = [Flow(spec.label, (spec.label,), spec.weight) for spec in requests]
    resolved = [*flows, *(flow for flow in alone if flow.name not in named)]
    for flow in resolved[len(flows) :]:
        _check_steps(f"request {flow.name}", [by_name[flow.name]], session, everything)
    names = [flow.name for flow in resolved]
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise RequestSpecError(f"flow names must differ (a lone request is one): {repeated}")
    return resolved
