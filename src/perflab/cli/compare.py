"""`perflab compare OLD NEW`: read two stored bench results and say what changed.

Exit status: 1 when some metric of some cell regressed, 2 when an input cannot be read (the
message says why), 0 otherwise.

Usage::

    perflab compare perflab-results/before perflab-results/after
    perflab compare before/results.json after/results.json --format markdown --out compare.md
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from perflab.results.errors import ResultsError


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
) -> None:
    """Compare two bench runs cell by cell: the change of throughput, p50, p99 and error rate
    with a 95% interval, a Mann-Whitney test and a noise band, and a verdict per metric.
    Exit status 1 if anything regressed, 2 if an input cannot be read, else 0."""
    # Imported here: see cli/bench.py (scipy and numpy are slow to import).
    from perflab.compare import compare_results, comparison_markdown, print_comparison
    from perflab.results.document import read_run

    try:
        comparison = compare_results(read_run(old), read_run(new), routes=routes)
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
