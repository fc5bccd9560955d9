"""One run of one cell for the runner: start its target, warm up until steady, measure, and
record the repeat (or the knee) with the conditions it ran under; the results objects a study
and a cell start from.

Usage::

    cell = cell_results(study, plan, "quick")
    run_cell(study, plan, cell, repeat=0, settings=CellRun(out_dir, False, 30.0), display=d)
"""

from __future__ import annotations

import os
import shlex
import time
from dataclasses import dataclass
from pathlib import Path

import psutil

from perflab.bench.display import BenchDisplay
from perflab.bench.faults.runner import FaultContext
from perflab.bench.faults.session import FaultSession, cell_fault_plan
from perflab.bench.measure import LoadDriver, measure, summary_line, warm_up
from perflab.bench.steal import StealMeter
from perflab.bench.study import CellPlan, Study, builtin_dir
from perflab.bench.target import Target, cell_target
from perflab.bench.workload import cell_streams, main_request
from perflab.loadgen import Stream
from perflab.loadgen.errors import LoadgenError
from perflab.results.errors import CellNotAvailable, LabError
from perflab.results.model import CellResults, StudyResults
from perflab.results.run_values import generator_cpu_share

NOT_AVAILABLE = "not available: "  # how a cell's reason says its endpoint is missing
PENDING = "pending"  # a cell not run yet, in a results file written mid-run
BUSY_SAMPLE_S = 0.3  # how long the machine's CPU use is sampled before a repeat starts


@dataclass(frozen=True)
class CellRun:
    """How to run a cell. Usage: ``CellRun(Path("out"), find_knee=False, max_warmup_s=30.0)``"""

    log_root: Path  # logs go under LOG_ROOT/logs/<study>/<cell>-<repeat>/
    find_knee: bool = False
    max_warmup_s: float | None = None  # None: the study's fixed warm-up
    driver: LoadDriver | None = None  # None: perflab's own engine runs the measured load


def rerun_command(study: Study, cell: str, profile: str) -> str:
    """The command that reruns just this cell. Usage: ``rerun_command(study, "sync", "quick")``"""
    builtin = study.path.parent.resolve() == builtin_dir().resolve()
    target = study.name if builtin else str(study.path)
    return f"perflab bench {shlex.quote(target)} --cell {cell} --profile {profile}"


def study_results(study: Study) -> StudyResults:
    """The results of a study, before any cell ran. Usage: ``study_results(study)``"""
    return StudyResults(
        name=study.name,
        title=study.title,
        question=study.question,
        seed=study.seed,
        slo_p99_ms=study.slo_p99_ms,
        main_request=study.main_request,
        references=[ref.to_dict() for ref in study.references],
    )


def cell_results(study: Study, plan: CellPlan, profile: str) -> CellResults:
    """The results of a cell, before it ran. Usage: ``cell_results(study, plan, "quick")``"""
    return CellResults(
        name=plan.name,
        label=plan.label,
        role=plan.role,
        settings=plan.settings_dict(),
        status=PENDING,
        rerun=rerun_command(study, plan.name, profile),
    )


def run_cell(
    study: Study,
    plan: CellPlan,
    cell: CellResults,
    *,
    repeat: int,
    settings: CellRun,
    display: BenchDisplay,
    label: str = "",
) -> None:
    """Run `plan` once and record it in `cell` (a repeat, the knee, or why it failed).
    Ctrl-C marks the cell failed and re-raises. Usage: see module."""
    name = f"{plan.name} {label}".strip()
    display.start_cell(study.name, name, repeat=repeat, expected_s=_expected_s(plan))
    log_dir = settings.log_root / "logs" / study.name / f"{plan.name}-{repeat}"
    started_s = time.monotonic()
    # Another process already busy now competes with this repeat: recorded, never waited out.
    busy_pct = psutil.cpu_percent(interval=BUSY_SAMPLE_S)
    load_avg_1m = os.getloadavg()[0]
    try:
        with cell_target(study, plan, log_dir=log_dir) as target:
            streams = cell_streams(plan, target.base_url)
            display.phase(
                "warming up" if settings.max_warmup_s else f"warming up ({plan.warmup_s:g} s)"
            )
            warm = warm_up(streams, plan.warmup_s, max_warmup_s=settings.max_warmup_s)
            if warm.missing:
                where = {s.label: f"{s.method} {s.target}" for t in streams for s in t.requests}
                named = ", ".join(f"{name} ({where[name]})" for name in warm.missing)
                raise CellNotAvailable(
                    f"{named} answered 404 at {target.base_url}: no such endpoint there"
                )
            if settings.find_knee:
                from perflab.bench.knee import find_knee

                display.phase("finding the knee")
                cell.knee = find_knee(study, plan, streams, target, progress=display.phase)
                cell.status = "ran"
                summary = f"knee at {cell.knee['rate_per_s']} req/s"
            else:
                display.phase("measuring")
                session = _fault_session(study, plan, target, streams)
                if session is not None:
                    session.start()
                steal = StealMeter()
                try:
                    measured = measure(
                        streams, target.base_url, target.pid, repeat=repeat,
                        progress=display.load_progress, driver=settings.driver,
                    )  # fmt: skip
                    stolen_pct = steal.pct()  # the load's own stretch, not the accounting after
                except BaseException:
                    if session is not None:
                        session.abort()  # a paused process resumed, a stopped service back
                    raise
                if session is not None:
                    display.phase("accounting for every request")
                    session.finish(measured)
                share = generator_cpu_share(measured)
                measured.extra["conditions"] = {
                    **warm.conditions(),
                    "busy_pct_before": busy_pct,
                    "load_avg_1m_before": round(load_avg_1m, 2),
                    "generator_cpu_share": None if share is None else round(share, 3),
                    "steal_pct": stolen_pct,
                }
                cell.repeats.append(measured)
                cell.status = "ran"
                summary = summary_line(measured, study.main_request)
    except KeyboardInterrupt:
        cell.status, cell.reason = "failed", "interrupted (Ctrl-C)"
        raise
    except CellNotAvailable as exc:
        cell.status, cell.reason = "skipped", f"{NOT_AVAILABLE}{exc}"
        display.end_cell("not available", str(exc))
        return
    except (LabError, LoadgenError, OSError) as exc:
        cell.status, cell.reason = "failed", f"{type(exc).__name__}: {exc}"
        display.end_cell("failed", first_line(str(exc)))
        return
    display.end_cell("ran", f"{summary} ({time.monotonic() - started_s:.0f} s)")


def _fault_session(
    study: Study, plan: CellPlan, target: Target, streams: list[Stream]
) -> FaultSession | None:
    """The faults (and reconciliation) around this cell's load, or None without any."""
    fault_plan = cell_fault_plan(plan.settings, plan.name)
    if not fault_plan.faults and fault_plan.reconcile is None:
        return None
    context = FaultContext(
        server_pid=target.pid,
        queue_worker_pids=list(target.queue_worker_pids),
        services=dict(target.services),
        database_url=target.database_url,
    )
    spec = main_request(streams, study.main_request)
    return FaultSession(
        fault_plan, context, spec, slo_p99_ms=study.slo_p99_ms, request=study.main_request
    )


def first_line(text: str) -> str:
    """The first line of a message. Usage: ``first_line(reason)``"""
    return text.strip().splitlines()[0] if text.strip() else ""


def _expected_s(plan: CellPlan) -> float | None:
    """Seconds the measured load should last (None for a closed model: it depends)."""
    loads = plan.settings.get("stream") or [plan.settings.get("load", {})]
    durations = [float(load["duration_s"]) for load in loads if "duration_s" in load]
    return max(durations) if durations else None
