"""`perflab history DIR...`: many stored runs of the same studies (one per commit from CI,
say), each cell's metrics over time with the change points found (docs/compare.md,
"History").

Exit status: 2 when a path holds no readable results, else 0.

Usage::

    perflab history ci-results/                       # every results.json below, by date
    perflab history runs/* --html history.html --markdown history.md
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from perflab.results.errors import ResultsError


def history(
    paths: Annotated[
        list[Path],
        typer.Argument(help="Results files, run folders, or folders holding many runs."),
    ],
    html: Annotated[
        Path | None, typer.Option(help="Also write a self-contained HTML page with charts.")
    ] = None,
    markdown: Annotated[
        Path | None, typer.Option(help="Also write the tables as Markdown.")
    ] = None,
    seed: Annotated[int, typer.Option(help="Seed of the permutation tests.")] = 0,
) -> None:
    """Show each cell's throughput, p50, p99 and error rate over many stored runs, oldest
    first, with the change points found in them (e-divisive means, permutation test)."""
    # Imported here: see cli/bench.py.
    from perflab.history.html_page import history_html
    from perflab.history.render import history_markdown, print_history
    from perflab.history.series import cell_series, read_runs

    try:
        runs = read_runs(paths)
    except ResultsError as exc:
        typer.echo(f"perflab history: {exc}", err=True)
        raise typer.Exit(2) from None
    series = cell_series(runs, seed=seed)
    print_history(series)
    try:
        if html is not None:
            html.write_text(history_html(series), encoding="utf-8")
            typer.echo(f"history: {html}", err=True)
        if markdown is not None:
            markdown.write_text(history_markdown(series), encoding="utf-8")
    except OSError as exc:
        typer.echo(f"perflab history: cannot write ({exc.strerror or exc})", err=True)
        raise typer.Exit(2) from None
