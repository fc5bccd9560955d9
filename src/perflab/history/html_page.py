"""history.html: one self-contained page, a chart per cell and metric over the runs with
the change points marked (red: worse, green: better), and the same tables as the terminal.

uPlot is the report's vendored copy (src/perflab/report/vendor/uplot, MIT), read as a file
and inlined; nothing is fetched: the page opens from a file, offline.

Usage::

    Path("history.html").write_text(history_html(series), encoding="utf-8")
"""

from __future__ import annotations

import json
import time
from html import escape
from importlib import resources
from typing import Any

from perflab.history.render import COLUMNS, LABELS, by_study, change_text, table_row
from perflab.history.series import Series


def _asset(*parts: str) -> str:
    # Read through the perflab package, not perflab.report: the report is another layer's
    # module, and only its files are shared here.
    return resources.files("perflab").joinpath(*parts).read_text(encoding="utf-8")


def page_data(series: list[Series]) -> list[dict[str, Any]]:
    """What the script draws: one entry per chart. Usage: ``page_data(series)``"""
    return [
        {
            "id": f"chart-{number}",
            "title": f"{item.study} / {item.cell}: {LABELS.get(item.metric, item.metric)}",
            "metric": item.metric,
            "values": item.values,
            "runs": [point.revision or point.run_id for point in item.points],
            "dates": [
                time.strftime("%Y-%m-%d %H:%M", time.gmtime(point.created_at_unix_s))
                for point in item.points
            ],
            "changes": [
                {"index": change.index, "worse": change.worse, "text": change_text(item, change)}
                for change in item.changes
            ],
        }
        for number, item in enumerate(series)
    ]


def history_html(series: list[Series]) -> str:
    """The whole page as one string. Usage: see module."""
    data = page_data(series)
    data_json = json.dumps(data, separators=(",", ":"), allow_nan=False).replace("<", "\\u003c")
    body = ["<h1>perflab history</h1>"]
    runs = max((len(item.points) for item in series), default=0)
    body.append(
        f"<p class='meta'>{len(series)} series over up to {runs} runs; change points by "
        "e-divisive means with a permutation test (p &lt; 0.01), shown when the level moved "
        "by at least the floor compare reports from.</p>"
    )
    number = 0
    for study, items in by_study(series):
        body.append(f"<h2>{escape(study)}</h2>")
        header = "".join(f"<th>{escape(c)}</th>" for c in COLUMNS)
        rows = []
        previous = None
        for item in items:
            cells = "".join(f"<td>{escape(v)}</td>" for v in table_row(item, item.cell != previous))
            rows.append(f"<tr>{cells}</tr>")
            previous = item.cell
        body.append(
            f"<table><thead><tr>{header}</tr></thead><tbody>{''.join(rows)}</tbody></table>"
        )
        body.append("<div class='charts'>")
        for _ in items:
            body.append(f"<div class='chart' id='chart-{number}'></div>")
            number += 1
        body.append("</div>")
    return "\n".join(
        [
            "<!DOCTYPE html>",
            "<html lang='en'><head><meta charset='utf-8'>",
            "<meta name='viewport' content='width=device-width, initial-scale=1'>",
            "<title>perflab history</title>",
            f"<style>{_asset('report', 'vendor', 'uplot', 'uPlot.min.css')}</style>",
            f"<style>{_asset('history', 'static', 'history.css')}</style>",
            "</head><body><main>",
            *body,
            "</main>",
            f"<script type='application/json' id='perflab-history'>{data_json}</script>",
            f"<script>{_asset('report', 'vendor', 'uplot', 'uPlot.iife.min.js')}</script>",
            f"<script>{_asset('history', 'static', 'history.js')}</script>",
            "</body></html>",
        ]
    )
