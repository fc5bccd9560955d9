"""`perflab compare OLD NEW`: read two stored bench results and say what changed.

Verdicts rest on run-level values (one per repeat), judged by the run-to-run spread of this
machine: the repeats' own, and this machine's calibration (`perflab calibrate`) where one is
stored at perflab-results/calibration/<machine>.json or given with --calibration.

Exit status: 1 when some metric of some cell regressed, 2 when an input cannot be read (the
message says why), 0 otherwise.

Usage::

    perflab compare perflab-results/before perflab-results/after
    perflab compare before/results.json after/results.json --format markdown --out compare.md
    perflab compare before after --calibration ci-calibration.json
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from perflab.results.errors import ResultsError

if TYPE_CHECKING:
    from perflab.results.calibration import Calibration
    from perflab.results.model import RunResults


class CompareFormat(StrEnum):
    """How `perflab compare` prints. Usage: ``CompareFormat("markdown")``"""

    TERMINAL = "terminal"
    MARKDOWN = "markdown"


def compare(
    old: Annotated[Path, typer.Argument(help="OLD run: results.json or the folder holding it.")],
    new: Annotated[Path, typer.Argument(help="NEW run: results.json or the folder holding it.")],
    output_format: Annotated[
        CompareFormat, typer.Option("--format", help="Rich table or Markdown on stdout.")
    ] = CompareFormat.TERMINAL,
    out: Annotated[Path | None, typer.Option(help="Also write the Markdown to this file.")] = None,
    routes: Annotated[
        bool, typer.Option(help="Also compare each request name of multi-request cells.")
    ] = False,
    calibration: Annotated[
        Path | None,
        typer.Option(
            help="This machine's run-to-run spread (perflab calibrate); default: "
            "perflab-results/calibration/<machine>.json when it exists."
        ),
    ] = None,
    use_calibration: Annotated[
        bool,
        typer.Option(
            "--use-calibration/--no-calibration",
            help="Judge by the repeats' own spread only, ignoring any calibration.",
        ),
    ] = True,
) -> None:
    """Compare two bench runs cell by cell: the change of throughput, p50, p99 and error rate,
    judged run by run against this machine's run-to-run spread, and a verdict per metric.
    Exit status 1 if anything regressed, 2 if an input cannot be read, else 0."""
    # Imported here: see cli/bench.py (scipy and numpy are slow to import).
    from perflab.compare import compare_results, comparison_markdown, print_comparison
    from perflab.results.document import read_run

    try:
        old_run, new_run = read_run(old), read_run(new)
        spreads = load_calibration(new_run, calibration) if use_calibration else None
        comparison = compare_results(old_run, new_run, routes=routes, calibration=spreads)
    except ResultsError as exc:
        typer.echo(f"perflab compare: {exc}", err=True)
        raise typer.Exit(2) from None
    markdown = comparison_markdown(comparison)
    if out is not None:
        try:
            out.write_text(markdown, encoding="utf-8")
        except OSError as exc:
            typer.echo(f"perflab compare: cannot write {out} ({exc.strerror or exc})", err=True)
            raise typer.Exit(2) from None
    if output_format is CompareFormat.MARKDOWN:
        typer.echo(markdown, nl=False)
    else:
        print_comparison(comparison)
    raise typer.Exit(1 if comparison.has_regression else 0)


def load_calibration(run: RunResults, path: Path | None) -> Calibration | None:
    """The calibration named, or this machine's at its default place (None: there is none).
    Raises ResultsError when a named file cannot be read. Usage: ``load_calibration(run, None)``"""
    from perflab.results.calibration import find_calibration, read_calibration

    if path is not None:
        return read_calibration(path)
    return find_calibration(run.machine)
