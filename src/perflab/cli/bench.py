"""`perflab bench`: run studies (or find a cell's knee) and print the report.

Usage::

    perflab bench                                  # all five studies, quick profile
    perflab bench faceblur notes --profile full --repeat 3
    perflab bench faceblur --cell async-process --find-knee
    perflab bench ./my-service.toml                # a user's own study
    perflab bench --list
    perflab bench notes --against main --repeat 3  # a duet: main (A) vs this checkout (B)
    perflab bench notes --baseline ../perflab-old  # a duet against a folder of code
"""

from __future__ import annotations

import shlex
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from perflab.cli.interrupt import interruptible
from perflab.results.errors import StudyError
from perflab.results.goals import NOT_MET

if TYPE_CHECKING:
    from perflab.bench.placement import Placement
    from perflab.results.model import RunResults

DEFAULT_OUT_ROOT = Path("perflab-results")

# Where the bench runs (perflab.bench.placement); shared with `perflab calibrate`.
CpusOption = Annotated[
    str | None,
    typer.Option(
        "--cpus",
        help="Run the service and the load generator on these CPUs (e.g. 0): the same as "
        "--server-cpus and --load-cpus both set to it.",
    ),
]
ServerCpusOption = Annotated[
    str | None,
    typer.Option(
        help="Run every process of the service under test on these CPUs (taskset-style: 1, "
        "0-1, 0,2); recorded with the results, so compare sees a placed run as its own machine."
    ),
]
LoadCpusOption = Annotated[
    str | None,
    typer.Option(help="Run the load generator (this process) on these CPUs."),
]


def placement_of(cpus: str | None, server_cpus: str | None, load_cpus: str | None) -> Placement:
    """The placement the three CPU options ask for; a bad list is a usage error."""
    from perflab.bench.placement import Placement

    if cpus is not None and (server_cpus is not None or load_cpus is not None):
        raise typer.BadParameter("--cpus sets both sides: give it alone, or the two others")
    try:
        if cpus is not None:
            return Placement.parse(cpus, cpus)
        return Placement.parse(server_cpus, load_cpus)
    except StudyError as exc:
        raise typer.BadParameter(str(exc)) from None


