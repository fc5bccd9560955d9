"""The report's numbers: one summary per cell and per study, computed from loaded results.

A cell's latency percentiles come from its repeats' histograms added together; throughput
counts correct answers only (ok / duration) per repeat, then mean, min and max. Server
signals are maxima over every sample of every repeat, and stay None when the server did not
expose them. The study's headline pairs the best "right" cell with the worst "naive" one.

A study names its main request (payload: "small", classify: "predict"): the study is judged
on that request alone, so each cell is summarised twice, once over all its requests (the
cell table) and once over the main request where every repeat recorded it (`judged`: the
headline, the sentence, the SLO verdict and the charts). Without a main request, in a study
whose cells sent nothing else, or in a cell that did not record it, both are the
all-requests summary.

Usage::

    study = summarize_study(read_run(path).studies[0])
    study.best.throughput_per_s, study.naive.p99_ms, study.sentence
"""

from __future__ import annotations

from typing import Any

from perflab.report.engines import locust_table
from perflab.report.faults import fault_rows
from perflab.report.figures import CellSummary, NameSummary, StudySummary
from perflab.report.pairs import headline_pair
from perflab.report.sentence import study_sentence
from perflab.report.spread import spread_notes
from perflab.report.units import finite
from perflab.results.calibration import Calibration
from perflab.results.model import CellResults, StudyResults

SPECTRUM_PERCENTILES = (50.0, 90.0, 99.0, 99.9)


def summarize_cell(
    cell: CellResults, references: list[dict[str, Any]], request: str | None = None
) -> CellSummary:
    """The numbers of one cell: of all its requests, or of `request` alone when every repeat
    recorded it. Usage: ``summarize_cell(study.cells[0], [], "small")``"""
    figures_of = request if request is not None and judged_on(cell, request) else None
    figures = cell.names[figures_of] if figures_of is not None else cell.total
    measured = cell.measured
    percentiles = _percentiles_ms(figures.histogram) if measured and figures.requests else {}
    throughputs = figures.rates_per_s  # one per repeat, as cell.throughputs_per_s(request)
    samples = [sample for repeat in cell.repeats for sample in repeat.signals.series]
    summaries = [repeat.signals.summary for repeat in cell.repeats]
    return CellSummary(
        name=cell.name,
        label=cell.label,
        role=cell.role,
        status=cell.status,
        reason=cell.reason,
        rerun=cell.rerun,
        figures_of=figures_of,
        repeats=len(cell.repeats),
        requests=figures.requests,
        ok=figures.ok,
        failures_by_kind=dict(sorted(figures.failures_by_kind.items())),
        throughput_per_s=figures.rate_mean_per_s if measured else None,
        throughput_min_per_s=min(throughputs) if measured else None,
        throughput_max_per_s=max(throughputs) if measured else None,
        p50_ms=percentiles.get(50.0),
        p90_ms=percentiles.get(90.0),
        p99_ms=percentiles.get(99.0),
        p999_ms=percentiles.get(99.9),
        cpu_max_pct=_max_of(samples, "cpu_pct"),
        rss_max_bytes=_max_of(samples + summaries, "rss_bytes", "rss_max_bytes"),
        loop_lag_max_ms=_max_of(samples + summaries, "loop_lag_ms", "loop_lag_max_ms"),
        references=references,
        knee=cell.knee,
        names=_name_rows(cell) if len(cell.names) > 1 else [],
    )


def _name_rows(cell: CellResults) -> list[NameSummary]:
    rows = []
    for totals in cell.names.values():
        spectrum = _percentiles_ms(totals.histogram) if totals.requests else {}
        rows.append(
            NameSummary(
                name=totals.name,
                requests=totals.requests,
                throughput_per_s=totals.rate_mean_per_s,
                error_pct=100.0 * totals.failures / totals.requests if totals.requests else 0,
                p50_ms=spectrum.get(50.0),
                p90_ms=spectrum.get(90.0),
                p99_ms=spectrum.get(99.0),
                p999_ms=spectrum.get(99.9),
            )
        )
    return rows


def judged_on(cell: CellResults, request: str) -> bool:
    """True when each repeat of the cell recorded `request` (a name's totals hold one rate
    per repeat that recorded it). Usage: ``judged_on(cell, "small")``"""
    totals = cell.names.get(request)
    repeats = len(cell.repeats)
    return bool(repeats) and totals is not None and len(totals.rates_per_s) == repeats


def study_focus(study: StudyResults) -> str | None:
    """The study's main request when some cell recorded it beside other requests; None when
    it names none, or when no cell sent anything else (its totals are that request's).
    Usage: ``study_focus(study)``"""
    main = study.main_request
    if main is None:
        return None
    return main if any(len(c.names) > 1 and judged_on(c, main) for c in study.cells) else None


def summarize_study(study: StudyResults, calibration: Calibration | None = None) -> StudySummary:
    """Cells, headline pair and sentence of one study. Usage: ``summarize_study(s)``"""
    focus = study_focus(study)
    cells: list[CellSummary] = []
    judged: list[CellSummary] = []
    for cell in study.cells:
        references = [r for r in study.references if r.get("cell") == cell.name]
        whole = summarize_cell(cell, references)
        cells.append(whole)
        focused = focus is not None and judged_on(cell, focus)
        judged.append(summarize_cell(cell, references, focus) if focused else whole)
    names = {cell.name for cell in study.cells}
    unmatched = [r for r in study.references if r.get("cell") not in names]
    best, naive, by_knee = headline_pair(judged)
    return StudySummary(
        name=study.name,
        title=study.title,
        seed=study.seed,
        question=study.question,
        slo_p99_ms=study.slo_p99_ms,
        main_request=study.main_request,
        focus=focus,
        status=study.status,
        reason=study.reason,
        cells=cells,
        judged=judged,
        unmatched_references=unmatched,
        best=best,
        naive=naive,
        by_knee=by_knee,
        sentence=study_sentence(study.status, study.reason, study.slo_p99_ms, judged, best, naive),
        goals=list(study.goals),
        faults=fault_rows(study),
        locust=locust_table(study)[1],
        spread=spread_notes(study, calibration),
    )


def _percentiles_ms(histogram: Any) -> dict[float, float]:
    values_us = histogram.values_at_percentiles(SPECTRUM_PERCENTILES)
    return {p: v / 1000.0 for p, v in values_us.items()}


def _max_of(samples: list[dict[str, Any]], *keys: str) -> float | None:
    values = [v for s in samples for k in keys if (v := finite(s.get(k))) is not None]
    return max(values) if values else None
