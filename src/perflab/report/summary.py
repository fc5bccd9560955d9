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

    study = summarize_study(load_results(path).studies[0])
    study.best.throughput_per_s, study.naive.p99_ms, study.sentence
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from perflab.report.load import Cell, Study
from perflab.report.pairs import headline_pair, rank_value
from perflab.report.sentence import study_sentence
from perflab.report.units import finite

SPECTRUM_PERCENTILES = (50.0, 90.0, 99.0, 99.9)


@dataclass
class NameSummary:
    """One request name of a multi-name cell. Usage: ``row.p99_ms``"""

    name: str
    requests: int
    throughput_per_s: float
    error_pct: float
    p50_ms: float | None
    p90_ms: float | None
    p99_ms: float | None
    p999_ms: float | None


@dataclass
class CellSummary:
    """Everything the tables show for one cell. Usage: ``cell.throughput_per_s``"""

    name: str
    label: str
    role: str
    status: str
    reason: str | None
    rerun: str | None
    figures_of: str | None  # the request the figures below count; None: all requests
    repeats: int
    requests: int
    ok: int
    failures_by_kind: dict[str, int]
    throughput_per_s: float | None  # mean of repeats; None when nothing was measured
    throughput_min_per_s: float | None
    throughput_max_per_s: float | None
    p50_ms: float | None
    p90_ms: float | None
    p99_ms: float | None
    p999_ms: float | None
    cpu_max_pct: float | None
    rss_max_bytes: float | None
    loop_lag_max_ms: float | None
    references: list[dict[str, Any]]  # the seed's rows for this cell (whole or one request)
    knee: dict[str, Any] | None
    names: list[NameSummary] = field(default_factory=list)  # only when several names

    @property
    def measured(self) -> bool:
        """True when the cell has numbers to show. Usage: ``cell.measured``"""
        return self.throughput_per_s is not None

    @property
    def reference(self) -> dict[str, Any] | None:
        """The seed's row for what the figures count: the whole cell, or the one request they
        are of. Usage: ``cell.reference``"""
        return next((r for r in self.references if r.get("request") == self.figures_of), None)

    @property
    def requests_word(self) -> str:
        """What the figures count, for a sentence. Usage: ``f"{cell.requests_word} failed"``"""
        return f"{self.figures_of} requests" if self.figures_of else "requests"

    @property
    def knee_rate_per_s(self) -> float | None:
        """The highest rate within the SLO, with --find-knee. Usage: ``cell.knee_rate_per_s``"""
        return finite((self.knee or {}).get("rate_per_s"))

    @property
    def knee_p99_ms(self) -> float | None:
        """p99 at the knee rate (the fastest point within the SLO). Usage: ``c.knee_p99_ms``"""
        points = [p for p in (self.knee or {}).get("points") or [] if p.get("ok")]
        rated = [p for p in points if finite(p.get("rate_per_s")) is not None]
        if not rated:
            return None
        return finite(max(rated, key=lambda p: float(p["rate_per_s"])).get("p99_ms"))

    @property
    def failures(self) -> int:
        """All failed requests. Usage: ``cell.failures``"""
        return sum(self.failures_by_kind.values())

    @property
    def error_pct(self) -> float | None:
        """Failed requests as a share of all finished ones. Usage: ``cell.error_pct``"""
        return 100.0 * self.failures / self.requests if self.requests else None

    @property
    def main_failure(self) -> str | None:
        """The most frequent failure kind. Usage: ``cell.main_failure``"""
        if not self.failures_by_kind:
            return None
        return max(sorted(self.failures_by_kind), key=lambda k: self.failures_by_kind[k])


