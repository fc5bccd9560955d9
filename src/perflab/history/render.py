"""Show a history: per study, each cell's metrics over the runs as a rich table (a
sparkline of the values, the first and last value, the change points with the run where
the new level starts) or as Markdown.

Usage::

    print_history(series)                      # terminal
    text = history_markdown(series)            # for a CI job's summary
"""

from __future__ import annotations

from collections.abc import Iterator

from rich.console import Console
from rich.table import Table
from rich.text import Text

from perflab.history.series import Change, Series

COLUMNS = ("cell", "metric", "runs", "first", "last", "trend", "change points")
_BARS = "▁▂▃▄▅▆▇█"
LABELS = {"throughput": "throughput ok/s", "p50": "p50", "p99": "p99", "errors": "error rate"}


def format_value(metric: str, value: float) -> str:
    """A value in its unit. Usage: ``format_value("p99", 12_300.0)  # "12.3 ms"``"""
    if metric == "throughput":
        return f"{value:,.1f}/s"
    if metric == "errors":
        return f"{value:.2%}"
    ms = value / 1000
    return f"{ms:,.0f} ms" if ms >= 100 else f"{ms:.1f} ms" if ms >= 10 else f"{ms:.2f} ms"


def sparkline(values: list[float]) -> str:
    """One bar per value, scaled between the series' minimum and maximum.
    Usage: ``sparkline([1, 2, 3])  # "▁▄█"``"""
    low, high = min(values), max(values)
    if high <= low:
        return _BARS[3] * len(values)
    return "".join(_BARS[round((v - low) / (high - low) * (len(_BARS) - 1))] for v in values)


def change_text(series: Series, change: Change) -> str:
    """``"+12.0% worse at 3f2a1b0 (run 7)"``. Usage: ``change_text(series, change)``"""
    point = series.points[change.index]
    where = point.revision or point.run_id
    size = f"{change.change * 100:+.2f}pp" if series.metric == "errors" else f"{change.change:+.1%}"
    word = "worse" if change.worse else "better"
    return f"{size} {word} from {where} (run {change.index + 1}, p={change.p_value:.2g})"


def by_study(series: list[Series]) -> Iterator[tuple[str, list[Series]]]:
    studies: dict[str, list[Series]] = {}
    for item in series:
        studies.setdefault(item.study, []).append(item)
    yield from studies.items()


def table_row(item: Series, first: bool) -> list[str]:
    changes = "; ".join(change_text(item, change) for change in item.changes) or "-"
    return [
        item.cell if first else "",
        LABELS.get(item.metric, item.metric),
        str(len(item.points)),
        format_value(item.metric, item.values[0]),
        format_value(item.metric, item.values[-1]),
        sparkline(item.values),
        changes,
    ]


def print_history(series: list[Series], console: Console | None = None) -> None:
    """Rich tables, one per study. Usage: ``print_history(cell_series(runs))``"""
    console = console or Console()
    if not series:
        console.print("No cell was measured in two or more of these runs.")
        return
    for study, items in by_study(series):
        table = Table(*COLUMNS, title=study, title_justify="left")
        previous = None
        for item in items:
            row = table_row(item, item.cell != previous)
            previous = item.cell
            worse = any(change.worse for change in item.changes)
            style = "bold red" if worse else "green" if item.changes else "dim"
            table.add_row(*row[:-1], Text(row[-1], style=style))
        console.print(table)
    found = sum(len(item.changes) for item in series)
    console.print(f"{found} change point(s) in {len(series)} series (e-divisive, p < 0.01).")


def history_markdown(series: list[Series]) -> str:
    """The same tables in Markdown. Usage: ``history_markdown(cell_series(runs))``"""
    lines = ["# perflab history", ""]
    for study, items in by_study(series):
        lines += [f"## {study}", "", "| " + " | ".join(COLUMNS) + " |"]
        lines.append("|" + "|".join("---" for _ in COLUMNS) + "|")
        previous = None
        for item in items:
            lines.append("| " + " | ".join(table_row(item, item.cell != previous)) + " |")
            previous = item.cell
        lines.append("")
    return "\n".join(lines)
