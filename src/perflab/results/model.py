"""The typed results model: a bench run, its studies, cells and repeats, as the lab uses them.

The runner builds these objects and writes them (`to_dict`, through `results.document`);
report and compare read them back (`from_dict`) and never parse JSON of their own. A repeat's
load is a `perflab.loadgen.Recording` (histograms decoded, per name and per second), so every
figure derived from it — above all throughput, correct answers per second of the measured
duration — is computed once, here. A cell's repeats also merge (`CellResults.total`,
`.names`): histograms add counts, so merged percentiles are exact.

Knee results, the seed's reference rows and server signal samples stay plain JSON objects
(their keys are documented in docs/results-format.md); a metric the server did not expose is
absent, never 0.

Usage::

    run = read_run(Path("perflab-results/20261204T201500Z-3f2a"))
    cell = run.studies[0].cells[0]
    cell.repeats[0].throughput_per_s(), cell.total.histogram.value_at_percentile(99.0)
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from perflab.loadgen.histogram import LatencyHistogram
from perflab.loadgen.recording import NameStats, Recording
from perflab.results.goals import GoalResult


def ok_count(stats: NameStats) -> int:
    """Requests answered correctly. Usage: ``ok_count(recording.total())``"""
    return stats.requests - stats.failure_count


def ok_rate_per_s(stats: NameStats, duration_s: float) -> float:
    """Throughput, the lab's one rule: correct answers per second of the measured duration.
    Usage: ``ok_rate_per_s(recording.total(), recording.duration_s)``"""
    return ok_count(stats) / duration_s if duration_s > 0 else 0.0


@dataclass
class Signals:
    """Server signals sampled while a repeat's load ran. Usage: ``signals.series[0]["cpu_pct"]``"""

    interval_s: float = 1.0
    series: list[dict[str, Any]] = field(default_factory=list)  # t_s + whatever was exposed
    summary: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """As stored. Usage: ``signals.to_dict()``"""
        return {"interval_s": self.interval_s, "series": self.series, "summary": self.summary}

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> Signals:
        """Inverse of `to_dict`; a missing part reads as empty. Usage: ``Signals.from_dict(d)``"""
        data = data or {}
        return cls(
            interval_s=float(data.get("interval_s") or 1.0),
            series=[s for s in data.get("series") or [] if isinstance(s, dict)],
            summary=dict(data.get("summary") or {}),
        )


@dataclass
class RepeatResult:
    """One measured repeat of one cell, on a fresh server. Usage: ``r.throughput_per_s()``"""

    repeat: int
    started_at_unix_s: float
    recording: Recording
    signals: Signals = field(default_factory=Signals)
    server_cpu_s: float | None = None
    generator_cpu_s: float | None = None
    # Fault cells: what each fault did and how the service came through it, and for writes
    # the reconciliation of acknowledged against stored (docs/faults.md). Plain JSON objects.
    faults: list[dict[str, Any]] = field(default_factory=list)
    reconciliation: dict[str, Any] | None = None
    extra: dict[str, Any] = field(default_factory=dict)  # e.g. the warm-up actually used

    @property
    def duration_s(self) -> float:
        """The measured window, from the common start to the last answer."""
        return self.recording.duration_s

    @functools.cached_property
    def total(self) -> NameStats:
        """Every request name of the repeat in one row. Usage: ``repeat.total.requests``"""
        return self.recording.total()

    def stats(self, name: str | None = None) -> NameStats | None:
        """One request name's figures (None: not recorded), or all of them with no name."""
        return self.total if name is None else self.recording.names.get(name)

    def throughput_per_s(self, name: str | None = None) -> float:
        """Correct answers per second (of one request name). Usage: ``r.throughput_per_s()``"""
        stats = self.stats(name)
        return ok_rate_per_s(stats, self.duration_s) if stats is not None else 0.0

    def to_dict(self) -> dict[str, Any]:
        """As stored (docs/results-format.md, Run). Usage: ``repeat.to_dict()``"""
        stored: dict[str, Any] = {
            "repeat": self.repeat,
            "started_at_unix_s": self.started_at_unix_s,
            "recording": self.recording.to_dict(),
            "signals": self.signals.to_dict(),
            "workload_cpu": {
                "server_cpu_s": self.server_cpu_s,
                "generator_cpu_s": self.generator_cpu_s,
            },
        }
        if self.faults:
            stored["faults"] = self.faults
        if self.reconciliation is not None:
            stored["reconciliation"] = self.reconciliation
        return {**stored, **self.extra}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RepeatResult:
        """Inverse of `to_dict`. Raises KeyError/TypeError/ValueError on a malformed part."""
        workload = data.get("workload_cpu") or {}
        recording = Recording.from_dict(data["recording"])
        return cls(
            repeat=int(data.get("repeat", 0)),
            started_at_unix_s=float(data.get("started_at_unix_s", recording.started_at_unix_s)),
            recording=recording,
            signals=Signals.from_dict(data.get("signals")),
            server_cpu_s=_optional_float(workload.get("server_cpu_s")),
            generator_cpu_s=_optional_float(workload.get("generator_cpu_s")),
            faults=[dict(f) for f in data.get("faults") or [] if isinstance(f, dict)],
            reconciliation=_optional_dict(data.get("reconciliation")),
            extra={k: v for k, v in data.items() if k not in _REPEAT_KEYS},
        )


