"""The data behind report.html's charts: one JSON-ready dict, small enough to inline.

Per study that measured something: throughput per cell beside the seed's published figure,
the latency spectrum per cell (p50..p99.99 on a "nines" axis), both of the study's main
request where a cell recorded it (`figures_of`, the same figures the headline uses), the
per-second timeline (all requests)
charts (see `timeline`), and the knee curve when a cell has one. Studies that measured
nothing carry no chart data; the page shows their reason instead.

Usage::

    data = page_data(results, summaries)
    json.dumps(data)     # goes into <script type="application/json" id="perflab-data">
"""

from __future__ import annotations

import math
from typing import Any

from perflab.report.faults import fault_marks
from perflab.report.figures import StudySummary
from perflab.report.timeline import MIN_LATENCY_MS, study_timeline
from perflab.report.units import finite
from perflab.results.model import RunResults, StudyResults

# x = -log10(1 - p/100): p50 -> 0.30, p90 -> 1, p99 -> 2, p99.9 -> 3, p99.99 -> 4
SPECTRUM_POINTS = 60
SPECTRUM_FIRST_NINES = math.log10(2.0)
SPECTRUM_LAST_NINES = 4.0


def page_data(results: RunResults, summaries: list[StudySummary]) -> dict[str, Any]:
    """Everything the page's script draws. Usage: ``page_data(results, summaries)``"""
    return {
        "run_id": results.run_id,
        "studies": [
            _study(s, summary) for s, summary in zip(results.studies, summaries, strict=True)
        ],
    }


def _study(study: StudyResults, summary: StudySummary) -> dict[str, Any]:
    measured = [cell for cell in study.cells if cell.measured]
    data: dict[str, Any] = {
        "name": study.name,
        "title": study.title,
        "slo_p99_ms": study.slo_p99_ms,
        "figures_of": summary.focus,  # throughput and spectrum count this request (None: all)
        "cells": [cell.name for cell in study.cells],  # fixes each cell's colour
        "charts": None,
    }
    knee = _knee(summary)
    if study.status != "ran" or not (measured or knee):
        return data
    # A --find-knee run measures no throughput: its page has the knee chart only.
    axis_s, timeline = study_timeline(study.cells) if measured else ([], [])
    data["charts"] = {
        "throughput": _throughput(summary) if measured else None,
        "spectrum": _spectrum(study, summary) if measured else None,
        # Faults are marked on every chart of the shared time axis (report.js).
        "timeline": {"t_s": axis_s, "charts": timeline, "marks": fault_marks(study)},
        "knee": knee,
    }
    return data


def _throughput(summary: StudySummary) -> dict[str, Any]:
    labels: list[str] = []
    measured: list[float | None] = []
    reference: list[float | None] = []
    notes: list[str | None] = []
    for cell in summary.judged:
        labels.append(cell.name)
        measured.append(_rounded(cell.throughput_per_s))
        ref = cell.reference or {}
        reference.append(_rounded(ref.get("requests_per_s")))
        notes.append(_reference_note(ref) if ref else None)
    # Rows for one request of a cell, or for no cell, get a bar of their own.
    extra = [r for c in summary.judged for r in c.references if r is not c.reference]
    for ref in extra + summary.unmatched_references:
        if finite(ref.get("requests_per_s")) is not None:
            labels.append(str(ref.get("label") or "seed"))
            measured.append(None)
            reference.append(_rounded(ref["requests_per_s"]))
            notes.append(_reference_note(ref))
    return {"labels": labels, "measured": measured, "reference": reference, "notes": notes}


def _reference_note(ref: dict[str, Any]) -> str:
    return f"{ref.get('label') or 'seed'}, on {ref.get('machine') or 'an unspecified machine'}"


def _spectrum(study: StudyResults, summary: StudySummary) -> dict[str, Any]:
    step = (SPECTRUM_LAST_NINES - SPECTRUM_FIRST_NINES) / (SPECTRUM_POINTS - 1)
    nines = [SPECTRUM_FIRST_NINES + i * step for i in range(SPECTRUM_POINTS)]
    percentiles = [100.0 * (1.0 - 10.0**-x) for x in nines]
    series = []
    for cell, judged in zip(study.cells, summary.judged, strict=True):
        totals = cell.names[judged.figures_of] if judged.figures_of else cell.total
        if not cell.measured or not totals.requests:
            continue
        values_us = totals.histogram.values_at_percentiles(percentiles)
        series.append(
            {
                "name": cell.name,
                "values": [max(values_us[p] / 1000, MIN_LATENCY_MS) for p in percentiles],
            }
        )
    return {"nines": [round(x, 4) for x in nines], "series": series}


def _knee(summary: StudySummary) -> dict[str, Any] | None:
    """Throughput (x) against p99 (y) per cell; x is the union of every cell's points, as
    uPlot draws series over one shared x array (gaps are bridged per series)."""
    curves: dict[str, dict[float, float]] = {}
    for cell in summary.cells:
        points = (cell.knee or {}).get("points") or []
        curve = {}
        for point in points:
            x, y = finite(point.get("throughput_per_s")), finite(point.get("p99_ms"))
            if x is not None and y is not None:
                curve[round(x, 3)] = max(y, MIN_LATENCY_MS)
        if curve:
            curves[cell.name] = curve
    if not curves:
        return None
    xs = sorted({x for curve in curves.values() for x in curve})
    return {
        "throughput_per_s": xs,
        "series": [
            {"name": name, "values": [curve.get(x) for x in xs]} for name, curve in curves.items()
        ],
    }


def _rounded(value: Any) -> float | None:
    number = finite(value)
    return round(number, 3) if number is not None else None
