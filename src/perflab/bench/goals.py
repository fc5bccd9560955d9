"""Goals as data: a study's `[[goal]]` tables, checked against what the run measured.

A goal compares one metric of one cell with a threshold, either as a ratio to the same
metric of another cell measured in the same run (what holds on a noisy machine: both sides
drift together) or as an absolute value::

    [[goal]]
    name = "process offload beats the event loop"
    cell = "async-process"           # or cells = ["a", "b"] / "*": one goal per cell
    baseline = "async-inline"        # optional: the value is cell / baseline
    metric = "throughput"            # see METRICS
    request = "blur"                 # optional: one request name (default: the main request)
    at_least = 1.6                   # and/or at_most
    profiles = ["quick", "full"]     # optional: the profiles it applies to (default: all)
    min_cores = 3                    # optional: checked only where this many cores are usable
    reason = "2 cores: the pool uses both, the loop one"
    source = "DESIGN.md, 'Facts worth knowing'"

A goal whose cells did not run (skipped, failed, or not in this profile), or that needs more
cores than the machine has, is "not measured", never met; `perflab bench --strict` fails on a
goal "not met".

Metrics: the client's percentiles of the request (``p50`` ... ``p999``, ms), ``throughput``
(correct answers per second), ``errors`` (% of requests that failed, for any reason), and the
three kinds of failure it splits into: ``shed`` (% answered 503 with Retry-After: refused on
purpose, at once), ``lost`` (% with no answer and no clean refusal: a timeout, a reset or
refused connection, bytes that were not HTTP, or a send an open schedule dropped) and
``wrong`` (% answered, but not right: another status, wrong content); the server's
``cpu_us_per_request``, ``loop_lag_max`` (ms) and ``rss_max`` (MB); and for fault cells
(bench/faults.py) ``recovery_s`` (the slowest first right answer after a part came back),
``p99_recovery_s`` (the slowest return of p99 under the study's SLO after it) and
``unreconciled`` (acknowledged writes missing or changed, plus rows nobody was told about
beyond the "maybe" failures).

Usage::

    goals = parse_goals(document.get("goal", []), cell_names)
    results = evaluate_goals(study.goals, study_results, profile="quick")
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from perflab.results.errors import StudyError
from perflab.results.goals import MET, NOT_MEASURED, NOT_MET, GoalResult, metric_unit
from perflab.results.model import CellResults, StudyResults

GOAL_KEYS = {
    "name",
    "cell",
    "cells",
    "baseline",
    "metric",
    "request",
    "at_least",
    "at_most",
    "profiles",
    "min_cores",
    "reason",
    "source",
}
PERCENTILES = {"p50": 50.0, "p90": 90.0, "p99": 99.0, "p999": 99.9}
# What a goal may measure: the client's figures of the request, and the server's signals.
METRICS = (
    *PERCENTILES,
    "throughput",
    "errors",
    "shed",
    "lost",
    "wrong",
    "cpu_us_per_request",
    "loop_lag_max",
    "rss_max",
    "recovery_s",
    "p99_recovery_s",
    "unreconciled",
)
FAULT_METRICS = {
    "recovery_s": "first_success_after_back_s",
    "p99_recovery_s": "p99_under_slo_after_back_s",
}
SHED = "shed"  # perflab.loadgen.expectation's kind for a 503 with Retry-After
# perflab.loadgen.expectation's kinds of a request that got no answer (every other kind but
# `shed` is an answer that was not right).
NO_ANSWER = ("connect_error", "timeout", "connection_reset", "protocol_error")


@dataclass(frozen=True)
class Goal:
    """One `[[goal]]` table, checked. Usage: ``goal.applies_to("quick")``"""

    name: str
    cell: str
    metric: str
    baseline: str | None = None
    request: str | None = None
    at_least: float | None = None
    at_most: float | None = None
    profiles: tuple[str, ...] = ()  # empty: every profile
    min_cores: int | None = None  # fewer usable cores: not measured
    reason: str = ""
    source: str = ""

    def applies_to(self, profile: str) -> bool:
        """True when the goal is checked in `profile`. Usage: ``goal.applies_to("smoke")``"""
        return not self.profiles or profile in self.profiles


def parse_goals(tables: Any, cells: list[str]) -> list[Goal]:
    """The study's goals, or StudyError naming what is wrong. Usage: see module."""
    if not isinstance(tables, list):
        raise StudyError("[[goal]] must be a list of tables")
    goals = [goal for index, table in enumerate(tables) for goal in _goals(table, index, cells)]
    names = [goal.name for goal in goals]
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise StudyError(f"goal names must differ; repeated: {repeated}")
    return goals


