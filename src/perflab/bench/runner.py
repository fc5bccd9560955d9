"""Run studies: every selected cell on a fresh server, repeats interleaved, results as data.

For each study, for each repeat, for each cell (ABAB, not AABB): skip it with the reason if a
service it needs is unreachable; else start its servers, warm up, measure with the server's
signals sampled, and stop everything. A cell that fails is recorded with the error and the run
goes on; a study whose endpoints answer 404 is not available (never faked). The results file
is rewritten after every cell, so a Ctrl-C (which stops every server) keeps what ran.

Usage::

    run = run_bench([load_study("notes", "quick")], BenchOptions(out_dir=Path("out")))
    run.studies[0].goals
"""

from __future__ import annotations

import shlex
import time
from dataclasses import dataclass
from pathlib import Path

from perflab.bench import launcher
from perflab.bench.availability import missing_service
from perflab.bench.display import BenchDisplay
from perflab.bench.goals import evaluate_goals
from perflab.bench.measure import measure, summary_line, warm_up
from perflab.bench.study import CellPlan, Study, builtin_dir
from perflab.bench.target import cell_target
from perflab.bench.workload import cell_streams
from perflab.loadgen.errors import LoadgenError
from perflab.results.document import RESULTS_NAME, finish_run, new_run, write_run
from perflab.results.errors import CellNotAvailable, LabError
from perflab.results.model import CellResults, RunResults, StudyResults


@dataclass
class BenchOptions:
    """How to run. Usage: ``BenchOptions(out_dir=Path("out"), repeat=2)``"""

    out_dir: Path
    profile: str = "quick"
    repeat: int = 1
    cells: list[str] | None = None  # names; None: each study's profile choice
    command: str = "perflab bench"
    find_knee: bool = False
    show_progress: bool = True

    @property
    def results_path(self) -> Path:
        return self.out_dir / RESULTS_NAME


NOT_AVAILABLE = "not available: "  # how a cell's reason says its endpoint is missing
PENDING = "pending"  # a cell not run yet, in a results file written mid-run


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


def run_bench(studies: list[Study], options: BenchOptions) -> RunResults:
    """Run `studies` and write results.json; returns the run. Ctrl-C stops every server,
    writes what ran and re-raises KeyboardInterrupt. Usage: see module."""
    run = new_run(options.command, profile=options.profile, repeat=options.repeat)
    plans = [(study, study.selected_cells(options.cells)) for study in studies]
    runs_per_cell = 1 if options.find_knee else options.repeat
    total = sum(len(cells) for _, cells in plans) * runs_per_cell
    try:
        with BenchDisplay(total, enabled=options.show_progress) as display:
            for study, cells in plans:
                results = study_results(study)
                run.studies.append(results)
                _run_study(study, cells, results, options, display, run)
    except KeyboardInterrupt:
        launcher.stop_all()
        _interrupted(run)
        raise
    finally:
        finish_run(run)
        write_run(run, options.results_path)
    return run


def _run_study(
    study: Study,
    cells: list[CellPlan],
    results: StudyResults,
    options: BenchOptions,
    display: BenchDisplay,
    run: RunResults,
) -> None:
    by_name = {plan.name: cell_results(study, plan, options.profile) for plan in cells}
    results.cells = list(by_name.values())
    for plan in cells:
        problem = missing_service(plan.needs)
        if problem:
            by_name[plan.name].status, by_name[plan.name].reason = "skipped", problem
    for repeat in range(1 if options.find_knee else options.repeat):
        for plan in cells:
            cell = by_name[plan.name]
            if cell.status not in (PENDING, "ran"):  # skipped, failed or not available: once
                display.start_cell(study.name, plan.name, repeat=repeat, expected_s=None)
                display.end_cell(cell.status, _first_line(cell.reason or ""))
                continue
            _run_cell(study, plan, cell, repeat, options, display)
            _update_study_status(results)
            write_run(run, options.results_path)
    _update_study_status(results)
    if not options.find_knee:
        results.goals = evaluate_goals(study.goals, results, options.profile)


def _run_cell(
    study: Study,
    plan: CellPlan,
    cell: CellResults,
    repeat: int,
    options: BenchOptions,
    display: BenchDisplay,
) -> None:
    display.start_cell(study.name, plan.name, repeat=repeat, expected_s=_expected_s(plan))
    log_dir = options.out_dir / "logs" / study.name / f"{plan.name}-{repeat}"
    started_s = time.monotonic()
    try:
        with cell_target(study, plan, log_dir=log_dir) as target:
            streams = cell_streams(plan, target.base_url)
            display.phase(f"warming up ({plan.warmup_s:g} s)")
            missing = warm_up(streams, plan.warmup_s)
            if missing:
                where = {s.label: f"{s.method} {s.target}" for t in streams for s in t.requests}
                named = ", ".join(f"{name} ({where[name]})" for name in missing)
                raise CellNotAvailable(
                    f"{named} answered 404 at {target.base_url}: no such endpoint there"
                )
            if options.find_knee:
                from perflab.bench.knee import find_knee

                display.phase("finding the knee")
                cell.knee = find_knee(study, plan, streams, target, progress=display.phase)
                cell.status = "ran"
                summary = f"knee at {cell.knee['rate_per_s']} req/s"
            else:
                display.phase("measuring")
                measured = measure(
                    streams, target.base_url, target.pid, repeat=repeat,
                    progress=display.load_progress,
                )  # fmt: skip
                cell.repeats.append(measured)
                cell.status = "ran"
                summary = summary_line(measured)
    except KeyboardInterrupt:
        cell.status, cell.reason = "failed", "interrupted (Ctrl-C)"
        raise
    except CellNotAvailable as exc:
        cell.status, cell.reason = "skipped", f"{NOT_AVAILABLE}{exc}"
        display.end_cell("not available", str(exc))
        return
    except (LabError, LoadgenError, OSError) as exc:
        cell.status, cell.reason = "failed", f"{type(exc).__name__}: {exc}"
        display.end_cell("failed", _first_line(str(exc)))
        return
    display.end_cell("ran", f"{summary} ({time.monotonic() - started_s:.0f} s)")


def _first_line(text: str) -> str:
    return text.strip().splitlines()[0] if text.strip() else ""


def _expected_s(plan: CellPlan) -> float | None:
    """Seconds the measured load should last (None for a closed model: it depends)."""
    loads = plan.settings.get("stream") or [plan.settings.get("load", {})]
    durations = [float(load["duration_s"]) for load in loads if "duration_s" in load]
    return max(durations) if durations else None


def _update_study_status(study: StudyResults) -> None:
    statuses = [cell.status for cell in study.cells if cell.status != PENDING]
    missing = [c.reason for c in study.cells if (c.reason or "").startswith(NOT_AVAILABLE)]
    if missing and "ran" not in statuses:
        study.status, study.reason = "not_available", (missing[0] or "")[len(NOT_AVAILABLE) :]
    elif statuses and all(status == "skipped" for status in statuses):
        reasons = sorted({cell.reason for cell in study.cells if cell.reason})
        study.status, study.reason = "skipped", "; ".join(reasons) or None
    else:
        study.status, study.reason = "ran", None


def _interrupted(run: RunResults) -> None:
    """Cells that never started are marked, so the partial file says what is missing."""
    for study in run.studies:
        for cell in study.cells:
            if cell.status == PENDING:
                cell.status, cell.reason = "failed", "interrupted (Ctrl-C) before it ran"
