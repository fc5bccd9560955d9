"""Show a `Comparison`: Markdown (PR-sized, headline first) or a rich terminal table.

Both show the same rows: per cell and metric the repeats' central value on each side (with
their run-to-run spread), the change with its 95% interval, the smallest change these repeats
resolve, the spread judged by (and where it came from), the t-test's p and the verdict. Every
verdict but "within noise" is listed with its reason: in Markdown at the top ("What
changed"), in the terminal under each study's table; and which spread served (a calibration
of this machine, or the repeats alone) is said at the top.

Usage::

    text = comparison_markdown(comparison)
    print_comparison(comparison)           # to stdout, colours when it is a terminal
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator

from rich.console import Console
from rich.table import Table
from rich.text import Text

from perflab.compare.comparison import (
    METRICS,
    CellComparison,
    Comparison,
    GeometricMean,
    MetricComparison,
    Verdict,
)
from perflab.compare.statistics import critical
from perflab.results.calibration import DEFAULT_REPEAT
from perflab.results.model import RunResults

COLUMNS = (
    "cell", "metric", "OLD", "NEW", "change", "95% interval", "resolves", "spread", "p", "verdict",
)  # fmt: skip
_STYLES = {
    Verdict.REGRESSION: "bold red",
    Verdict.IMPROVED: "bold green",
    Verdict.UNRESOLVED: "yellow",
    Verdict.WITHIN_NOISE: "dim",
    Verdict.NOT_COMPARABLE: "magenta",
}
# Two separate runs further apart than this (hours) without a measured run level get a word:
# the default levels were measured over runs at most two hours apart (docs/compare.md (j)-(l)).
FAR_APART_H = 2.0
# "throughput 3.5%, p50 4%, p99 7%": said at the top of a compare of two separate runs.
RUN_LEVELS = ", ".join(f"{m.key} {m.run_level * 100:g}%" for m in METRICS if m.run_level)
NOTES = (
    "The unit is the run: each metric is one value per repeat; requests are never pooled.",
    "OLD/NEW: the repeats' geometric mean, +- their coefficient of variation "
    "(error rate: mean, +- standard deviation).",
    "change: NEW/OLD - 1; error rate: NEW - OLD in percentage points (pp).",
    "resolves: the smallest change these repeats call (p < 0.001 with this spread): "
    "a change inside it cannot be told from running the same code twice.",
    "spread: one run's standard deviation (of the logs: about the CV), from this machine's "
    "calibration (cal), the repeats themselves (own), or both pooled; between two separate "
    "runs (not a duet) each side's run level is added: what all repeats of one run share, "
    "which their scatter cannot show.",
    "Verdicts and how they are reached: docs/compare.md.",
)


def comparison_markdown(comparison: Comparison) -> str:
    """The comparison as Markdown, headline first. Usage: ``comparison_markdown(comparison)``"""
    lines = ["# perflab compare", "", "| | run | command | git | repeats | machine |"]
    lines.append("|---|---|---|---|---|---|")
    for side, results in (("OLD", comparison.old), ("NEW", comparison.new)):
        run, command, git, repeats, machine = _run_facts(results)
        command = f"`{command}`" if command else ""
        lines.append(f"| {side} | {run} | {command} | {git} | {repeats} | {machine} |")
    lines += ["", _headline(comparison, bold=True), "", spread_line(comparison), ""]
    if comparison.machine_difference:
        lines += [f"**Not comparable: {comparison.machine_difference}.**", ""]
    if comparison.geometric_means:
        lines += ["## Geometric mean of NEW/OLD", "", "| study | cells | throughput | p99 |"]
        lines.append("|---|---:|---:|---:|")
        lines += [
            "| " + " | ".join(_geomean_row(g, True)) + " |" for g in comparison.geometric_means
        ]
        lines.append("")
    changes = [
        f"- {study} {reason}"
        for study, cells in _by_study(comparison.cells)
        for reason in _reasons(cells)
    ]
    lines += ["## What changed", "", *(changes or ["Nothing beyond the noise."]), ""]
    for study, cells in _by_study(comparison.cells):
        lines += [f"## {study}", "", "| " + " | ".join(COLUMNS) + " |"]
        lines.append("|" + "|".join("---" if i < 2 else "---:" for i in range(len(COLUMNS))) + "|")
        for row, _ in _rows(cells):
            lines.append("| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |")
        lines.append("")
    lines += ["## How to read this", "", *(f"- {note}" for note in NOTES), ""]
    return "\n".join(lines)


def print_comparison(comparison: Comparison, console: Console | None = None) -> None:
    """Print the comparison as rich tables. Usage: ``print_comparison(comparison)``"""
    if console is None:
        console = Console()
        if not console.is_terminal:  # a pipe or a file: wide enough for the table, no wrapping
            console = Console(width=160)
    for side, results in (("OLD", comparison.old), ("NEW", comparison.new)):
        run, command, git, repeats, machine = _run_facts(results)
        console.print(f"[bold]{side}[/] {run}  {command}  git {git}  x{repeats}  {machine}")
    console.print(_headline(comparison, bold=False))
    console.print(spread_line(comparison), markup=False, highlight=False)
    if comparison.machine_difference:
        console.print(f"[magenta]Not comparable: {comparison.machine_difference}[/]")
    if comparison.geometric_means:
        summary = Table("study", "cells", "throughput", "p99", title="Geometric mean of NEW/OLD")
        for geomean in comparison.geometric_means:
            summary.add_row(*_geomean_row(geomean, False))
        console.print(summary)
    for study, cells in _by_study(comparison.cells):
        table = Table(*COLUMNS, title=study, title_justify="left")
        for row, verdict in _rows(cells):
            table.add_row(*row[:-1], Text(row[-1], style=_STYLES[verdict]))
        console.print(table)
        for reason in _reasons(cells):
            console.print(f"  {reason}", markup=False, highlight=False)
    for note in NOTES:
        console.print(f"[dim]{note}[/]")


def _run_facts(results: RunResults) -> tuple[str, str, str, str, str]:
    machine = results.machine
    return (
        results.run_id or str(results.path),
        results.command,
        str(machine.get("git_revision") or "-"),
        str(results.repeat),
        f"{machine.get('cpu', '?')}, {machine.get('cores', '?')} cores",
    )


def _headline(comparison: Comparison, bold: bool) -> str:
    counts = comparison.counts()
    parts = [f"{n} {verdict}" for verdict, n in counts.items()]
    if bold and counts[Verdict.REGRESSION]:
        parts[0] = f"**{parts[0]}**"
    return "Verdicts: " + ", ".join(parts) + "."


def _geomean_row(geomean: GeometricMean, bold: bool) -> list[str]:
    def ratio(value: float | None) -> str:
        return "-" if value is None else f"{value:.3f}x ({value - 1:+.1%})"

    name = "**all**" if geomean.study == "all" and bold else geomean.study
    return [name, str(geomean.cells), ratio(geomean.throughput_ratio), ratio(geomean.p99_ratio)]


def _by_study(cells: list[CellComparison]) -> Iterator[tuple[str, list[CellComparison]]]:
    studies: dict[str, list[CellComparison]] = {}
    for cell in cells:
        studies.setdefault(cell.study, []).append(cell)
    yield from studies.items()


def _name(cell: CellComparison) -> str:
    if cell.route is not None:
        return f"{cell.cell} / {cell.route}"
    return cell.cell if cell.figures_of is None else f"{cell.cell} ({cell.figures_of})"


def _rows(cells: list[CellComparison]) -> Iterator[tuple[list[str], Verdict]]:
    for cell in cells:
        if cell.not_comparable is not None:
            row = [_name(cell), "all", *[""] * (len(COLUMNS) - 3), str(Verdict.NOT_COMPARABLE)]
            yield row, Verdict.NOT_COMPARABLE
            continue
        for index, m in enumerate(cell.metrics):
            yield (
                [
                    _name(cell) if index == 0 else "",
                    m.metric.label,
                    _side(m, m.old_values),
                    _side(m, m.new_values),
                    _change(m, m.change),
                    _interval(m),
                    _resolves(m),
                    _spread(m),
                    "-" if m.p_value is None else f"{m.p_value:.2g}",
                    str(m.verdict),
                ],
                m.verdict,
            )


def _reasons(cells: list[CellComparison]) -> Iterator[str]:
    for cell in cells:
        if cell.not_comparable is not None:
            yield f"{_name(cell)}: not comparable: {cell.not_comparable}"
        for note in cell.notes:
            yield f"{_name(cell)}: note: {note}"
        for m in cell.metrics:
            if m.verdict is not Verdict.WITHIN_NOISE:
                yield f"{_name(cell)} {m.metric.label}: {m.verdict}: {m.reason}"


def _side(m: MetricComparison, values: tuple[float, ...]) -> str:
    if not m.metric.log_scale:
        mean = sum(values) / len(values)
        spread = _deviation(values)
        return f"{mean:.2%}" + (f" +-{spread * 100:.2f}pp" if spread > 0 else "")
    centre = _centre(values)
    shown = f"{centre:,.1f}/s" if m.metric.key == "throughput" else _ms(centre)
    mean = sum(values) / len(values)
    if len(values) > 1 and mean > 0:
        shown += f" +-{_deviation(values) / mean:.0%}"
    return shown


def _centre(values: tuple[float, ...]) -> float:
    """Geometric mean, the centre the change is measured from; arithmetic with a zero."""
    if min(values) > 0:
        return math.exp(sum(map(math.log, values)) / len(values))
    return sum(values) / len(values)


def _deviation(values: tuple[float, ...]) -> float:
    mean = sum(values) / len(values)
    return math.sqrt(sum((v - mean) ** 2 for v in values) / max(len(values) - 1, 1))


def _ms(latency_us: float) -> str:
    ms = latency_us / 1000
    return f"{ms:,.0f} ms" if ms >= 100 else f"{ms:.1f} ms" if ms >= 10 else f"{ms:.2f} ms"


def _change(m: MetricComparison, value: float) -> str:
    if not m.metric.log_scale:
        return f"{value * 100:+.2f}pp"
    return "from 0" if math.isinf(value) else f"{value:+.1%}"


def _interval(m: MetricComparison) -> str:
    if m.interval is None:
        return "unknown"
    return f"[{_change(m, m.interval[0])}, {_change(m, m.interval[1])}]"


def _resolves(m: MetricComparison) -> str:
    if m.resolvable is None:
        return "unknown"
    if not m.metric.log_scale:
        return f"+-{m.resolvable * 100:.2f}pp"
    return "> +1000%" if m.resolvable >= 10 else f"+-{m.resolvable:.1%}"


def _spread(m: MetricComparison) -> str:
    if m.spread is None:
        return "none"
    source = m.spread.source
    kind = "cal+own" if "+ own" in source else "cal" if "calibration" in source else "own"
    sigma = m.spread.sigma
    return f"{sigma * 100:.2f}pp {kind}" if not m.metric.log_scale else f"{sigma:.1%} {kind}"


def spread_line(comparison: Comparison) -> str:
    """Which run-to-run spread the verdicts used, in one sentence. Usage: ``spread_line(c)``"""
    parts = []
    if comparison.duet:
        parts.append("OLD and NEW are one duet (interleaved in one session): judged pair by pair")
    else:
        parts.append(
            f"OLD and NEW are two separate runs: each side's run level ({RUN_LEVELS}) is added "
            "to the repeats' spread; a duet (perflab bench --against) cancels it"
        )
        apart_h = _hours_apart(comparison)
        if apart_h >= FAR_APART_H and not _measures_run_level(comparison):
            parts.append(
                f"they ran {apart_h:.3g} h apart, and those levels come from runs at most two "
                "hours apart: a host's pace can wander further over longer (docs/compare.md "
                "(k)); `perflab calibrate --runs K` (or `--from` stored runs) measures this "
                "machine's"
            )
    calibration = comparison.calibration
    if calibration is not None:
        where = str(calibration.path) if calibration.path else "given"
        when = time.strftime("%Y-%m-%d", time.gmtime(calibration.created_at_unix_s))
        host = calibration.machine.get("hostname", "?")
        parts.append(
            f"spread: this machine's calibration {where} ({len(calibration.cells)} cells, "
            f"measured {when} on {host}) for the cells it has, pooled with the repeats' own"
        )
    elif _fewest_repeats(comparison) < 2:
        parts.append(
            "spread: the repeats' own (no calibration of this machine: with one repeat a side "
            "only a gross change can be called; run `perflab calibrate STUDY`)"
        )
    elif comparison.duet:
        # Few pairs know their own spread poorly, and the t quantile says how much that costs:
        # 3 pairs alone called a 10% slower /diag/cpu in 5 of 10 duets, with a calibration
        # in 10 of 10 (docs/compare.md (k)).
        pairs = _fewest_repeats(comparison)
        parts.append(
            f"spread: the pairs' own (no calibration of this machine): {pairs} pairs know it "
            f"with {pairs - 1} degrees of freedom, so a change must pass "
            f"{critical(pairs - 1):.3g} standard errors; a calibration of "
            f"{DEFAULT_REPEAT} runs (`perflab calibrate STUDY`, then `perflab bench "
            f"--calibration FILE`) makes it {critical(DEFAULT_REPEAT - 1 + pairs - 1):.2g}"
        )
    else:
        parts.append("spread: the repeats' own (no calibration of this machine)")
    return "; ".join(parts) + "."


def _hours_apart(comparison: Comparison) -> float:
    """How far apart the two runs were made, in hours (0 where either time is unknown)."""
    old, new = comparison.old.created_at_unix_s, comparison.new.created_at_unix_s
    return abs(new - old) / 3600 if old > 0 and new > 0 else 0.0


def _measures_run_level(comparison: Comparison) -> bool:
    """True when the calibration judged by holds this machine's own run level somewhere."""
    calibration = comparison.calibration
    if calibration is None:
        return False
    spreads = (spread for cell in calibration.cells for spread in cell.spreads.values())
    return any(spread.run_level is not None for spread in spreads)


def _fewest_repeats(comparison: Comparison) -> int:
    """The fewest repeats either side of any compared metric had (2: none compared)."""
    counts = [
        min(len(m.old_values), len(m.new_values)) for c in comparison.cells for m in c.metrics
    ]
    return min(counts, default=2)