@dataclass
class NameTotals:
    """One request name (or all of them) over a cell's repeats: counts and histograms added,
    throughput kept per repeat. Usage: ``cell.names["small"].rate_mean_per_s``"""

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

    def add(self, stats: NameStats, duration_s: float) -> None:
        """Add one repeat's figures. Usage: ``totals.add(repeat.total, repeat.duration_s)``"""
        self.requests += stats.requests
        for kind, count in stats.failures.items():
            self.failures_by_kind[kind] = self.failures_by_kind.get(kind, 0) + count
        self.rates_per_s.append(ok_rate_per_s(stats, duration_s))
        self.histogram.merge(stats.histogram)


@dataclass
class CellResults:
    """One cell: how it was configured, whether it ran, and its repeats.

    Usage: ``cell.status, cell.repeats, cell.total.histogram.percentiles()``
    """

    name: str
    label: str
    role: str  # naive | right | variant
    settings: dict[str, Any]
    status: str = "ran"  # ran | skipped | failed (| pending: not yet, in a run being written)
    reason: str | None = None
    rerun: str | None = None
    repeats: list[RepeatResult] = field(default_factory=list)
    knee: dict[str, Any] | None = None

    @property
    def measured(self) -> bool:
        """True when at least one repeat recorded a request. Usage: ``cell.measured``"""
        return bool(self.repeats) and self.total.requests > 0

    @property
    def total(self) -> NameTotals:
        """All requests of every repeat. Usage: ``cell.total.ok``"""
        return self._merged()[0]

    @property
    def names(self) -> dict[str, NameTotals]:
        """Each request name over every repeat that recorded it. Usage: ``cell.names["x"]``"""
        return self._merged()[1]

    def throughputs_per_s(self, name: str | None = None) -> list[float]:
        """Correct answers per second, one per repeat. Usage: ``cell.throughputs_per_s()``"""
        return [repeat.throughput_per_s(name) for repeat in self.repeats]

    def _merged(self) -> tuple[NameTotals, dict[str, NameTotals]]:
        # Recomputed when repeats were added since: the runner appends while it runs.
        key = len(self.repeats)
        cached: tuple[int, NameTotals, dict[str, NameTotals]] | None = self.__dict__.get("_cache")
        if cached is not None and cached[0] == key:
            return cached[1], cached[2]
        total, names = NameTotals("all"), dict[str, NameTotals]()
        for repeat in self.repeats:
            total.add(repeat.total, repeat.duration_s)
            for name, stats in repeat.recording.names.items():
                names.setdefault(name, NameTotals(name)).add(stats, repeat.duration_s)
        self.__dict__["_cache"] = (key, total, names)
        return total, names

    def to_dict(self) -> dict[str, Any]:
        """As stored (docs/results-format.md, Cell). Usage: ``cell.to_dict()``"""
        return {
            "name": self.name,
            "label": self.label,
            "role": self.role,
            "settings": self.settings,
            "status": self.status,
            "reason": self.reason,
            "rerun": self.rerun,
            "runs": [repeat.to_dict() for repeat in self.repeats],
            "knee": self.knee,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CellResults:
        """Inverse of `to_dict`. Raises KeyError/TypeError/ValueError on a malformed part."""
        name = data["name"]
        settings = data.get("settings") or {}
        if not isinstance(name, str) or not isinstance(settings, dict):
            raise TypeError("a cell's 'name' must be a string and 'settings' an object")
        repeats = [RepeatResult.from_dict(run) for run in data.get("runs") or []]
        knee = data.get("knee")
        return cls(
            name=name,
            label=str(data.get("label") or name),
            role=str(data.get("role") or "variant"),
            settings=dict(settings),
            status=str(data.get("status") or "ran"),
            reason=data.get("reason"),
            rerun=data.get("rerun"),
            repeats=repeats,
            knee=dict(knee) if isinstance(knee, dict) else None,
        )


@dataclass
class StudyResults:
    """One study of a run: its cells, the seed's published rows and its goals.

    Usage: ``study.cell("async-process"), study.goals[0].met``
    """

    name: str
    title: str
    question: str
    seed: str | None = None
    slo_p99_ms: float | None = None
    main_request: str | None = None  # the request the study is judged on; None: all
    status: str = "ran"  # ran | skipped | not_available
    reason: str | None = None
    references: list[dict[str, Any]] = field(default_factory=list)
    cells: list[CellResults] = field(default_factory=list)
    goals: list[GoalResult] = field(default_factory=list)

    def cell(self, name: str) -> CellResults | None:
        """The cell called `name`, or None. Usage: ``study.cell("sync")``"""
        return next((cell for cell in self.cells if cell.name == name), None)

    def to_dict(self) -> dict[str, Any]:
        """As stored (docs/results-format.md, Study). Usage: ``study.to_dict()``"""
        return {
            "name": self.name,
            "seed": self.seed,
            "title": self.title,
            "question": self.question,
            "slo_p99_ms": self.slo_p99_ms,
            "main_request": self.main_request,
            "status": self.status,
            "reason": self.reason,
            "references": self.references,
            "cells": [cell.to_dict() for cell in self.cells],
            "goals": [goal.to_dict() for goal in self.goals],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> StudyResults:
        """Inverse of `to_dict` (v1 files: no goals, maybe no main request)."""
        name = str(data["name"])
        slo = data.get("slo_p99_ms")
        return cls(
            name=name,
            title=str(data.get("title") or name),
            question=str(data.get("question") or ""),
            seed=str(data["seed"]) if data.get("seed") is not None else None,
            slo_p99_ms=float(slo) if slo is not None else None,
            main_request=str(main) if (main := data.get("main_request")) else None,
            status=str(data.get("status") or "ran"),
            reason=data.get("reason"),
            references=[dict(r) for r in data.get("references") or []],
            cells=[CellResults.from_dict(c) for c in data.get("cells") or []],
            goals=[GoalResult.from_dict(g) for g in data.get("goals") or []],
        )


@dataclass
class RunResults:
    """A whole `perflab bench` run. Usage: ``run.studies, run.machine["cpu"]``"""

    run_id: str
    created_at_unix_s: float
    command: str
    profile: str
    repeat: int
    machine: dict[str, Any]
    studies: list[StudyResults] = field(default_factory=list)
    path: Path | None = None  # the file it was read from; None while being written

    def study(self, name: str) -> StudyResults | None:
        """The study called `name`, or None. Usage: ``run.study("notes")``"""
        return next((study for study in self.studies if study.name == name), None)

    def to_dict(self, format_name: str) -> dict[str, Any]:
        """As stored, under `format_name`. Usage: ``run.to_dict(FORMAT)``"""
        return {
            "format": format_name,
            "run_id": self.run_id,
            "created_at_unix_s": self.created_at_unix_s,
            "command": self.command,
            "profile": self.profile,
            "repeat": self.repeat,
            "machine": self.machine,
            "studies": [study.to_dict() for study in self.studies],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any], path: Path | None = None) -> RunResults:
        """Inverse of `to_dict`. Raises KeyError/TypeError/ValueError on a malformed part."""
        machine, studies = data["machine"], data["studies"]
        if not isinstance(machine, dict) or not isinstance(studies, list):
            raise TypeError("'machine' must be an object and 'studies' a list")
        created = data.get("created_at_unix_s")
        return cls(
            run_id=str(data.get("run_id") or (path.parent.name if path else "")),
            created_at_unix_s=float(created) if created is not None else 0.0,
            command=str(data.get("command") or ""),
            profile=str(data.get("profile") or ""),
            repeat=int(data.get("repeat") or 1),
            machine=dict(machine),
            studies=[StudyResults.from_dict(s) for s in studies],
            path=path,
        )


_REPEAT_KEYS = {
    "repeat",
    "started_at_unix_s",
    "recording",
    "signals",
    "workload_cpu",
    "faults",
    "reconciliation",
}


def _optional_dict(value: Any) -> dict[str, Any] | None:
    return dict(value) if isinstance(value, dict) else None


def _optional_float(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) else None
