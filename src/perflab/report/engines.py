"""Where the load came from, as the report shows it: for a run on locust's distributed runner
(`perflab bench --engine locust`), locust's own per-name figures beside the exact ones merged
from every worker's HdrHistograms, so its bucket rounding (a p99 above the max, say) is seen.

Usage::

    header, rows = locust_table(study)      # [] rows: nothing ran on locust
"""

from __future__ import annotations

from typing import Any

from perflab.results.exactness import exactness_rows
from perflab.results.model import StudyResults

LOCUST_HEADER = (
    "Cell",
    "Request",
    "Requests",
    "p50 exact / locust",
    "p99 exact / locust",
    "max exact / locust",
    "locust's p99 error",
)
LOCUST_TEXT_COLUMNS = frozenset({"Cell", "Request"})


def locust_table(study: StudyResults) -> tuple[tuple[str, ...], list[list[str]]]:
    """One row per request name of each repeat that ran on locust. Usage: see module."""
    rows = []
    for cell in study.cells:
        for repeat in cell.repeats:
            label = cell.name + (f" #{repeat.repeat + 1}" if len(cell.repeats) > 1 else "")
            for row in exactness_rows(repeat.recording):
                rows.append(_row(label, row))
    return LOCUST_HEADER, rows


def _row(cell: str, row: dict[str, Any]) -> list[str]:
    error = row.get("p99_error_pct")
    flag = " (p99 above max)" if row.get("locust_p99_over_max") else ""
    return [
        cell,
        str(row["name"]),
        f"{row['requests']:,}",
        _pair(row.get("exact_p50_ms"), row.get("locust_p50_ms")),
        _pair(row.get("exact_p99_ms"), row.get("locust_p99_ms")),
        _pair(row.get("exact_max_ms"), row.get("locust_max_ms")),
        ("-" if error is None else f"{error:+.1f}%") + flag,
    ]


def _pair(exact: Any, theirs: Any) -> str:
    def ms(value: Any) -> str:
        return "-" if not isinstance(value, int | float) else f"{value:,.1f} ms"

    return f"{ms(exact)} / {ms(theirs)}"