@dataclass
class StudySummary:
    """A study's cells, its headline pair and its sentence. Usage: ``study.sentence``"""

    name: str
    title: str
    seed: str | None
    question: str
    slo_p99_ms: float | None
    main_request: str | None  # as the study names it, recorded or not
    focus: str | None  # the main request when the judged figures count it alone, else None
    status: str
    reason: str | None
    cells: list[CellSummary]  # all requests: the cell table
    judged: list[CellSummary]  # the same cells on the main request where they recorded it
    unmatched_references: list[dict[str, Any]]
    best: CellSummary | None  # the fastest "right" cell (or fastest non-naive), judged
    naive: CellSummary | None  # the slowest "naive" cell, judged
    by_knee: bool  # no cell measured throughput: the pair is ranked by knee rate
    sentence: str

    @property
    def unfocused(self) -> list[CellSummary]:
        """Measured cells judged on all requests although the study has a focus: they did not
        record the main request in every repeat. Usage: ``study.unfocused``"""
        if self.focus is None:
            return []
        return [c for c in self.judged if c.measured and c.figures_of is None]

    @property
    def speedup(self) -> float | None:
        """Best cell's throughput (or knee rate) over the naive cell's. Usage: ``s.speedup``"""
        if self.best is None or self.naive is None or self.best is self.naive:
            return None
        naive = rank_value(self.naive, self.by_knee)
        return rank_value(self.best, self.by_knee) / naive if naive else None

    @property
    def headline_reference(self) -> dict[str, Any] | None:
        """The seed figure beside the headline: the naive cell's row for what its figures
        count, else its row for the whole cell, else any row with a rate (one for the main
        request first). Usage: ``study.headline_reference``"""
        for cell in (self.naive, self.best):
            if cell is not None and cell.reference is not None:
                return cell.reference
        for cell in (self.naive, self.best):
            whole = [r for r in (cell.references if cell else []) if not r.get("request")]
            if whole:
                return whole[0]
        rows = [r for c in self.cells for r in c.references] + self.unmatched_references
        rated = [r for r in rows if r.get("requests_per_s") is not None]
        return next((r for r in rated if r.get("request") == self.focus), None) or next(
            iter(rated), None
        )


def summarize_cell(
    cell: Cell, references: list[dict[str, Any]], request: str | None = None
) -> CellSummary:
    """The numbers of one cell: of all its requests, or of `request` alone when every repeat
    recorded it. Usage: ``summarize_cell(study.cells[0], [], "small")``"""
    figures_of = request if request is not None and judged_on(cell, request) else None
    figures = cell.names[figures_of] if figures_of is not None else cell.total
    measured = cell.measured
    percentiles = _percentiles_ms(figures.histogram) if measured and figures.requests else {}
    throughputs = figures.rates_per_s  # for `total`, the same as cell.throughputs_per_s
    samples = [sample for run in cell.runs for sample in run.signals]
    summaries = [run.signals_summary for run in cell.runs]
    return CellSummary(
        name=cell.name,
        label=cell.label,
        role=cell.role,
        status=cell.status,
        reason=cell.reason,
        rerun=cell.rerun,
        figures_of=figures_of,
        repeats=len(cell.runs),
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


def _name_rows(cell: Cell) -> list[NameSummary]:
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


def judged_on(cell: Cell, request: str) -> bool:
    """True when each repeat of the cell recorded `request` (a name's totals hold one rate
    per repeat that recorded it). Usage: ``judged_on(cell, "small")``"""
    totals = cell.names.get(request)
    return bool(cell.runs) and totals is not None and len(totals.rates_per_s) == len(cell.runs)


def study_focus(study: Study) -> str | None:
    """The study's main request when some cell recorded it beside other requests; None when
    it names none, or when no cell sent anything else (its totals are that request's).
    Usage: ``study_focus(study)``"""
    main = study.main_request
    if main is None:
        return None
    return main if any(len(c.names) > 1 and judged_on(c, main) for c in study.cells) else None


def summarize_study(study: Study) -> StudySummary:
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
    )


def _percentiles_ms(histogram: Any) -> dict[float, float]:
    values_us = histogram.values_at_percentiles(SPECTRUM_PERCENTILES)
    return {p: v / 1000.0 for p, v in values_us.items()}


def _max_of(samples: list[dict[str, Any]], *keys: str) -> float | None:
    values = [v for s in samples for k in keys if (v := finite(s.get(k))) is not None]
    return max(values) if values else None
