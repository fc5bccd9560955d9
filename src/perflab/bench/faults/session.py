"""A fault cell's run: its private services, its faults and probe beside the measured load,
and afterwards every request accounted for (bench.fault_accounting) and, for writes, the
database reconciled with what was acknowledged (bench.reconcile).

A cell has faults when its settings hold `[[fault]]` tables (from the study's `[base]`, the
cell, or a profile); `[base.reconcile]` says which write to check. Times count from the
measured load's start: the runner starts the clock just before the load, and the events and
probe answers are shifted onto the load's own start afterwards, so they line up with the
report's time axis.

Usage::

    with private_services(cell_fault_plan(plan.settings, plan.name).private, log_dir) as ...:
        ...start the server with env...
        session = FaultSession(fault_plan, context, spec, slo_p99_ms=100.0, request="create")
        session.start()
        repeat = measure(...)
        session.finish(repeat)          # repeat.faults, repeat.reconciliation
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from perflab.bench.faults.accounting import account_faults, failure_summary, maybe_written
from perflab.bench.faults.private_services import private_postgres, private_redis
from perflab.bench.faults.probe import Probe, ProbeSample
from perflab.bench.faults.reconcile import ReconcileRule, reconcile, row_ids
from perflab.bench.faults.runner import FaultContext, FaultRunner, Restartable
from perflab.bench.faults.spec import Fault, parse_faults
from perflab.loadgen import Closed, RequestSpec, run
from perflab.loadgen.capture import capture_values, parse_captures
from perflab.results.model import RepeatResult

BURST_TIMEOUT_S = 30.0


@dataclass(frozen=True)
class FaultPlan:
    """A cell's faults and what to reconcile. Usage: ``cell_fault_plan(s, "x").faults``"""

    faults: list[Fault] = field(default_factory=list)
    reconcile: ReconcileRule | None = None

    @property
    def private(self) -> set[str]:
        """The private services the faults need ("redis", "postgres")."""
        return {f.private_service for f in self.faults if f.private_service is not None}


def cell_fault_plan(settings: dict[str, Any], cell: str) -> FaultPlan:
    """A cell's faults and reconcile rule from its merged settings, checked.
    Usage: ``cell_fault_plan(plan.settings, plan.name).faults``"""
    where = f"cell {cell}"
    faults = parse_faults(settings.get("fault", []), where)
    table = settings.get("reconcile")
    rule = ReconcileRule.parse(table, where) if table is not None else None
    return FaultPlan(faults, rule)


@contextlib.contextmanager
def private_services(
    needs: set[str], log_dir: Path
) -> Iterator[tuple[dict[str, Restartable], dict[str, str]]]:
    """The private instances `needs` names, and the PERFLAB_* variables pointing at them;
    stopped and removed when the block ends. Usage: see module."""
    services: dict[str, Restartable] = {}
    env: dict[str, str] = {}
    with contextlib.ExitStack() as stack:
        if "postgres" in needs:
            postgres = stack.enter_context(private_postgres(log_dir))
            services["postgres"] = postgres
            env["PERFLAB_DATABASE_URL"] = postgres.url
        if "redis" in needs:
            redis = stack.enter_context(private_redis(log_dir))
            services["redis"] = redis
            env["PERFLAB_REDIS_URL"] = redis.url
        yield services, env


