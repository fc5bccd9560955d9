"""The report's figures: what the tables, charts and sentences show for a cell and a study.

Computed by `perflab.report.summary` from a stored run; read by `pairs`, `sentence`,
`tables`, `page_data`. Plain data, so every module above can import it without a cycle.

Usage::

    cell.throughput_per_s, cell.p99_ms, study.best, study.speedup
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from perflab.report.units import finite
from perflab.results.goals import GoalResult


def rank_value(cell: CellSummary, by_knee: bool) -> float:
    """The number cells are ranked by: throughput, or the knee rate in a run that measured
    only knees. Usage: ``rank_value(cell, by_knee=False)``"""
    value = cell.knee_rate_per_s if by_knee else cell.throughput_per_s
    return value or 0.0


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
    goals: list[GoalResult] = field(default_factory=list)  # as bench checked and stored them
    faults: list[dict[str, Any]] = field(default_factory=list)  # report.faults.fault_rows
    locust: list[list[str]] = field(default_factory=list)  # report.engines.locust_table rows
    spread: list[str] = field(default_factory=list)  # report.spread.spread_notes

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
