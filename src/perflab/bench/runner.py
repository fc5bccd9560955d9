"""Run studies: every selected cell on a fresh server, repeats interleaved, results as data.

For each study, for each repeat, for each cell (ABAB, not AABB): skip it with the reason if a
service it needs is unreachable; else start its servers, warm up until throughput is steady,
measure with the server's signals sampled, and stop everything. A cell that fails is recorded
with the error and the run goes on; a study whose endpoints answer 404 is not available (never
faked). The results file is rewritten after every cell, so a Ctrl-C (which stops every
server) keeps what ran.

A run can measure several versions of the service side by side (a duet, `bench.duet`): each
cell of each version on its own fresh server, the versions' order alternating from repeat to
repeat (AB, BA, ...), each version's results in a document of its own.

Usage::

    run = run_bench([load_study("notes", "quick")], BenchOptions(out_dir=Path("out")))
    a, b = run_versions(studies, options, [Version("A", out / "A", env=...), Version("B", ...)])
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from perflab.bench import launcher
from perflab.bench.availability import missing_service
from perflab.bench.cell_run import (
    NOT_AVAILABLE,
    PENDING,
    CellRun,
    cell_results,
    first_line,
    rerun_command,
    run_cell,
    study_results,
)
from perflab.bench.display import BenchDisplay
from perflab.bench.goals import evaluate_goals
from perflab.bench.measure import LoadDriver
from perflab.bench.placement import Placement, placed, resolve_setting
from perflab.bench.study import CellPlan, Study
from perflab.results.document import RESULTS_NAME, finish_run, new_run, write_run
from perflab.results.model import CellResults, RunResults, StudyResults

__all__ = [
    "NOT_AVAILABLE",
    "PENDING",
    "BenchOptions",
    "Version",
    "cell_results",
    "is_own_server",
    "rerun_command",
    "run_bench",
    "run_versions",
    "study_results",
]

# A fresh server's warm-up stops once throughput is steady, and at the latest after this long.
DEFAULT_MAX_WARMUP_S = 30.0


@dataclass
class BenchOptions:
    """How to run. Usage: ``BenchOptions(out_dir=Path("out"), repeat=2)``"""

    out_dir: Path
    profile: str = "quick"
    repeat: int | None = None  # runs per cell; None: each study's profile says (default 1)
    cells: list[str] | None = None  # names; None: each study's profile choice
    command: str = "perflab bench"
    find_knee: bool = False
    show_progress: bool = True
    max_warmup_s: float | None = DEFAULT_MAX_WARMUP_S  # None or 0: the study's fixed warm-up
    driver: LoadDriver | None = None  # None: perflab's engine; else e.g. `--engine locust`'s
    placement: Placement = field(default_factory=Placement)  # --server-cpus / --load-cpus

    @property
    def results_path(self) -> Path:
        return self.out_dir / RESULTS_NAME


@dataclass(frozen=True)
class Version:
    """One version of the service under test, as a run measures it: `perflab serve` from
    another source tree (`perflab_env`: PYTHONPATH), or a cell's own server with another
    command or working tree. Usage: ``Version("A", out / "A", perflab_env={"PYTHONPATH": p})``
    """

    label: str  # "" for a plain run; "A", "B" in a duet
    out_dir: Path  # its results.json and logs
    perflab_env: dict[str, str] = field(default_factory=dict)  # added to `perflab serve`'s env
    command: str | None = None  # replaces a cell's own server command
    trees: tuple[Path, Path] | None = None  # (this tree, the other): a server's cwd moves over
    cwd: Path | None = None  # a cell's own server runs here instead
    machine: dict[str, Any] = field(default_factory=dict)  # keys set in the run's machine

    def plan(self, plan: CellPlan) -> CellPlan:
        """The cell as this version runs it. Usage: ``version.plan(plan)``"""
        server = plan.server
        if server is None:
            return plan
        settings = dict(plan.settings)
        if not is_own_server(server):
            if self.perflab_env:
                settings["env"] = {**settings.get("env", {}), **self.perflab_env}
            return dataclasses.replace(plan, settings=settings)
        if self.command is not None:
            server["command"] = self.command
        if self.cwd is not None:
            server["cwd"] = str(self.cwd)
        elif self.trees is not None:
            # base_dir: the study file's folder, where a server's relative cwd starts from.
            base_dir = Path(getattr(plan, "base_dir", Path(".")))
            cwd = (base_dir / str(server.get("cwd", "."))).resolve()
            this, other = self.trees
            if cwd.is_relative_to(this):
                server["cwd"] = str(other / cwd.relative_to(this))
        settings["server"] = server
        return dataclasses.replace(plan, settings=settings)


def is_own_server(server: dict[str, Any]) -> bool:
    """Whether a [server] table starts the user's own server (a command or an app on a
    runner), not `perflab serve`. Usage: ``is_own_server(plan.server or {})``"""
    return "command" in server or "app" in server


def cell_plans(
    studies: list[Study], names: list[str] | None = None
) -> list[tuple[Study, list[CellPlan]]]:
    """Each study with the cells a bench of it runs: `names` (`--cell`), else its profile's.
    Usage: ``cell_plans(studies, options.cells)``"""
    return [(study, study.selected_cells(names)) for study in studies]


def run_bench(studies: list[Study], options: BenchOptions) -> RunResults:
    """Run `studies` and write results.json; returns the run. Ctrl-C stops every server,
    writes what ran and re-raises KeyboardInterrupt. Usage: see module."""
    return run_versions(studies, options, [Version("", options.out_dir)])[0]


def run_versions(
    studies: list[Study], options: BenchOptions, versions: list[Version]
) -> list[RunResults]:
    """Run `studies` for each version, interleaved cell by cell; one results.json per
    version (in its out_dir). Ctrl-C as `run_bench`. Usage: see module."""
    runs = []
    repeats = {study.name: _repeats(study, options) for study in studies}
    for version in versions:
        run = new_run(
            options.command, profile=options.profile, repeat=max(repeats.values(), default=1)
        )
        run.machine.update(version.machine)
        if options.placement:
            run.machine["placement"] = options.placement.describe()
        runs.append(run)
    plans = cell_plans(studies, options.cells)
    total = sum(len(cells) * repeats[study.name] for study, cells in plans) * len(versions)
    try:
        with (
            placed(options.placement),
            BenchDisplay(total, enabled=options.show_progress) as display,
        ):
            for study, cells in plans:
                results = [study_results(study) for _ in versions]
                for run, study_result in zip(runs, results, strict=True):
                    run.studies.append(study_result)
                _run_study(study, cells, list(zip(versions, runs, results, strict=True)),
                           options, repeats[study.name], display)  # fmt: skip
    except KeyboardInterrupt:
        launcher.stop_all()
        for run in runs:
            _interrupted(run)
        raise
    finally:
        for run, version in zip(runs, versions, strict=True):
            finish_run(run)
            write_run(run, version.out_dir / RESULTS_NAME)
    return runs


Side = tuple[Version, RunResults, StudyResults]


def _run_study(
    study: Study,
    cells: list[CellPlan],
    sides: list[Side],
    options: BenchOptions,
    repeats: int,
    display: BenchDisplay,
) -> None:
    cells = [_with_placement(plan, options.placement) for plan in cells]
    by_side: list[dict[str, CellResults]] = []
    for _, _, results in sides:
        by_name = {plan.name: cell_results(study, plan, options.profile) for plan in cells}
        results.cells = list(by_name.values())
        by_side.append(by_name)
    for plan in cells:
        problem = missing_service(plan.needs)
        if problem:
            for by_name in by_side:
                by_name[plan.name].status, by_name[plan.name].reason = "skipped", problem
    for repeat in range(repeats):
        for plan in cells:
            # The versions' order alternates (AB, BA, ...): neither always runs second.
            order = list(range(len(sides)))
            for index in order if repeat % 2 == 0 else order[::-1]:
                version, run, results = sides[index]
                cell = by_side[index][plan.name]
                label = f"[{version.label}]" if version.label else ""
                if cell.status not in (PENDING, "ran"):  # skipped, failed or not available
                    display.start_cell(study.name, f"{plan.name} {label}".strip(),
                                       repeat=repeat, expected_s=None)  # fmt: skip
                    display.end_cell(cell.status, first_line(cell.reason or ""))
                    continue
                settings = CellRun(version.out_dir, options.find_knee, options.max_warmup_s or None,
                                   options.driver)  # fmt: skip
                with placed(Placement.from_setting(plan.settings.get("placement"))):
                    run_cell(study, version.plan(plan), cell, repeat=repeat, settings=settings,
                             display=display, label=label)  # fmt: skip
                _update_study_status(results)
                write_run(run, version.out_dir / RESULTS_NAME)
    for _, run, results in sides:
        _update_study_status(results)
        if not options.find_knee:
            results.goals = evaluate_goals(
                study.goals, results, options.profile, _server_cores(cells, options, run)
            )


def _with_placement(plan: CellPlan, command: Placement) -> CellPlan:
    """`plan` with its `placement` setting resolved to this machine's CPUs (or dropped: the
    command placed the whole run, or there is nothing to split). perflab.bench.placement."""
    if "placement" not in plan.settings:
        return plan
    settings = dict(plan.settings)
    resolved = resolve_setting(settings.pop("placement"), command)
    if resolved:
        settings["placement"] = resolved
    return dataclasses.replace(plan, settings=settings)


def _server_cores(cells: list[CellPlan], options: BenchOptions, run: RunResults) -> int | None:
    """The service's cores, as goals count them: its placement's (the command's, else the
    fewest any of the study's cells was placed on), else the machine's as recorded before the
    bench placed itself (with --load-cpus alone this process sees only those)."""
    if options.placement.server is not None:
        return len(options.placement.server)
    placed_on = [
        Placement.from_setting(plan.settings["placement"]).server
        for plan in cells
        if "placement" in plan.settings
    ]
    counts = [len(server) for server in placed_on if server is not None]
    return min(counts) if counts else run.machine.get("usable_cores")


def _repeats(study: Study, options: BenchOptions) -> int:
    """Runs per cell: one to find a knee, else --repeat, else what the study's profile says."""
    if options.find_knee:
        return 1
    return options.repeat if options.repeat is not None else study.repeat


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