class FaultSession:
    """Faults and the probe around one measured load. Usage: see module."""

    def __init__(
        self,
        plan: FaultPlan,
        context: FaultContext,
        probe_spec: RequestSpec,
        *,
        slo_p99_ms: float,
        request: str | None,
    ) -> None:
        self.plan = plan
        self.context = context
        self.probe_spec = probe_spec
        self.slo_p99_ms = slo_p99_ms
        self.request = request
        if context.burst is None:
            context.burst = self._burst
        self.runner = FaultRunner(plan.faults, context)
        self.probe = Probe(probe_spec)
        self._t0_unix_s = 0.0
        self._before: set[str] | None = None  # row ids present before the load
        self._before_error: str | None = None

    def start(self) -> None:
        """Start the clock, the faults and the probe: call right before the load starts."""
        rule, url = self.plan.reconcile, self.context.database_url
        if rule is not None and url is not None:
            try:
                self._before = row_ids(url, rule)
            except Exception as exc:  # the finding is that it could not be read, not a crash
                self._before_error = f"{type(exc).__name__}: {exc}"
        self._t0_unix_s = time.time()
        self.runner.start(self._t0_unix_s)
        self.probe.start(self._t0_unix_s)

    def _burst(self, requests: int, connections: int) -> str:
        # A burst is more load of the main request, all at once, not recorded with the load:
        # what its own requests got goes into the fault's detail.
        recording = run([self.probe_spec], Closed(requests, connections), timeout_s=BURST_TIMEOUT_S)
        total = recording.total()
        kinds = ", ".join(f"{kind} {n}" for kind, n in sorted(total.failures.items()))
        return f"{total.requests - total.failure_count} answered right" + (
            f", {kinds}" if kinds else ""
        )

    def abort(self) -> None:
        """Stop faults and probe without accounting (the load failed). Usage: see class."""
        self.runner.stop()
        self.probe.stop()

    def finish(self, repeat: RepeatResult) -> None:
        """Stop faults and probe, and record the accounting (and reconciliation) in `repeat`.
        Usage: ``session.finish(repeat)``"""
        events = self.runner.stop()
        samples = self.probe.stop()
        # Onto the load's own clock: the load began a little after the session started.
        shift_s = repeat.started_at_unix_s - self._t0_unix_s
        for event in events:
            for key in ("at_s", "back_at_s"):
                if event.get(key) is not None:
                    event[key] = round(event[key] - shift_s, 3)
        samples = [
            ProbeSample(round(s.t_s - shift_s, 4), s.kind, s.latency_ms, s.body) for s in samples
        ]
        accounted = account_faults(events, samples, repeat, self.request, self.slo_p99_ms)
        stats = repeat.stats(self.request) or repeat.total
        summary = failure_summary(stats.failures)
        probe_failures: dict[str, int] = {}
        for sample in samples:
            if sample.kind is not None:
                probe_failures[sample.kind] = probe_failures.get(sample.kind, 0) + 1
        for entry in accounted:
            entry.update(summary)
            entry["probe_requests"] = len(samples)
            entry["probe_failed_by_kind"] = dict(sorted(probe_failures.items()))
        repeat.faults = accounted
        if self.plan.reconcile is not None:
            repeat.reconciliation = self._reconcile(repeat, samples)

    def _reconcile(self, repeat: RepeatResult, samples: list[ProbeSample]) -> dict[str, object]:
        rule = self.plan.reconcile
        assert rule is not None
        if self.context.database_url is None:
            return {"ok": False, "error": "this cell has no database to reconcile"}
        if self._before_error is not None:
            return {"ok": False, "error": f"rows before the load: {self._before_error}"}
        write = repeat.recording.names.get(rule.request)
        acknowledged = list(write.captured_values) if write is not None else []
        maybe = sum(
            n for kind, n in (write.failures if write else {}).items() if maybe_written(kind)
        )
        if self.probe_spec.label == rule.request:
            # The probe sends the same write: what it was told counts, and so do its doubts.
            captures = parse_captures(self.probe_spec.capture)
            for sample in samples:
                if sample.ok and captures:
                    values = capture_values(captures, sample.body, None)
                    if values is not None:
                        acknowledged.append(values)
                elif sample.kind is not None and maybe_written(sample.kind):
                    maybe += 1
        try:
            return reconcile(self.context.database_url, rule, acknowledged, maybe, self._before)
        except Exception as exc:  # any database error is the finding, not a crash
            return {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
