"""`perflab bench STUDY --against REV` (or --baseline DIR, --against-command CMD): a duet of
two versions, then `perflab compare` of the two (docs/compare.md, "Duet").

Writes OUT/A/results.json (the other version, OLD), OUT/B/results.json (this checkout,
NEW) and OUT/compare.md; prints the comparison. Exit status as `perflab compare`: 1 on a
regression, 2 when the other version cannot be prepared or read, else 0.

Usage: ``run_duet(studies, options, against="main", baseline=None, command=None)``; with
``calibration=Path("ci/calibration.json")`` the compare is judged with that file.
"""

from __future__ import annotations

from pathlib import Path

import typer

from perflab.bench.runner import BenchOptions
from perflab.bench.study import Study
from perflab.cli.interrupt import interruptible
from perflab.results.errors import LabError


def run_duet(
    studies: list[Study],
    options: BenchOptions,
    *,
    against: str | None,
    baseline: Path | None,
    command: str | None,
    calibration: Path | None = None,
) -> None:
    """Run the duet and print its comparison (judged with `calibration`, a file, or this
    machine's at its default place); always ends with typer.Exit. Usage: see module."""
    from perflab.bench.duet import duet_versions, other_version
    from perflab.bench.runner import run_versions
    from perflab.cli.compare import load_calibration
    from perflab.compare import compare_results, comparison_markdown, print_comparison
    from perflab.results.calibration import read_calibration

    if options.find_knee:
        raise typer.BadParameter("--find-knee measures one version: not with a duet")
    try:
        # A named file is read before the runs: a typo must not cost the whole duet.
        named = read_calibration(calibration) if calibration is not None else None
        with (
            interruptible(f"under {options.out_dir}"),
            other_version(
                studies,
                against=against,
                baseline=baseline,
                command=command,
                cells=options.cells,
            ) as other,
        ):
            typer.echo(f"duet: A = {other.description}, B = this checkout", err=True)
            old, new = run_versions(studies, options, duet_versions(options.out_dir, other))
        chosen = named if named is not None else load_calibration(new, None)
        comparison = compare_results(old, new, calibration=chosen)
    except LabError as exc:
        typer.echo(f"perflab bench: {exc}", err=True)
        raise typer.Exit(2) from None
    markdown_path = options.out_dir / "compare.md"
    markdown_path.write_text(comparison_markdown(comparison), encoding="utf-8")
    print_comparison(comparison)
    typer.echo(
        f"results: {options.out_dir / 'A'} (A) and {options.out_dir / 'B'} (B); "
        f"comparison: {markdown_path}",
        err=True,
    )
    raise typer.Exit(1 if comparison.has_regression else 0)
