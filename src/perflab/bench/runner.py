"""Run studies: every selected cell on a fresh server, repeats interleaved, results as data.

For each study, for each repeat, for each cell (ABAB, not AABB): skip it with the reason if a
service it needs is unreachable; else start its servers, warm up, measure with the server's
signals sampled, and stop everything. A cell that fails is recorded with the error and the run
goes on; a study whose endpoints answer 404 is not available (never faked). The results file
is rewritten after every cell, so a Ctrl-C (which stops every server) keeps what ran.

Usage::

    document = run_bench([load_study("notes", "quick")], BenchOptions(out_dir=Path("out")))
"""

from __future__ import annotations

import shlex
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from perflab.bench import servers
from perflab.bench.availability import missing_service
from perflab.bench.display import BenchDisplay
from perflab.bench.launch import cell_target
from perflab.bench.measure import measure, summary_line, warm_up
from perflab.bench.results import RESULTS_NAME, finish, new_document, write_results
from perflab.bench.study import CellPlan, Study, builtin_dir
from perflab.bench.workload import cell_streams
from perflab.loadgen.errors import LoadgenError


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


class NotAvailable(Exception):
    """The cell's endpoints answered 404: this perflab does not have them."""


def rerun_command(study: Study, cell: str, profile: str) -> str:
    """The command that reruns just this cell. Usage: ``rerun_command(study, "sync", "quick")``"""
    builtin = study.path.parent.resolve() == builtin_dir().resolve()
    target = study.name if builtin else str(study.path)
    return f"perflab bench {shlex.quote(target)} --cell {cell} --profile {profile}"


def study_entry(study: Study) -> dict[str, Any]:
    """The results' Study object, before any cell ran. Usage: ``study_entry(study)``"""
    return {
        "name": study.name,
        "seed": study.seed,
        "title": study.title,
        "question": study.question,
        "slo_p99_ms": study.slo_p99_ms,
        "main_request": study.main_request,
        "status": "ran",
        "reason": None,
        "references": [ref.to_dict() for ref in study.references],
        "cells": [],
    }


def cell_entry(study: Study, plan: CellPlan, profile: str) -> dict[str, Any]:
    """The results' Cell object, before it ran. Usage: ``cell_entry(study, plan, "quick")``"""
    return {
        "name": plan.name,
        "label": plan.label,
        "role": plan.role,
        "settings": plan.settings_dict(),
        "status": "ran",
        "reason": None,
        "rerun": rerun_command(study, plan.name, profile),
        "runs": [],
        "knee": None,
    }


def run_bench(studies: list[Study], options: BenchOptions) -> dict[str, Any]:
    """Run `studies` and write results.json; returns the document. Ctrl-C stops every server,
    writes what ran and re-raises KeyboardInterrupt. Usage: see module."""
    document = new_document(options.command, profile=options.profile, repeat=options.repeat)
    plans = [(study, study.selected_cells(options.cells)) for study in studies]
    runs_per_cell = 1 if options.find_knee else options.repeat
    total = sum(len(cells) for _, cells in plans) * runs_per_cell
    try:
        with BenchDisplay(total, enabled=options.show_progress) as display:
            for study, cells in plans:
                entry = study_entry(study)
                document["studies"].append(entry)
                _run_study(study, cells, entry, options, display, document)
    except KeyboardInterrupt:
        servers.stop_all()
        _interrupted(document)
        raise
    finally:
        finish(document)
        write_results(document, options.results_path)
    return document


def _run_study(
    study: Study,
    cells: list[CellPlan],
    entry: dict[str, Any],
    options: BenchOptions,
    display: BenchDisplay,
    document: dict[str, Any],
) -> None:
    entries = {plan.name: cell_entry(study, plan, options.profile) for plan in cells}
    entry["cells"] = list(entries.values())
    for plan in cells:
        problem = missing_service(plan.needs)
        if problem:
            entries[plan.name].update(status="skipped", reason=problem)
    for repeat in range(1 if options.find_knee else options.repeat):
        for plan in cells:
            cell = entries[plan.name]
            if cell["status"] != "ran":  # skipped, failed or not available: once is enough
                display.start_cell(study.name, plan.name, repeat=repeat, expected_s=None)
                display.end_cell(cell["status"], _first_line(cell["reason"] or ""))
                continue
            _run_cell(study, plan, cell, repeat, options, display)
            _update_study_status(entry)
            write_results(document, options.results_path)
    _update_study_status(entry)


def _run_cell(
    study: Study,
    plan: CellPlan,
    cell: dict[str, Any],
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
                raise NotAvailable(
                    f"{named} answered 404 at {target.base_url}: no such endpoint there"
                )
            if options.find_knee:
                from perflab.bench.knee import find_knee

                display.phase("finding the knee")
                cell["knee"] = find_knee(study, plan, streams, target, progress=display.phase)
                summary = f"knee at {cell['knee']['rate_per_s']} req/s"
            else:
                display.phase("measuring")
                run = measure(
                    streams, target.base_url, target.pid, repeat=repeat,
                    progress=display.load_progress,
                )  # fmt: skip
                cell["runs"].append(run)
                summary = summary_line(run["recording"])
    except KeyboardInterrupt:
        cell.update(status="failed", reason="interrupted (Ctrl-C)")
        raise
    except NotAvailable as exc:
        cell.update(status="skipped", reason=f"{NOT_AVAILABLE}{exc}")
        display.end_cell("not available", str(exc))
        return
    except (servers.StartError, LoadgenError, OSError, ValueError, RuntimeError) as exc:
        cell.update(status="failed", reason=f"{type(exc).__name__}: {exc}")
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


def _update_study_status(entry: dict[str, Any]) -> None:
    statuses = [cell["status"] for cell in entry["cells"]]
    missing = [c["reason"] for c in entry["cells"] if (c["reason"] or "").startswith(NOT_AVAILABLE)]
    if missing and "ran" not in statuses:
        entry.update(status="not_available", reason=missing[0][len(NOT_AVAILABLE) :])
    elif statuses and all(status == "skipped" for status in statuses):
        reasons = sorted({cell["reason"] for cell in entry["cells"] if cell["reason"]})
        entry.update(status="skipped", reason="; ".join(reasons) or None)
    else:
        entry.update(status="ran", reason=None)


def _interrupted(document: dict[str, Any]) -> None:
    """Cells that never started are marked, so the partial file says what is missing."""
    for study in document["studies"]:
        for cell in study["cells"]:
            if cell["status"] == "ran" and not cell["runs"] and cell["knee"] is None:
                cell.update(status="failed", reason="interrupted (Ctrl-C) before it ran")
