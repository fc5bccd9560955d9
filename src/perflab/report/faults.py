"""Faults as the report shows them: a table per study of what each fault cost, and the marks
on the shared time axis of its charts.

Each row is one fault of one repeat of one cell (bench/fault_accounting.py stored it): when it
happened and when the part was back, the requests of the seconds it touched, failures by kind
over the whole run with the *lost* ones (no answer, no clean refusal) counted apart, the first
right answer after the fault and after the part came back, when p99 was under the SLO again,
and, for writes, whether every acknowledged one is stored.

Usage::

    rows = fault_rows(study)                      # from the stored results
    header, table = faults_table(rows)            # strings, for Markdown and HTML alike
    marks = fault_marks(study)                    # [{"cell", "name", "at_s", "back_at_s"}]
"""

from __future__ import annotations

from typing import Any

from perflab.report.units import MISSING
from perflab.results.model import StudyResults

FAULTS_HEADER = (
    "Cell",
    "Fault",
    "At / back",
    "Right / failed (its seconds)",
    "Failures in the run",
    "Lost",
    "First right after fault / back",
    "p99 under SLO after back",
    "Writes",
)
FAULT_TEXT_COLUMNS = frozenset({"Cell", "Fault", "Failures in the run", "Writes"})


def fault_rows(study: StudyResults) -> list[dict[str, Any]]:
    """Every fault of every repeat, with its cell, repeat and the repeat's reconciliation.
    Usage: ``fault_rows(study)``"""
    rows = []
    for cell in study.cells:
        for repeat in cell.repeats:
            for fault in repeat.faults:
                rows.append(
                    {
                        **fault,
                        "cell": cell.name,
                        "repeat": repeat.repeat,
                        "reconciliation": repeat.reconciliation,
                    }
                )
    return rows


def faults_table(rows: list[dict[str, Any]]) -> tuple[tuple[str, ...], list[list[str]]]:
    """One line per fault. Usage: ``header, table = faults_table(fault_rows(study))``"""
    table = []
    for row in rows:
        cell = row["cell"] + (f" #{row['repeat'] + 1}" if row.get("repeat") else "")
        name = row.get("name", "")
        if row.get("error"):
            table.append([cell, f"{name}: {row['error']}", *[MISSING] * 7])
            continue
        table.append(
            [
                cell,
                f"{name} ({row.get('detail', '')})" if row.get("detail") else name,
                f"{_s(row.get('at_s'))} / {_s(row.get('back_at_s'))}",
                f"{row.get('right_in_window', 0):,} / {row.get('failed_in_window', 0):,}",
                _kinds(row.get("failed_by_kind") or {}),
                f"{row.get('lost', 0):,}",
                f"{_s(row.get('first_success_after_fault_s'))} / "
                f"{_s(row.get('first_success_after_back_s'))}",
                _s(row.get("p99_under_slo_after_back_s")),
                _writes(row.get("reconciliation")),
            ]
        )
    return FAULTS_HEADER, table


def fault_marks(study: StudyResults) -> list[dict[str, Any]]:
    """Where the charts mark faults: each cell's first repeat's (repeats fault at the same
    planned time). Usage: ``fault_marks(study)``"""
    marks = []
    for cell in study.cells:
        for fault in cell.repeats[0].faults if cell.repeats else []:
            if fault.get("at_s") is None:
                continue
            back = fault.get("back_at_s")
            marks.append(
                {
                    "cell": cell.name,
                    "name": str(fault.get("name", "")),
                    "at_s": fault["at_s"],
                    "back_at_s": back if back is not None else fault["at_s"],
                }
            )
    return marks


def _s(value: Any) -> str:
    if value is None:
        return "never"
    return f"{float(value):.2f} s"


def _kinds(failures: dict[str, int]) -> str:
    if not failures:
        return "none"
    return ", ".join(f"{kind} {count:,}" for kind, count in sorted(failures.items()))


def _writes(outcome: dict[str, Any] | None) -> str:
    if outcome is None:
        return MISSING
    if "error" in outcome:
        return f"not reconciled: {outcome['error']}"
    verdict = "all stored" if outcome.get("ok") else "NOT reconciled"
    return (
        f"{verdict}: {outcome.get('acknowledged', 0):,} acknowledged, "
        f"{outcome.get('missing', 0)} missing, {outcome.get('wrong_content', 0)} changed, "
        f"{outcome.get('unacknowledged', 0)} unacknowledged ({outcome.get('maybe', 0)} maybe)"
    )
