"""The report as Markdown, PR-sized: the headline table first, then a table per study.

Usage::

    text = report_markdown(results, [summarize_study(s) for s in results.studies])
"""

from __future__ import annotations

from perflab.report.engines import LOCUST_HEADER, LOCUST_TEXT_COLUMNS
from perflab.report.faults import FAULT_TEXT_COLUMNS, faults_table
from perflab.report.figures import StudySummary
from perflab.report.goals import GOAL_TEXT_COLUMNS, counts_text, goals_line, goals_table
from perflab.report.tables import (
    HEADLINE_HEADER,
    TEXT_COLUMNS,
    figures_note,
    headline_row,
    knee_line,
    machine_line,
    reference_notes,
    repeats_text,
    status_notes,
    study_table,
)
from perflab.report.units import MISSING
from perflab.results.model import RunResults


def report_markdown(results: RunResults, studies: list[StudySummary]) -> str:
    """The whole report. Usage: ``report_markdown(results, summaries)``"""
    lines = [
        f"# perflab bench: {results.run_id}",
        "",
        *_table(HEADLINE_HEADER, [headline_row(s) for s in studies]),
        "",
        *_goals_note(studies),
        *_seed_note(studies),
        f"Measured on {machine_line(results.machine)}.",
        f"Command: `{results.command}` (profile {results.profile or MISSING}, "
        f"{repeats_text(results)}).",
        "",
    ]
    for study in studies:
        lines += _study_section(study)
    return "\n".join(lines).rstrip() + "\n"


def _study_section(study: StudySummary) -> list[str]:
    lines = [f"## {study.name}: {study.title}", ""]
    if study.question:
        lines += [f"*{study.question}*", ""]
    lines += [study.sentence, ""]
    if not study.cells:
        return lines
    for line in figures_note(study):
        lines += [line, ""]
    header, rows, _ = study_table(study)
    lines += [*_table(header, rows), ""]
    notes = reference_notes(study) + status_notes(study) + study.spread
    notes += [knee_line(cell) for cell in study.cells if cell.knee]
    lines = [*lines, *notes, ""] if notes else lines
    return lines + _goals_section(study) + _faults_section(study) + _locust_section(study)


def _locust_section(study: StudySummary) -> list[str]:
    if not study.locust:
        return []
    title = "### On locust's runner: its own figures beside the exact ones"
    return [title, "", *_table(LOCUST_HEADER, study.locust, LOCUST_TEXT_COLUMNS), ""]


def _faults_section(study: StudySummary) -> list[str]:
    if not study.faults:
        return []
    header, rows = faults_table(study.faults)
    title = f"### Faults of {study.name}: every request accounted for"
    return [title, "", *_table(header, rows, FAULT_TEXT_COLUMNS), ""]


def _goals_note(studies: list[StudySummary]) -> list[str]:
    line = goals_line(studies)
    return [line, ""] if line else []


def _goals_section(study: StudySummary) -> list[str]:
    if not study.goals:
        return []
    header, rows, _ = goals_table(study.goals)
    title = f"### Goals of {study.name}: {counts_text(study.goals)}"
    return [title, "", *_table(header, rows, GOAL_TEXT_COLUMNS), ""]


def _seed_note(studies: list[StudySummary]) -> list[str]:
    lines = [
        f"- {s.name}: *{r.get('label') or 'seed'}*, on "
        f"{r.get('machine') or 'an unspecified machine'}"
        for s in studies
        if (r := s.headline_reference) is not None
    ]
    if not lines:
        return []
    return ["Seed figures are the seeds' own, measured on their machines:", "", *lines, ""]


def _table(
    header: tuple[str, ...], rows: list[list[str]], text_columns: frozenset[str] = TEXT_COLUMNS
) -> list[str]:
    align = ["---" if name in text_columns else "---:" for name in header]
    # Markdown has no column span: a short row (a cell without numbers) is padded.
    padded = [row + [MISSING] * (len(header) - len(row)) for row in rows]
    return [_row(list(header)), _row(align), *(_row(row) for row in padded)]


def _row(cells: list[str]) -> str:
    return "| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |"