def _goals(table: Any, index: int, cells: list[str]) -> list[Goal]:
    """One goal, or with `cells` one per cell named (or every cell, "*")."""
    if not isinstance(table, dict) or "cells" not in table:
        return [_goal(table, index, cells)]
    where = f"goal #{index + 1}"
    if "cell" in table:
        raise StudyError(f"{where}: give `cell` or `cells`, not both")
    chosen = cells if table["cells"] == "*" else table["cells"]
    if not isinstance(chosen, list) or not chosen or not all(isinstance(c, str) for c in chosen):
        raise StudyError(f'{where}: `cells` is a list of cell names, or "*" for every cell')
    rest = {key: value for key, value in table.items() if key != "cells"}
    return [
        _goal({**rest, "cell": cell, "name": f"{table.get('name', '')} ({cell})"}, index, cells)
        for cell in chosen
    ]


def _goal(table: Any, index: int, cells: list[str]) -> Goal:
    where = f"goal #{index + 1}"
    if not isinstance(table, dict):
        raise StudyError(f"{where}: expected a table")
    unknown = sorted(set(table) - GOAL_KEYS)
    if unknown:
        raise StudyError(f"{where}: unknown key(s) {unknown}; allowed: {sorted(GOAL_KEYS)}")
    for key in ("name", "cell", "metric"):
        if not isinstance(table.get(key), str):
            raise StudyError(f"{where}: `{key}` (a string) is required")
    where = f"goal {table['name']!r}"
    for key in ("cell", "baseline"):
        if key in table and table[key] not in cells:
            raise StudyError(f"{where}: unknown {key} {table[key]!r}; cells: {cells}")
    if table["metric"] not in METRICS:
        raise StudyError(f"{where}: metric must be one of {list(METRICS)}")
    bounds = {key: table.get(key) for key in ("at_least", "at_most")}
    if all(value is None for value in bounds.values()):
        raise StudyError(f"{where}: give `at_least` or `at_most` (or both)")
    for key, value in bounds.items():
        if value is not None and not isinstance(value, int | float):
            raise StudyError(f"{where}: `{key}` must be a number")
    profiles = table.get("profiles", [])
    if not isinstance(profiles, list) or not all(isinstance(p, str) for p in profiles):
        raise StudyError(f"{where}: `profiles` must be a list of profile names")
    min_cores = table.get("min_cores")
    if min_cores is not None and (type(min_cores) is not int or min_cores < 1):
        raise StudyError(f"{where}: `min_cores` must be a whole number of cores, at least 1")
    return Goal(
        name=table["name"],
        cell=table["cell"],
        metric=table["metric"],
        baseline=table.get("baseline"),
        request=table.get("request"),
        at_least=_float(bounds["at_least"]),
        at_most=_float(bounds["at_most"]),
        profiles=tuple(profiles),
        min_cores=min_cores,
        reason=str(table.get("reason", "")),
        source=str(table.get("source", "")),
    )


def evaluate_goals(
    goals: list[Goal], study: StudyResults, profile: str, cores: int | None = None
) -> list[GoalResult]:
    """Each goal of `profile` met, not met or not measured on `study`; `cores`: usable on the
    machine that measured it (default: this one, where `perflab bench` evaluates right after
    the study ran). Usage: see module."""
    usable = cores if cores is not None else usable_cores()
    return [_evaluate(goal, study, usable) for goal in goals if goal.applies_to(profile)]


def usable_cores() -> int:
    """Cores this process may run on. Usage: ``usable_cores()``"""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def _evaluate(goal: Goal, study: StudyResults, cores: int) -> GoalResult:
    request = goal.request or study.main_request
    value, detail = _cell_value(goal, goal.cell, study.cell(goal.cell), request)
    if goal.min_cores is not None and cores < goal.min_cores:
        value, detail = None, f"needs {goal.min_cores} cores; this machine has {cores}"
    if value is not None and goal.baseline is not None:
        base, base_detail = _cell_value(goal, goal.baseline, study.cell(goal.baseline), request)
        if base is None or base == 0:
            value, detail = None, base_detail if base is None else f"{goal.baseline}: 0"
        else:
            detail = f"{detail} / {base_detail}"
            value = value / base
    if value is None:
        status = NOT_MEASURED
    else:
        low_ok = goal.at_least is None or value >= goal.at_least
        high_ok = goal.at_most is None or value <= goal.at_most
        status = MET if low_ok and high_ok else NOT_MET
    return GoalResult(
        name=goal.name,
        metric=goal.metric,
        cell=goal.cell,
        baseline=goal.baseline,
        request=goal.request,
        at_least=goal.at_least,
        at_most=goal.at_most,
        reason=goal.reason,
        source=goal.source,
        value=value,
        status=status,
        detail=detail,
    )


