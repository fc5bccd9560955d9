"""report.html: one self-contained page (vendored uPlot, styles, script and data inlined).

Tables are written here, in Python, so they read without JavaScript; the charts are drawn
by `static/report.js` from the `<script type="application/json" id="perflab-data">` block.
Each chart has a slot `<div class="chart" data-study=N data-chart=ID>`; the script draws
into every slot. Nothing is fetched: the page opens from a file, offline.

Usage::

    page = render_html(results, summaries)
    Path("report.html").write_text(page, encoding="utf-8")
"""

from __future__ import annotations

import json
from html import escape
from importlib import resources
from typing import Any

from perflab.report.engines import LOCUST_HEADER, LOCUST_TEXT_COLUMNS
from perflab.report.faults import FAULT_TEXT_COLUMNS, faults_table
from perflab.report.figures import StudySummary
from perflab.report.goals import GOAL_TEXT_COLUMNS, counts_text, goals_line, goals_table
from perflab.report.page_data import page_data
from perflab.report.tables import (
    HEADLINE_HEADER,
    KNEE_POINTS_HEADER,
    TEXT_COLUMNS,
    figures_note,
    headline_row,
    knee_line,
    knee_points_rows,
    machine_line,
    reference_notes,
    repeats_text,
    status_notes,
    study_table,
)
from perflab.report.units import format_pct
from perflab.results.model import RunResults


def _asset(*parts: str) -> str:
    return resources.files("perflab.report").joinpath(*parts).read_text(encoding="utf-8")


def render_html(results: RunResults, studies: list[StudySummary]) -> str:
    """The whole page as one string. Usage: ``render_html(results, summaries)``"""
    data = page_data(results, studies)
    # "</script" or "<!--" in a label would end or confuse the script element; "<" only
    # occurs inside JSON strings, where its escaped form reads back the same.
    data_json = json.dumps(data, separators=(",", ":"), allow_nan=False).replace("<", "\\u003c")
    body = [
        f"<h1>perflab bench <span class='run'>{escape(results.run_id)}</span></h1>",
        f"<p class='meta'>Measured on {escape(machine_line(results.machine))}.<br>"
        f"Command: <code>{escape(results.command)}</code> · profile "
        f"{escape(results.profile or '—')} · {escape(repeats_text(results))}</p>",
        "<h2>Headline</h2>",
        _table(HEADLINE_HEADER, [headline_row(s) for s in studies], "headline"),
        "<p class='note'>Figures of: the requests the row counts, the study's main request "
        "where it names one. Best right cell: the fastest cell doing it the right way; naive "
        "cell: the slowest cell doing what the seed did. Seed figures are the seeds' own, "
        "measured on other machines: compare shapes, not absolute numbers.</p>",
    ]
    line = goals_line(studies)
    if line:
        body.append(f"<p class='goals-count'>{escape(line)}</p>")
    for index, (study, chart_data) in enumerate(zip(studies, data["studies"], strict=True)):
        body.append(_study_section(index, study, chart_data))
    return "\n".join(
        [
            "<!DOCTYPE html>",
            "<html lang='en'><head><meta charset='utf-8'>",
            "<meta name='viewport' content='width=device-width, initial-scale=1'>",
            f"<title>perflab report {escape(results.run_id)}</title>",
            f"<style>{_asset('vendor', 'uplot', 'uPlot.min.css')}</style>",
            f"<style>{_asset('static', 'report.css')}</style>",
            "</head><body><main>",
            *body,
            "</main>",
            f"<script type='application/json' id='perflab-data'>{data_json}</script>",
            f"<script>{_asset('vendor', 'uplot', 'uPlot.iife.min.js')}</script>",
            f"<script>{_asset('static', 'report.js')}</script>",
            "</body></html>",
        ]
    )


