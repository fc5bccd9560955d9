"""Read a `perflab.bench/1` results document (with bench's one reader, which finds the file
and checks the format) and merge each cell's repeats.

The report reads only stored files (results are data). Everything optional in the format
(references, runs, signals metrics, the knee) may be missing or null here, and the loader
keeps it that way instead of inventing zeros. Histograms are decoded and added across
repeats, so merged percentiles are exact; throughput is per repeat (ok answers over that
repeat's duration), summarised as mean, min and max.

Usage::

    results = load_results(Path("perflab-results/20261204T201500Z-3f2a"))
    cell = results.studies[0].cells[0]
    cell.histogram.value_at_percentile(99.0), cell.throughput_mean_per_s
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from perflab.bench.results import FORMAT as FORMAT  # re-exported: the format this reads
from perflab.bench.results import ResultsError, read_results_file
from perflab.loadgen.histogram import LatencyHistogram

# A file this report cannot read (bench's one reader says why); no results at all is also a
# FileNotFoundError.
ResultsFormatError = ResultsError


@dataclass
class NameTotals:
    """One request name of one cell, repeats merged. Usage: ``cell.names["small"].ok``"""

    name: str
    requests: int = 0
    failures_by_kind: dict[str, int] = field(default_factory=dict)
    histogram: LatencyHistogram = field(default_factory=LatencyHistogram)
    rates_per_s: list[float] = field(default_factory=list)  # ok per second, one per repeat

    @property
    def failures(self) -> int:
        """All failures, whatever their kind. Usage: ``totals.failures``"""
        return sum(self.failures_by_kind.values())

    @property
    def ok(self) -> int:
        """Requests answered correctly. Usage: ``totals.ok``"""
        return self.requests - self.failures

    @property
    def rate_mean_per_s(self) -> float:
        """Mean over repeats of ok answers per second. Usage: ``totals.rate_mean_per_s``"""
        return sum(self.rates_per_s) / len(self.rates_per_s) if self.rates_per_s else 0.0

    def add(self, stats: dict[str, Any], duration_s: float) -> None:
        """Add one repeat's counts and histogram: `stats` is a recording (or one of its
        names) as stored. Usage: ``totals.add(run["recording"], 10.0)``"""
        requests = int(stats.get("requests", 0))
        failures = 0
        for kind, count in (stats.get("failures_by_kind") or {}).items():
            self.failures_by_kind[kind] = self.failures_by_kind.get(kind, 0) + int(count)
            failures += int(count)
        self.requests += requests
        ok = int(stats.get("ok", requests - failures))
        self.rates_per_s.append(ok / duration_s if duration_s > 0 else 0.0)
        self.histogram.merge(LatencyHistogram.decode(stats.get("histogram") or ""))


@dataclass
class Run:
    """One repeat of one cell, as stored. Usage: ``run.ok / run.duration_s``"""

    repeat: int
    duration_s: float
    requests: int
    ok: int
    time_series: list[dict[str, Any]]  # the recording's per-second windows (all names)
    signals: list[dict[str, Any]]  # server samples; a metric not exposed is absent
    signals_summary: dict[str, Any]

    @property
    def throughput_per_s(self) -> float:
        """Correct answers per second of this repeat. Usage: ``run.throughput_per_s``"""
        return self.ok / self.duration_s if self.duration_s > 0 else 0.0


@dataclass
class Cell:
    """One cell with its repeats merged. Usage: ``cell.total.histogram.percentiles()``"""

    name: str
    label: str
    role: str  # naive | right | variant
    status: str  # ran | skipped | failed
    reason: str | None
    rerun: str | None
    settings: dict[str, Any]
    knee: dict[str, Any] | None
    runs: list[Run]
    total: NameTotals
    names: dict[str, NameTotals]

    @property
    def measured(self) -> bool:
        """True when at least one repeat recorded a request. Usage: ``cell.measured``"""
        return bool(self.runs) and self.total.requests > 0

    @property
    def throughputs_per_s(self) -> list[float]:
        """Ok answers per second, one per repeat. Usage: ``cell.throughputs_per_s``"""
        return [run.throughput_per_s for run in self.runs]

    @property
    def throughput_mean_per_s(self) -> float:
        """Mean over repeats of ok answers per second. Usage: ``cell.throughput_mean_per_s``"""
        values = self.throughputs_per_s
        return sum(values) / len(values) if values else 0.0


@dataclass
class Study:
    """One study: its cells and the seed's published rows. Usage: ``study.cells``"""

    name: str
    seed: str | None
    title: str
    question: str
    slo_p99_ms: float | None
    main_request: str | None  # the request the study is about; None: judge all requests
    status: str  # ran | skipped | not_available
    reason: str | None
    references: list[dict[str, Any]]
    cells: list[Cell]