def _cell_value(
    goal: Goal, name: str, cell: CellResults | None, request: str | None
) -> tuple[float | None, str]:
    """The metric of the cell called `name` (None: not in the run), with the figure in words
    (or why there is none)."""
    if cell is None:
        return None, f"{name}: not in this run"
    if cell.status != "ran" or not cell.measured:
        return None, f"{cell.name}: {cell.status}" + (f" ({cell.reason})" if cell.reason else "")
    # The named request where every repeat recorded it; otherwise all the cell's requests.
    if request is not None and all(request in r.recording.names for r in cell.repeats):
        totals = cell.names[request]
    elif goal.request is not None:
        return None, f"{cell.name}: request {goal.request!r} not recorded"
    else:
        totals, request = cell.total, None
    value = metric_value(goal.metric, cell, totals, request)
    if value is None:
        return None, f"{cell.name}: {goal.metric} not recorded"
    unit = metric_unit(goal.metric)
    return value, f"{cell.name} {value:,.4g} {unit}".rstrip()


def metric_value(metric: str, cell: CellResults, totals: Any, request: str | None) -> float | None:
    """One cell's value of a goal metric (`totals`: the cell's NameTotals for `request`).
    Usage: ``metric_value("p99", cell, cell.total, None)``"""
    if metric in PERCENTILES:
        if not totals.requests:
            return None
        return float(totals.histogram.value_at_percentile(PERCENTILES[metric])) / 1000.0
    if metric == "throughput":
        return float(totals.rate_mean_per_s)
    if metric == "errors":
        return 100.0 * totals.failures / totals.requests if totals.requests else None
    if metric == "shed":
        shed = totals.failures_by_kind.get(SHED, 0)
        return 100.0 * shed / totals.requests if totals.requests else None
    if metric == "lost":
        # An open schedule's dropped sends never became requests: count them as lost too.
        stats = [r.recording.names.get(request) if request else r.total for r in cell.repeats]
        dropped = sum(s.dropped_sends for s in stats if s is not None)
        lost = sum(totals.failures_by_kind.get(kind, 0) for kind in NO_ANSWER) + dropped
        sent = totals.requests + dropped
        return 100.0 * lost / sent if sent else None
    if metric == "wrong":
        answered_wrong = totals.failures - totals.failures_by_kind.get(SHED, 0)
        answered_wrong -= sum(totals.failures_by_kind.get(kind, 0) for kind in NO_ANSWER)
        return 100.0 * answered_wrong / totals.requests if totals.requests else None
    if metric in FAULT_METRICS:
        return _fault_value(cell, FAULT_METRICS[metric])
    if metric == "unreconciled":
        outcomes = [r.reconciliation for r in cell.repeats if r.reconciliation is not None]
        if not outcomes or any("error" in outcome for outcome in outcomes):
            return None
        return float(sum(_unreconciled(outcome) for outcome in outcomes))
    if metric == "cpu_us_per_request":
        cpu = [r.server_cpu_s for r in cell.repeats]
        requests = sum(r.total.requests for r in cell.repeats)
        known = [c for c in cpu if c is not None]
        return (
            1e6 * sum(known) / requests if known and len(known) == len(cpu) and requests else None
        )
    key, summary_key, scale = {
        "loop_lag_max": ("loop_lag_ms", "loop_lag_max_ms", 1.0),
        "rss_max": ("rss_bytes", "rss_max_bytes", 1e-6),
    }[metric]
    values = [
        float(v)
        for r in cell.repeats
        for v in [*(s.get(key) for s in r.signals.series), r.signals.summary.get(summary_key)]
        if isinstance(v, int | float)
    ]
    return max(values) * scale if values else None


def _fault_value(cell: CellResults, key: str) -> float | None:
    """The slowest recovery over every fault of every repeat; inf when one never recovered
    within the load; None when a fault did not happen (not reached, or could not be done)."""
    faults = [fault for repeat in cell.repeats for fault in repeat.faults]
    if not faults or any(fault.get("error") for fault in faults):
        return None
    values = [fault.get(key) for fault in faults]
    return max(float("inf") if value is None else float(value) for value in values)


def _unreconciled(outcome: dict[str, Any]) -> int:
    excess = max(0, int(outcome.get("unacknowledged", 0)) - int(outcome.get("maybe", 0)))
    return int(outcome.get("missing", 0)) + int(outcome.get("wrong_content", 0)) + excess


def _float(value: Any) -> float | None:
    return float(value) if value is not None else None
