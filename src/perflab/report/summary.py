"""The report's numbers: one summary per cell and per study, computed from loaded results.

A cell's latency percentiles come from its repeats' histograms added together; throughput
counts correct answers only (ok / duration) per repeat, then mean, min and max. Server
signals are maxima over every sample of every repeat, and stay None when the server did not
expose them. The study's headline pairs the best "right" cell with the worst "naive" one.

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
        """The seed's row for the whole cell (not one request). Usage: ``cell.reference``"""
        return next((r for r in self.references if not r.get("request")), None)

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
    status: str
    reason: str | None
    cells: list[CellSummary]
    unmatched_references: list[dict[str, Any]]
    best: CellSummary | None  # the fastest "right" cell (or fastest non-naive)
    naive: CellSummary | None  # the slowest "naive" cell
    by_knee: bool  # no cell measured throughput: the pair is ranked by knee rate
    sentence: str

    @property
    def speedup(self) -> float | None:
        """Best cell's throughput (or knee rate) over the naive cell's. Usage: ``s.speedup``"""
        if self.best is None or self.naive is None or self.best is self.naive:
            return None
        naive = rank_value(self.naive, self.by_knee)
        return rank_value(self.best, self.by_knee) / naive if naive else None

    @property
    def headline_reference(self) -> dict[str, Any] | None:
        """The seed figure beside the headline: the naive cell's row, else any with a rate.
        Usage: ``study.headline_reference``"""
        for cell in (self.naive, self.best):
            if cell is not None and cell.reference is not None:
                return cell.reference
        rows = [r for c in self.cells for r in c.references] + self.unmatched_references
        return next((r for r in rows if r.get("requests_per_s") is not None), None)


def summarize_cell(cell: Cell, references: list[dict[str, Any]]) -> CellSummary:
    """The numbers of one cell. Usage: ``summarize_cell(study.cells[0], [])``"""
    measured = cell.measured
    percentiles = _percentiles_ms(cell.total.histogram) if measured else {}
    throughputs = cell.throughputs_per_s
    samples = [sample for run in cell.runs for sample in run.signals]
    summaries = [run.signals_summary for run in cell.runs]
    names = []
    if len(cell.names) > 1:
        for totals in cell.names.values():
            spectrum = _percentiles_ms(totals.histogram) if totals.requests else {}
            names.append(
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
    return CellSummary(
        name=cell.name,
        label=cell.label,
        role=cell.role,
        status=cell.status,
        reason=cell.reason,
        rerun=cell.rerun,
        repeats=len(cell.runs),
        requests=cell.total.requests,
        ok=cell.total.ok,
        failures_by_kind=dict(sorted(cell.total.failures_by_kind.items())),
        throughput_per_s=cell.throughput_mean_per_s if measured else None,
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
        names=names,
    )


def summarize_study(study: Study) -> StudySummary:
    """Cells, headline pair and sentence of one study. Usage: ``summarize_study(s)``"""
    cells = [
        summarize_cell(cell, [r for r in study.references if r.get("cell") == cell.name])
        for cell in study.cells
    ]
    names = {cell.name for cell in study.cells}
    unmatched = [r for r in study.references if r.get("cell") not in names]
    best, naive, by_knee = headline_pair(cells)
    return StudySummary(
        name=study.name,
        title=study.title,
        seed=study.seed,
        question=study.question,
        slo_p99_ms=study.slo_p99_ms,
        status=study.status,
        reason=study.reason,
        cells=cells,
        unmatched_references=unmatched,
        best=best,
        naive=naive,
        by_knee=by_knee,
        sentence=study_sentence(study.status, study.reason, study.slo_p99_ms, cells, best, naive),
    )


def _percentiles_ms(histogram: Any) -> dict[float, float]:
    values_us = histogram.values_at_percentiles(SPECTRUM_PERCENTILES)
    return {p: v / 1000.0 for p, v in values_us.items()}


def _max_of(samples: list[dict[str, Any]], *keys: str) -> float | None:
    values = [v for s in samples for k in keys if (v := finite(s.get(k))) is not None]
    return max(values) if values else None