def _study_section(index: int, study: StudySummary, chart_data: dict[str, Any]) -> str:
    seed = f" <span class='seed'>seed {escape(study.seed)}</span>" if study.seed else ""
    parts = [
        f"<section class='study' id='study-{escape(study.name)}'>",
        f"<h2>{escape(study.name)}: {escape(study.title)}{seed}</h2>",
    ]
    if study.question:
        parts.append(f"<p class='question'>{escape(study.question)}</p>")
    parts.append(f"<p class='sentence'>{escape(study.sentence)}</p>")
    if study.cells:
        parts += [f"<p class='note'>{escape(line)}</p>" for line in figures_note(study)]
        header, rows, kinds = study_table(study)
        parts.append(_table(header, rows, "cells", kinds))
        notes = reference_notes(study) + status_notes(study) + study.spread
        parts += [f"<p class='note'>{escape(line)}</p>" for line in notes]
    if study.goals:
        header, rows, kinds = goals_table(study.goals)
        parts.append(f"<h3>Goals: {escape(counts_text(study.goals))}</h3>")
        parts.append(_table(header, rows, "goals", kinds, GOAL_TEXT_COLUMNS))
    if study.faults:
        header, rows = faults_table(study.faults)
        parts.append("<h3>Faults: every request accounted for</h3>")
        parts.append(_table(header, rows, "faults", None, FAULT_TEXT_COLUMNS))
    if study.locust:
        parts.append("<h3>On locust's runner: its own figures beside the exact ones</h3>")
        parts.append(_table(LOCUST_HEADER, study.locust, "locust", None, LOCUST_TEXT_COLUMNS))
    charts = chart_data.get("charts")
    if charts:
        parts.append(_chart_slots(index, charts))
    if any(c.measured for c in study.cells):
        parts.append(_failures_table(study))
    for cell in study.cells:
        if cell.knee:
            parts.append(f"<h3>{escape(knee_line(cell))}</h3>")
            parts.append(_table(KNEE_POINTS_HEADER, knee_points_rows(cell.knee), "knee"))
    parts.append(_reruns(study))
    parts.append("</section>")
    return "\n".join(parts)


def _chart_slots(index: int, charts: dict[str, Any]) -> str:
    def slot(chart_id: str, size: str) -> str:
        return (
            f"<div class='chart {size}' data-study='{index}' data-chart='{escape(chart_id)}'></div>"
        )

    parts = []
    pair = [slot(key, "half") for key in ("throughput", "spectrum") if charts.get(key)]
    if pair:
        parts.append("<div class='pair'>" + "".join(pair) + "</div>")
    timeline = charts.get("timeline") or {}
    if timeline.get("charts"):
        parts.append(
            "<h3>Over time</h3><p class='note'>Seconds since the load started, repeats "
            "merged; one cursor moves across all of this study's charts.</p>"
        )
        parts += [slot(f"timeline:{c['id']}", "wide") for c in timeline["charts"]]
    if charts.get("knee"):
        parts.append(slot("knee", "wide"))
    return "".join(parts)


def _failures_table(study: StudySummary) -> str:
    measured = [c for c in study.cells if c.measured]
    kinds = sorted({kind for c in measured for kind in c.failures_by_kind})
    if not kinds:
        return "<h3>Failures</h3><p class='note'>No request failed in any cell.</p>"
    header = ("Failure", *(c.name for c in measured))
    rows = []
    for kind in kinds:
        row = [kind]
        for cell in measured:
            count = cell.failures_by_kind.get(kind, 0)
            share = 100.0 * count / cell.requests if cell.requests else None
            row.append(f"{count} ({format_pct(share)})" if count else "0")
        rows.append(row)
    return "<h3>Failures by kind</h3>" + _table(header, rows, "failures")


def _reruns(study: StudySummary) -> str:
    items = "".join(f"<li><code>{escape(c.rerun)}</code></li>" for c in study.cells if c.rerun)
    return f"<details><summary>Rerun one cell</summary><ul>{items}</ul></details>" if items else ""


def _table(
    header: tuple[str, ...],
    rows: list[list[str]],
    kind: str,
    row_kinds: list[str] | None = None,
    text_columns: frozenset[str] = TEXT_COLUMNS,
) -> str:
    text = [name in text_columns for name in header]
    head = "".join(
        f"<th class='{'text' if t else 'num'}'>{escape(name)}</th>"
        for name, t in zip(header, text, strict=True)
    )
    body = []
    for i, row in enumerate(rows):
        css = f" class='{row_kinds[i]}'" if row_kinds else ""
        cells = [
            f"<td class='{'text' if t else 'num'}'>{escape(value)}</td>"
            for value, t in zip(row[:-1], text, strict=False)
        ]
        span = len(header) - len(row) + 1  # a short row's last field spans the rest
        if span > 1:
            cells.append(f"<td class='text why' colspan='{span}'>{escape(row[-1])}</td>")
        else:
            cells.append(f"<td class='{'text' if text[-1] else 'num'}'>{escape(row[-1])}</td>")
        body.append(f"<tr{css}>{''.join(cells)}</tr>")
    return (
        f"<div class='scroll'><table class='{kind}'><thead><tr>{head}</tr></thead>"
        f"<tbody>{''.join(body)}</tbody></table></div>"
    )
