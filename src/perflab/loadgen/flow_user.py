"""A user running flows: which step comes next, with what values, and which steps are skipped.

`User` is a simulated user's slot (its connection); `FlowPlan` is an engine's flows as
prepared requests (built once per process); `FlowUser` is one user's place in them (the
users and closed models: one per user; the open model: one per connection, see
`open_engine.OpenFlowEngine`). The rules are in `perflab.loadgen.flow`.

Usage (by an engine)::

    user = FlowUser(engine.flow_plan)        # the engine built it from its `flows` option
    conn.send(user.next_request())
    ...                                      # the answer is in:
    if user.step.captures:
        user.step_done(conn.captured)        # the values, or None: the capture failed
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from perflab.loadgen.capture import parse_captures
from perflab.loadgen.connection import HttpConnection, Prepared
from perflab.loadgen.flow import Flow, resolve_flows, weighted_sequence
from perflab.loadgen.request_spec import RequestSpec
from perflab.loadgen.template import WireTemplate


class User:
    """One simulated user's slot: its connection, as locust's FastHttpUser has one.

    Usage: ``user = User(); user.conn = await engine.connect()``
    """

    __slots__ = ("conn",)

    def __init__(self) -> None:
        self.conn: HttpConnection | None = None


class FlowRun:
    """One flow as prepared steps. Usage: ``FlowRun("buy", steps, weight=3)``"""

    __slots__ = ("alone", "captures", "name", "recorder", "steps", "weight")

    def __init__(self, name: str, steps: tuple[Prepared, ...], weight: int) -> None:
        self.name = name
        self.steps = steps
        self.weight = weight
        self.captures = any(step.captures for step in steps)  # then each run copies values
        self.recorder = steps[0].recorder  # the open model counts late/dropped sends here
        # One fixed request: a run is that request, and `next_request` takes a short cut.
        only = steps[0]
        self.alone = len(steps) == 1 and not (only.captures or only.needs or only.template)


class FlowPlan:
    """An engine's on_start steps and flows, with the weighted order flows are picked in.

    Usage: ``FlowPlan(prepared_by_name, requests, on_start, flows, keepalive=True)``
    """

    def __init__(
        self,
        prepared: dict[str, Prepared],
        requests: Sequence[RequestSpec],
        on_start: Sequence[RequestSpec],
        flows: Sequence[Flow],
        *,
        keepalive: bool,
    ) -> None:
        resolved = resolve_flows(requests, on_start, flows)
        names = {c.name for spec in [*on_start, *requests] for c in parse_captures(spec.capture)}
        for spec in [*on_start, *requests]:
            step = prepared[spec.label]
            body = step.wire[step.wire.index(b"\r\n\r\n") + 4 :]
            step.template = WireTemplate.of(spec, keepalive=keepalive, names=names, body=body)
            step.needs = step.template.names if step.template is not None else frozenset()
        self.on_start = tuple(prepared[spec.label] for spec in on_start)
        for step in self.on_start:
            step.on_start = True
        self.flows = [
            FlowRun(flow.name, tuple(prepared[name] for name in flow.steps), flow.weight)
            for flow in resolved
        ]
        self.sequence = weighted_sequence(self.flows, [flow.weight for flow in self.flows])
        self.cursor = 0
        self.described: dict[str, Any] = {
            "on_start": [step.name for step in self.on_start],
            "flows": [flow.describe() for flow in resolved],
        }

    def next_flow(self) -> FlowRun:
        """The next flow in weighted order. Usage: ``user.start_run(plan.next_flow())``"""
        sequence = self.sequence
        flow = sequence[self.cursor % len(sequence)]
        self.cursor += 1
        return flow


class FlowUser(User):
    """One user's (or open-model connection's) place in the flows, and its captured values.

    Usage: see the module docstring.
    """

    __slots__ = ("index", "plan", "session", "started", "step", "steps", "values")

    step: Prepared  # the step last sent (set before any answer can arrive)

    def __init__(self, plan: FlowPlan) -> None:
        super().__init__()
        self.plan = plan
        self.session: dict[str, Any] = {}  # what on_start captured: for the user's life
        self.values = self.session  # what this run's steps may use
        self.steps: tuple[Prepared, ...] = ()
        self.index = 0
        self.started = not plan.on_start  # on_start ran and none of its captures failed

    def start_run(self, flow: FlowRun) -> None:
        """Begin a run of `flow`, after on_start if it is (again) due. Usage: see module."""
        if self.started:
            self.steps = flow.steps
        else:
            self.started = True  # `step_done` takes it back if a capture of on_start fails
            self.steps = self.plan.on_start + flow.steps
        self.index = 0
        # A run's own captures go to a copy, so the next run starts from on_start's values.
        self.values = dict(self.session) if flow.captures else self.session

    def next_step(self) -> Prepared | None:
        """The run's next step that has its values (the others are counted as skipped), with
        the values in its bytes; None when the run is over. Usage: ``user.next_step()``
        """
        steps = self.steps
        index = self.index
        while index < len(steps):
            step = steps[index]
            index += 1
            needs = step.needs
            if needs and not needs.issubset(self.values):
                step.recorder.stats.skipped += 1
                continue
            self.index = index
            self.step = step
            return step if step.template is None else step.rendered(self.values)
        self.index = index
        return None

    def next_request(self) -> Prepared:
        """The next step, starting the next flow when a run is over. Usage: see module."""
        if self.index < len(self.steps):
            step = self.next_step()
            if step is not None:
                return step
        plan = self.plan  # `plan.next_flow()`, unrolled
        sequence = plan.sequence
        flow = sequence[plan.cursor % len(sequence)]
        plan.cursor += 1
        if flow.alone and self.started:
            # The hot path of one-step flows (lone requests): what `start_run` and
            # `next_step` would do, without the calls, so they cost what plain requests do.
            self.steps = flow.steps
            self.index = 1
            self.values = self.session
            step = self.step = flow.steps[0]
            return step
        self.start_run(flow)
        next_step = self.next_step()
        # A run's first step needs nothing it lacks: on_start's first step needs nothing,
        # and a flow runs only after on_start captured everything (`resolve_flows`).
        assert next_step is not None
        return next_step

    def step_done(self, captured: dict[str, Any] | None) -> None:
        """The capturing step last sent is over: `captured` values, or None (it failed).

        Usage: ``if user.step.captures: user.step_done(conn.captured)``
        """
        step = self.step
        if captured is not None:
            if step.record_captures:
                step.recorder.stats.captured_values.append(captured)
            self.values.update(captured)
            if step.on_start:
                self.session.update(captured)
            return
        for capture in step.captures:  # a value no longer known: its users are skipped
            self.values.pop(capture.name, None)
        if step.on_start:
            for capture in step.captures:
                self.session.pop(capture.name, None)
            self.started = False
