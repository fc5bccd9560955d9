"""`perflab report PATH`: print the Markdown report and write report.md + report.html.

Usage: ``perflab report perflab-results/20261204T201500Z-3f2a --out /tmp/report --open``
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from perflab.results.errors import ResultsError


def report(
    path: Annotated[
        Path, typer.Argument(help="A results.json, or the run directory that holds one.")
    ],
    out: Annotated[
        Path | None,
        typer.Option(help="Directory for report.md and report.html (default: beside the results)."),
    ] = None,
    open_browser: Annotated[
        bool, typer.Option("--open", help="Open report.html in the default browser.")
    ] = False,
) -> None:
    """Show a `perflab bench` run: Markdown here, and a self-contained report.html."""
    from perflab.report.render import render_report  # here: see cli/bench.py

    try:
        markdown, md_path, html_path = render_report(path, out)
    except (ResultsError, OSError) as error:
        typer.echo(f"perflab report: {error}", err=True)
        raise typer.Exit(2) from error
    typer.echo(markdown)
    typer.echo(f"Wrote {md_path} and {html_path}")
    if open_browser:
        import webbrowser

        webbrowser.open(html_path.resolve().as_uri())
