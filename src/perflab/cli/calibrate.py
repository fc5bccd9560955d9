"""`perflab calibrate STUDY...`: measure this machine's noise. Runs the studies' cells as A/A
repeats (the same code, `--repeat` times, interleaved, each on a fresh server), stores each
cell's and metric's run-to-run spread at perflab-results/calibration/<machine>.json (merged
with what is there) and prints the spreads with the smallest change `perflab compare` can
then call at 1, 3 and 5 repeats a side (docs/compare.md, "Calibration").

Usage::

    perflab calibrate faceblur notes payload --repeat 10       # measure, then store
    perflab calibrate --from perflab-results/aa-run            # from a run with repeats
    perflab calibrate notes --repeat 3 --runs 5                # + each run's own level
    perflab calibrate --from ci/run-1 --from ci/run-2 --from ci/run-3   # stored A/A runs
    perflab calibrate notes --repeat 10 --into ci-calibration.json
    perflab calibrate notes --repeat 10 --server-cpus 1 --load-cpus 0   # a placed bench's noise
"""

from __future__ import annotations

import math
import shlex
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from perflab.cli.bench import (
    DEFAULT_OUT_ROOT,
    CpusOption,
    LoadCpusOption,
    ServerCpusOption,
    placement_of,
)
from perflab.cli.interrupt import interruptible
from perflab.results.calibration import DEFAULT_REPEAT
from perflab.results.errors import LabError, StudyError

if TYPE_CHECKING:
    from perflab.bench.placement import Placement
    from perflab.results.calibration import Calibration
    from perflab.results.model import RunResults

SHOWN_REPEATS = (1, 3, 5)
# The duet column's pairs: `perflab bench --against REV --repeat 3`, the recommended duet.
DUET_PAIRS = 3


def calibrate(
    studies: Annotated[
        list[str] | None,
        typer.Argument(help="Studies to calibrate (built-in names or study TOML files)."),
    ] = None,
    repeat: Annotated[
        int, typer.Option(min=3, help="A/A runs per cell: 10 or more for a useful spread.")
    ] = DEFAULT_REPEAT,
    profile: Annotated[str, typer.Option(help="The profile compare will judge.")] = "quick",
    cell: Annotated[list[str] | None, typer.Option(help="Only this cell (repeatable).")] = None,
    out: Annotated[Path | None, typer.Option(help="Folder for the A/A run's results.")] = None,
    runs: Annotated[
        int,
        typer.Option(
            min=1,
            help="Separate bench runs of --repeat repeats each; from 3, each run's own level "
            "is measured too (what two separate runs add in compare).",
        ),
    ] = 1,
    from_run: Annotated[
        list[Path] | None,
        typer.Option(
            "--from",
            help="Measure nothing: take the spreads of this stored run (repeatable: from 3 "
            "runs, each run's own level too).",
        ),
    ] = None,
    into: Annotated[
        Path | None,
        typer.Option(help="Calibration file; default perflab-results/calibration/<machine>.json"),
    ] = None,
    max_warmup_s: Annotated[
        float, typer.Option(min=0.0, help="As `perflab bench --max-warmup-s`.")
    ] = 30.0,
    progress: Annotated[bool, typer.Option(help="Live progress display on a terminal.")] = True,
    cpus: CpusOption = None,
    server_cpus: ServerCpusOption = None,
    load_cpus: LoadCpusOption = None,
) -> None:
    """Measure this machine's run-to-run spread per cell and metric (A/A repeats) and store it
    for `perflab compare`, which uses it when a side has too few repeats of its own."""
    from perflab.results.calibration import (
        calibration_from_runs,
        default_calibration_path,
        merge_calibrations,
        read_calibration,
        write_calibration,
    )
    from perflab.results.document import new_run_id, read_run

    try:
        if from_run:
            measured_runs = [read_run(path) for path in from_run]
        else:
            if not studies:
                raise typer.BadParameter("name the studies to calibrate, or give --from RUN")
            placement = placement_of(cpus, server_cpus, load_cpus)
            root = out or DEFAULT_OUT_ROOT / f"{new_run_id()}-calibrate"
            folders = [root] if runs == 1 else [root / f"run-{i + 1}" for i in range(runs)]
            measured_runs = [
                _measure(studies, repeat, profile, cell, folder, max_warmup_s, progress, placement)
                for folder in folders
            ]
        measured = calibration_from_runs(measured_runs)
        if not measured.cells:
            typer.echo("perflab calibrate: no cell of that run has 2 or more repeats", err=True)
            raise typer.Exit(2)
        path = into or default_calibration_path(measured_runs[-1].machine)
        stored = merge_calibrations(read_calibration(path), measured) if path.is_file() else None
        write_calibration(stored or measured, path)
    except LabError as exc:
        typer.echo(f"perflab calibrate: {exc}", err=True)
        raise typer.Exit(2) from None
    typer.echo(spreads_table(measured))
    typer.echo(f"calibration: {path}", err=True)