def bench(
    studies: Annotated[
        list[str] | None,
        typer.Argument(help="Studies to run (built-in names or study TOML files); default: all."),
    ] = None,
    profile: Annotated[
        str, typer.Option(help="quick (minutes), full (the seeds' own loads) or smoke (CI).")
    ] = "quick",
    out: Annotated[
        Path | None,
        typer.Option(help="Results folder; default perflab-results/<run id>/."),
    ] = None,
    repeat: Annotated[
        int | None,
        typer.Option(
            min=1,
            help="Runs per cell, interleaved (ABAB), each on a fresh server; default: what "
            "the study's profile says (`repeat`), else 1.",
        ),
    ] = None,
    cell: Annotated[
        list[str] | None,
        typer.Option(
            help="Run only this cell (repeat the option for more); any cell, any profile."
        ),
    ] = None,
    find_knee: Annotated[
        bool,
        typer.Option(
            "--find-knee",
            help="Find each cell's knee: the highest open-model rate with p99 under the SLO.",
        ),
    ] = False,
    list_: Annotated[
        bool, typer.Option("--list", help="List studies, their cells and profiles, then exit.")
    ] = False,
    progress: Annotated[bool, typer.Option(help="Live progress display on a terminal.")] = True,
    strict: Annotated[
        bool,
        typer.Option(
            "--strict",
            help="Exit 1 when a cell failed to run or any request got a wrong answer (for CI).",
        ),
    ] = False,
    max_warmup_s: Annotated[
        float,
        typer.Option(
            min=0.0,
            help="Warm each server until throughput is steady, at most this long (at least "
            "the study's warmup_s); 0: the study's fixed warm-up.",
        ),
    ] = 30.0,
    against: Annotated[
        str | None,
        typer.Option(
            help="Duet: also run this git revision (a worktree), interleaved with this "
            "checkout, then compare them; exit 1 on a regression."
        ),
    ] = None,
    baseline: Annotated[
        Path | None,
        typer.Option(help="Duet against a folder of code instead of a revision."),
    ] = None,
    against_command: Annotated[
        str | None,
        typer.Option(help="Duet for a study's own server: the other version's command."),
    ] = None,
    calibration: Annotated[
        Path | None,
        typer.Option(
            help="Duet: judge with this calibration file (`perflab calibrate --into`), e.g. "
            "the CI machine type's, instead of perflab-results/calibration/<machine>.json."
        ),
    ] = None,
    engine: Annotated[
        str,
        typer.Option(
            help="What drives the measured load: perflab (its own engine) or locust (locust's "
            "master/worker runner with perflab's checks and exact histograms; docs/locust.md)."
        ),
    ] = "perflab",
    locust_workers: Annotated[
        int, typer.Option(min=0, help="--engine locust: worker processes on this machine.")
    ] = 2,
    locust_remote_workers: Annotated[
        int,
        typer.Option(
            min=0,
            help="--engine locust: also wait for this many workers from other machines "
            "(`perflab locust-worker --master-host THIS_HOST`; the master listens on 5557).",
        ),
    ] = 0,
    cpus: CpusOption = None,
    server_cpus: ServerCpusOption = None,
    load_cpus: LoadCpusOption = None,
) -> None:
    """Reproduce the studies on this machine: each cell on a fresh server, results as JSON."""
    # Imported here, not at the top: every `perflab` command (serve included) loads this
    # module to register it, and needs none of the lab's machinery.
    from perflab.bench.runner import BenchOptions, run_bench
    from perflab.bench.study import builtin_names, load_study
    from perflab.limits import raise_open_files_limit
    from perflab.results.document import new_run_id

    if list_:
        typer.echo(_listing(studies or builtin_names(), profile))
        return
    names = studies or builtin_names()
    placement = placement_of(cpus, server_cpus, load_cpus)
    try:
        loaded = [load_study(name, profile) for name in names]
        if cell:
            if len(loaded) != 1:
                raise StudyError("--cell needs exactly one study")
            loaded[0].selected_cells(cell)  # unknown cell: a clear error now, not mid-run
    except StudyError as exc:
        raise typer.BadParameter(str(exc)) from None
    raise_open_files_limit()  # a connection per user: the full profile opens 600
    command = "perflab bench " + " ".join(shlex.quote(a) for a in sys.argv[2:])
    if out is None:
        out = DEFAULT_OUT_ROOT / new_run_id()
    from perflab.cli.locust import bench_driver

    driver = bench_driver(engine, locust_workers, locust_remote_workers, out, find_knee)
    options = BenchOptions(
        driver=driver,
        out_dir=out,
        profile=profile,
        repeat=repeat,
        cells=cell,
        command=command.strip(),
        find_knee=find_knee,
        show_progress=progress,
        max_warmup_s=max_warmup_s or None,
        placement=placement,
    )
    duet = against is not None or baseline is not None or against_command is not None
    if calibration is not None and not duet:
        raise typer.BadParameter(
            "--calibration judges a duet: with --against, --baseline or --against-command "
            "(for two stored runs: perflab compare OLD NEW --calibration FILE)"
        )
    if duet:
        from perflab.cli.duet import run_duet

        run_duet(
            loaded, options, against=against, baseline=baseline, command=against_command,
            calibration=calibration,
        )  # fmt: skip
        return
    with interruptible(f"in {options.results_path}"):
        run = run_bench(loaded, options)
    typer.echo(f"results: {options.results_path}", err=True)
    _report(options.out_dir)
    problems = strict_problems(run)
    if strict and problems:
        typer.echo("--strict: " + "; ".join(problems), err=True)
        raise typer.Exit(1)


def strict_problems(run: RunResults) -> list[str]:
    """What `--strict` fails on: cells that failed, measured requests that failed, and goals
    not met. Skipped cells (a service not reachable) and goals not measured are not problems:
    their reason is reported.

    Usage: ``strict_problems(read_run(path))``"""
    problems = []
    for study in run.studies:
        for cell in study.cells:
            where = f"{study.name}/{cell.name}"
            if cell.status == "failed":
                problems.append(f"{where} failed: {cell.reason}")
            for repeat in cell.repeats:
                failures = dict(sorted(repeat.total.failures.items()))
                if failures:
                    problems.append(f"{where} repeat {repeat.repeat}: failures {failures}")
        for goal in study.goals:
            if goal.status == NOT_MET:
                problems.append(f"{study.name} goal not met: {goal.name} ({goal.detail})")
    return problems


def _report(out_dir: Path) -> None:
    """The report (Markdown printed; report.md and report.html written beside the results)."""
    from perflab.report.render import render_report

    markdown, markdown_path, html_path = render_report(out_dir)
    typer.echo(markdown)
    typer.echo(f"report: {markdown_path} and {html_path}", err=True)


def _listing(names: list[str], profile: str) -> str:
    from perflab.bench.study import PROFILES, load_study

    lines = [f"profiles: {', '.join(PROFILES)} (cells marked * run in --profile {profile})"]
    for name in names:
        try:
            study = load_study(name, profile)
        except StudyError as exc:
            lines.append(f"{name}: cannot load: {exc}")
            continue
        seed = f"seed {study.seed}" if study.seed else str(study.path)
        lines.append(f"\n{study.name} ({seed}): {study.title}")
        lines.append(f"  {study.question}")
        if study.repeat > 1:
            lines.append(f"  runs each cell {study.repeat} times in --profile {profile}")
        for plan in study.cells:
            mark = "*" if plan.name in study.selected else " "
            needs = f" [needs {', '.join(plan.needs)}]" if plan.needs else ""
            lines.append(f"  {mark} {plan.name:<18} {plan.role:<7} {plan.label}{needs}")
    return "\n".join(lines)
