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
from typing import Annotated, Any

import typer

from perflab.bench.compare import Results, compare_results
from perflab.bench.compare_render import render_markdown, render_terminal
from perflab.bench.results import ResultsError, read_results_file

# What compare reads from every run's recording and each of its request names.
_SUMMARY_KEYS = ("requests", "failures", "ok", "duration_s", "latency_us", "histogram")


class CompareInputError(ResultsError):
    """A `perflab.bench/1` file without what compare reads; says which file and which part."""


class CompareFormat(StrEnum):
    """How `perflab compare` prints. Usage: ``CompareFormat("markdown")``"""

    TERMINAL = "terminal"
    MARKDOWN = "markdown"


def load_results(path: Path) -> Results:
    """A results file, or the results.json in a directory, checked for what compare reads.
    Raises ResultsError (CompareInputError for a part compare needs that is missing).
    Usage: ``load_results(Path("perflab-results/20261204T201500Z-3f2a"))``"""
    file, data = read_results_file(path)
    try:
        _check(data)
    except (KeyError, TypeError, ValueError) as exc:
        raise CompareInputError(f"{file}: malformed results ({exc})") from None
    return Results(file, data)


def _check(data: dict[str, Any]) -> None:
    """Raise KeyError/TypeError/ValueError naming the first missing or wrong part."""
    if not isinstance(data["machine"], dict) or not isinstance(data["studies"], list):
        raise TypeError("'machine' must be an object and 'studies' a list")
    for study in data["studies"]:
        for c, cell in enumerate(study.get("cells") or []):
            where = f"study {study['name']!r} cell {c}"
            if not isinstance(cell["name"], str) or not isinstance(cell["settings"], dict):
                raise TypeError(f"{where}: 'name' must be a string and 'settings' an object")
            if cell["status"] == "ran" and not cell["runs"]:
                raise ValueError(f"{where}: ran but has no runs")
            for r, run in enumerate(cell["runs"]):
                recording = run["recording"]
                parts = [("recording", recording), *recording["names"].items()]
                for part, summary in parts:
                    missing = [k for k in _SUMMARY_KEYS if k not in summary]
                    missing += [f"p{p}" for p in ("50", "99") if p not in _percentiles(summary)]
                    if missing:
                        raise KeyError(f"{where} run {r} {part}: lacks {', '.join(missing)}")


def _percentiles(summary: dict[str, Any]) -> dict[str, Any]:
    latency = summary.get("latency_us")
    percentiles = latency.get("percentiles") if isinstance(latency, dict) else None
    return percentiles if isinstance(percentiles, dict) else {}


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
    try:
        comparison = compare_results(load_results(old), load_results(new), routes=routes)
    except ResultsError as exc:
        typer.echo(f"perflab compare: {exc}", err=True)
        raise typer.Exit(2) from None
    markdown = render_markdown(comparison)
    if out is not None:
        try:
            out.write_text(markdown, encoding="utf-8")
        except OSError as exc:
            typer.echo(f"perflab compare: cannot write {out} ({exc.strerror or exc})", err=True)
            raise typer.Exit(2) from None
    if output_format is CompareFormat.MARKDOWN:
        typer.echo(markdown, nl=False)
    else:
        render_terminal(comparison)
    raise typer.Exit(1 if comparison.has_regression else 0)