def _measure(
    names: list[str],
    repeat: int,
    profile: str,
    cells: list[str] | None,
    out: Path,
    max_warmup_s: float,
    progress: bool,
    placement: Placement,
) -> RunResults:
    from perflab.bench.runner import BenchOptions, run_bench
    from perflab.bench.study import load_study
    from perflab.limits import raise_open_files_limit

    try:
        loaded = [load_study(name, profile) for name in names]
        if cells:
            if len(loaded) != 1:
                raise StudyError("--cell needs exactly one study")
            loaded[0].selected_cells(cells)
    except StudyError as exc:
        raise typer.BadParameter(str(exc)) from None
    raise_open_files_limit()
    command = "perflab calibrate " + " ".join(shlex.quote(a) for a in sys.argv[2:])
    options = BenchOptions(
        out_dir=out,
        profile=profile,
        repeat=repeat,
        cells=cells,
        command=command.strip(),
        show_progress=progress,
        max_warmup_s=max_warmup_s or None,
        placement=placement,
    )
    with interruptible(f"in {options.results_path}"):
        run = run_bench(loaded, options)
    typer.echo(f"A/A results: {options.results_path}", err=True)
    return run


def spreads_table(calibration: Calibration) -> str:
    """Per cell and metric: runs, spread, run level, the smallest change called with 1, 3
    and 5 repeats a side of two separate runs (their run levels counted, as compare counts
    them), and with a duet of DUET_PAIRS pairs (no run level: its pairs cancel it).
    Usage: ``typer.echo(spreads_table(calibration))``"""
    from perflab.compare.statistics import RUN_LEVEL_FREEDOM, Spread, resolvable, run_level_of
    from perflab.compare.verdicts import METRICS

    metrics = {metric.key: metric for metric in METRICS}
    header = ["study", "cell", "metric", "runs", "spread", "run level"]
    header += [f"resolves @{n}" for n in SHOWN_REPEATS] + [f"duet @{DUET_PAIRS}"]
    rows = [header]
    for cell in calibration.cells:
        name = cell.cell if cell.route is None else f"{cell.cell} / {cell.route}"
        for key, spread in cell.spreads.items():
            level, level_freedom = (
                run_level_of(metrics[key], spread) if key in metrics else (0.0, RUN_LEVEL_FREEDOM)
            )
            shown_level = f"({_size(spread.log_scale, level, change=False)})"
            if spread.run_level is not None:
                measured = _size(spread.log_scale, spread.run_level, change=False)
                shown_level = f"{measured} -> {shown_level}"
            shown = []
            for runs in SHOWN_REPEATS:
                freedom = spread.freedom + 2 * (runs - 1)
                estimate = Spread(spread.spread, freedom, "", level, level_freedom)
                shown.append(_size(spread.log_scale, resolvable(estimate, runs, runs)))
            # A duet pools the calibration with its own pairs' differences (pairs - 1 degrees
            # of freedom) and carries no run level: what compare does with --against.
            duet = Spread(spread.spread, spread.freedom + DUET_PAIRS - 1, "")
            shown.append(_size(spread.log_scale, resolvable(duet, DUET_PAIRS, DUET_PAIRS)))
            runs_shown = str(spread.runs)
            if spread.sessions > 1:
                runs_shown += f" in {spread.sessions}"
            rows.append([cell.study, name, key, runs_shown,
                         _size(spread.log_scale, spread.spread, change=False), shown_level,
                         *shown])  # fmt: skip
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    table = "\n".join(
        "  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)) for row in rows
    )
    return table + "\n" + RESOLVES_CAPTION


RESOLVES_CAPTION = (
    "run level: what a whole run's level wanders beyond its repeats' scatter, measured (from 3 "
    "runs or more: --runs) -> (what compare uses: its default, pooled with a measured one). "
    "resolves @N: the smallest change "
    "compare calls between two separate runs of N repeats a side, their run levels counted "
    f"(docs/compare.md). duet @{DUET_PAIRS}: the same in a duet of {DUET_PAIRS} pairs "
    f"(`perflab bench --against REV --repeat {DUET_PAIRS}`), whose pairs cancel the run level"
)


def _size(log_scale: bool, value: float, change: bool = True) -> str:
    if not log_scale:
        return f"{value * 100:.2f}pp"
    if not change:
        return f"{value:.1%}"
    # Past 10x (a smoke profile's few requests, a very noisy box) the figure says nothing more.
    return "> +1000%" if value >= math.log(11) else f"+-{math.expm1(value):.1%}"