@dataclass
class Results:
    """A whole results document. Usage: ``load_results(path).studies``"""

    path: Path
    run_id: str
    command: str
    profile: str
    repeat: int
    created_at_unix_s: float | None
    machine: dict[str, Any]
    studies: list[Study]


def load_results(path: Path) -> Results:
    """Read and check a results document (a file, a run folder, or a folder of runs: the
    newest), and merge each cell's repeats. Usage: ``load_results(p)``"""
    source, document = read_results_file(path, newest_run=True)
    return Results(
        path=source,
        run_id=str(document.get("run_id") or source.parent.name),
        command=str(document.get("command") or ""),
        profile=str(document.get("profile") or ""),
        repeat=int(document.get("repeat") or 1),
        created_at_unix_s=document.get("created_at_unix_s"),
        machine=dict(document.get("machine") or {}),
        studies=[_study(s) for s in document.get("studies") or []],
    )


def _study(data: dict[str, Any]) -> Study:
    slo = data.get("slo_p99_ms")
    return Study(
        name=str(data["name"]),
        seed=data.get("seed"),
        title=str(data.get("title") or data["name"]),
        question=str(data.get("question") or ""),
        slo_p99_ms=float(slo) if slo is not None else None,
        # Absent in files written before bench recorded it: judged on all requests then.
        main_request=str(main) if (main := data.get("main_request")) else None,
        status=str(data.get("status") or "ran"),
        reason=data.get("reason"),
        references=[dict(r) for r in data.get("references") or []],
        cells=[_cell(c) for c in data.get("cells") or []],
    )


def _cell(data: dict[str, Any]) -> Cell:
    runs: list[Run] = []
    total = NameTotals("all")
    names: dict[str, NameTotals] = {}
    for run_data in data.get("runs") or []:
        recording = run_data.get("recording") or {}
        run = _run(run_data, recording)
        runs.append(run)
        total.add(recording, run.duration_s)
        for name, stats in (recording.get("names") or {}).items():
            names.setdefault(name, NameTotals(name)).add(stats, run.duration_s)
    return Cell(
        name=str(data["name"]),
        label=str(data.get("label") or data["name"]),
        role=str(data.get("role") or "variant"),
        status=str(data.get("status") or "ran"),
        reason=data.get("reason"),
        rerun=data.get("rerun"),
        settings=dict(data.get("settings") or {}),
        knee=data.get("knee"),
        runs=runs,
        total=total,
        names=names,
    )


def _run(data: dict[str, Any], recording: dict[str, Any]) -> Run:
    requests = int(recording.get("requests", 0))
    failures = sum(int(v) for v in (recording.get("failures_by_kind") or {}).values())
    duration_s = recording.get("duration_s")
    if duration_s is None:
        duration_s = float(recording.get("ended_at_unix_s", 0.0)) - float(
            recording.get("started_at_unix_s", 0.0)
        )
    signals = data.get("signals") or {}
    return Run(
        repeat=int(data.get("repeat", 0)),
        duration_s=max(float(duration_s), 0.0),
        requests=requests,
        ok=int(recording.get("ok", requests - failures)),
        time_series=list(recording.get("time_series") or []),
        signals=list(signals.get("series") or []),
        signals_summary=dict(signals.get("summary") or {}),
    )
