"""This machine's noise: the run-to-run spread of every cell and metric, measured by A/A
repeats (the same code, run again and again), stored as `perflab.calibration/1` JSON.

`perflab calibrate STUDY...` runs a study's cells as repeats and stores one document per
machine (CPU model and cores, the same key compare uses to call two runs comparable) at
`perflab-results/calibration/<machine>.json`; calibrating more studies later merges into it.
`perflab compare` reads it when a side has too few repeats of its own (docs/compare.md). A
spread applies to a cell only on the same machine and with the same cell settings.

Usage::

    calibration = calibration_from_run(read_run(Path("perflab-results/aa")))
    write_calibration(calibration, default_calibration_path(calibration.machine))
    found = find_calibration(run.machine)          # None when this machine has none
    spread = found.cell("notes", "async-postgres").spreads["throughput"]
    spread.spread, spread.runs                     # 0.031 (about 3.1% CV), from 10 runs
"""

from __future__ import annotations

import json
import math
import os
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from perflab.results.errors import CalibrationError, ResultsNotFoundError
from perflab.results.model import RepeatResult, RunResults
from perflab.results.run_values import LOG_SCALE, METRIC_KEYS, metric_value
from perflab.results.settings import machine_difference, settings_difference

CALIBRATION_FORMAT = "perflab.calibration/1"
# Fewest A/A bench runs a run level is measured from: with two, its estimate has one degree of
# freedom and could be anything.
MIN_SESSIONS = 3
# `perflab calibrate`'s repeats a cell when not told: also what compare points a duet to.
DEFAULT_REPEAT = 10
DEFAULT_ROOT = Path("perflab-results")


@dataclass(frozen=True)
class MetricSpread:
    """One metric's run-to-run spread: the standard deviation over A/A runs of the logs (log
    scale: about the coefficient of variation) or of the values (the error rate). Measured
    from several bench runs (`sessions`), it is the repeats' scatter inside a run, pooled,
    and `run_level` what a whole run's level wanders beyond it (docs/compare.md).

    Usage: ``spread.spread, spread.freedom, spread.run_level``
    """

    runs: int  # values (repeats), over every session
    spread: float
    log_scale: bool
    values: tuple[float, ...]  # each run's value, in the order run
    sessions: int = 1  # the bench runs the values came from
    # The standard deviation of a whole bench run's level beyond its repeats' scatter; None:
    # not measured (one session, or too few: MIN_SESSIONS); 0.0 when each session had one
    # repeat (then `spread` holds it already).
    run_level: float | None = None

    @property
    def freedom(self) -> int:
        """Degrees of freedom of the spread. Usage: ``spread.freedom  # runs - sessions``"""
        return self.runs - self.sessions

    @property
    def run_level_freedom(self) -> int:
        """Degrees of freedom of the run level. Usage: ``spread.run_level_freedom``"""
        return self.sessions - 1

    def to_dict(self) -> dict[str, Any]:
        """As stored. Usage: ``spread.to_dict()``"""
        scale = "log" if self.log_scale else "raw"
        stored = {"runs": self.runs, "spread": self.spread, "scale": scale, "values": self.values}
        if self.sessions > 1:
            stored |= {"sessions": self.sessions, "run_level": self.run_level}
        return stored

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> MetricSpread:
        """Inverse of `to_dict`. Raises KeyError/TypeError/ValueError on a malformed part."""
        values = tuple(float(v) for v in data["values"])
        level = data.get("run_level")
        return cls(
            int(data["runs"]), float(data["spread"]), data["scale"] == "log", values,
            int(data.get("sessions", 1)), None if level is None else float(level),
        )  # fmt: skip


@dataclass(frozen=True)
class CellCalibration:
    """The spreads of one cell (or one request name of it). Usage: ``c.spreads["p99"]``"""

    study: str
    cell: str
    route: str | None  # a request name; None: all the cell's requests
    settings: dict[str, Any]
    spreads: dict[str, MetricSpread]

    def to_dict(self) -> dict[str, Any]:
        """As stored. Usage: ``cell.to_dict()``"""
        spreads = {key: spread.to_dict() for key, spread in self.spreads.items()}
        return {
            "study": self.study,
            "cell": self.cell,
            "route": self.route,
            "settings": self.settings,
            "spreads": spreads,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CellCalibration:
        """Inverse of `to_dict`. Raises KeyError/TypeError/ValueError on a malformed part."""
        spreads = {str(k): MetricSpread.from_dict(v) for k, v in data["spreads"].items()}
        route = data.get("route")
        return cls(
            str(data["study"]), str(data["cell"]), str(route) if route else None,
            dict(data["settings"]), spreads,
        )  # fmt: skip


@dataclass
class Calibration:
    """A machine's calibration. Usage: ``calibration.cell("faceblur", "sync")``"""

    machine: dict[str, Any]
    created_at_unix_s: float
    commands: list[str]  # the runs it was measured by
    cells: list[CellCalibration] = field(default_factory=list)
    path: Path | None = None

    def cell(
        self, study: str, cell: str, route: str | None = None, settings: Any = None
    ) -> CellCalibration | None:
        """The calibration of a cell (with `settings`: only if they match), or None.
        Usage: ``calibration.cell("notes", "async-sqlite", settings=cell.settings)``"""
        for found in self.cells:
            if (found.study, found.cell, found.route) != (study, cell, route):
                continue
            if settings is None or not settings_difference(found.settings, settings):
                return found
        return None

    def to_dict(self) -> dict[str, Any]:
        """As stored. Usage: ``calibration.to_dict()``"""
        return {
            "format": CALIBRATION_FORMAT,
            "created_at_unix_s": self.created_at_unix_s,
            "commands": self.commands,
            "machine": self.machine,
            "cells": [cell.to_dict() for cell in self.cells],
        }


def spread_of(values: list[float], log_scale: bool) -> float | None:
    """Sample standard deviation of the values (of their logs on a log scale); None with
    fewer than 2 values or a value <= 0 on a log scale. Usage: ``spread_of([9.8, 10.1], True)``"""
    if len(values) < 2 or (log_scale and min(values) <= 0):
        return None
    points = [math.log(v) for v in values] if log_scale else list(values)
    mean = sum(points) / len(points)
    return math.sqrt(sum((p - mean) ** 2 for p in points) / (len(points) - 1))


def calibration_from_run(run: RunResults, min_runs: int = 2) -> Calibration:
    """The spreads of every cell of an A/A run that ran `min_runs` repeats or more, for all
    its requests and each request name. Usage: ``calibration_from_run(read_run(path))``"""
    return calibration_from_runs([run], min_runs)


def calibration_from_runs(runs: list[RunResults], min_runs: int = 2) -> Calibration:
    """The spreads of every cell measured `min_runs` times or more over A/A bench runs of
    one machine; from MIN_SESSIONS runs or more, with each metric's run level too. Raises
    CalibrationError for runs of different machines.
    Usage: ``calibration_from_runs([read_run(a), read_run(b), read_run(c)])``"""
    for run in runs[1:]:
        if difference := machine_difference(runs[0].machine, run.machine):
            where = f"{run.path}: another machine than {runs[0].path}"
            raise CalibrationError(f"{where} ({difference})")
    groups: list[tuple[CellCalibration, list[list[RepeatResult]]]] = []
    for run in runs:
        for study in run.studies:
            for cell in study.cells:
                if cell.status != "ran" or not cell.repeats:
                    continue
                key = CellCalibration(study.name, cell.name, None, cell.settings, {})
                found = next((g for g in groups if _same_cell(g[0], key)), None)
                if found is None:
                    groups.append((key, [cell.repeats]))
                else:
                    found[1].append(cell.repeats)
    cells = []
    for key, sessions in groups:
        names = set.intersection(*(set(r.recording.names) for s in sessions for r in s))
        routes: list[str | None] = [None, *sorted(names)] if len(names) > 1 else [None]
        for route in routes:
            spreads = {}
            for metric in METRIC_KEYS:
                spread = _metric_spread(sessions, metric, route, min_runs)
                if spread is not None:
                    spreads[metric] = spread
            if spreads:
                cells.append(CellCalibration(key.study, key.cell, route, key.settings, spreads))
    commands = list(dict.fromkeys(run.command for run in runs))
    return Calibration(runs[-1].machine, runs[-1].created_at_unix_s, commands, cells)


def _same_cell(a: CellCalibration, b: CellCalibration) -> bool:
    same = (a.study, a.cell) == (b.study, b.cell)
    return same and not settings_difference(a.settings, b.settings)


def _metric_spread(
    sessions: list[list[RepeatResult]], key: str, route: str | None, min_runs: int
) -> MetricSpread | None:
    """One metric's spread over the sessions' repeats (see calibration_from_runs)."""
    found = [[metric_value(repeat, key, route) for repeat in session] for session in sessions]
    values = [[v for v in session if v is not None] for session in found]
    values = [session for session in values if session]
    flat = [v for session in values for v in session]
    total = spread_of(flat, LOG_SCALE[key])
    if total is None or len(flat) < min_runs:
        return None
    if len(values) < MIN_SESSIONS:  # one session (or too few to say): the spread of all
        return MetricSpread(len(flat), total, LOG_SCALE[key], tuple(flat))
    points = [[math.log(v) for v in s] if LOG_SCALE[key] else list(s) for s in values]
    means = [sum(s) / len(s) for s in points]
    inside = sum(len(s) - 1 for s in points)
    if inside == 0:  # one repeat a run: the runs' scatter is each run's level and scatter
        return MetricSpread(len(flat), total, LOG_SCALE[key], tuple(flat), len(values), 0.0)
    squares = sum((p - mean) ** 2 for s, mean in zip(points, means, strict=True) for p in s)
    within = math.sqrt(squares / inside)
    grand = sum(means) / len(means)
    between = sum((m - grand) ** 2 for m in means) / (len(means) - 1)
    # A run's mean varies by its level and by its repeats' scatter over their count.
    mean_inverse_count = sum(1 / len(s) for s in points) / len(points)
    level = math.sqrt(max(0.0, between - within**2 * mean_inverse_count))
    return MetricSpread(len(flat), within, LOG_SCALE[key], tuple(flat), len(values), level)


def merge_calibrations(old: Calibration, new: Calibration) -> Calibration:
    """`new` with what `old` has that `new` does not measure (another study, cell or settings);
    a different machine's `old` is dropped. Usage: ``merge_calibrations(stored, measured)``"""
    if machine_difference(old.machine, new.machine):
        return new
    kept = [
        cell for cell in old.cells
        if new.cell(cell.study, cell.cell, cell.route, cell.settings) is None
    ]  # fmt: skip
    commands = [*old.commands, *(c for c in new.commands if c not in old.commands)]
    return Calibration(new.machine, new.created_at_unix_s, commands, [*kept, *new.cells])


def machine_slug(machine: dict[str, Any]) -> str:
    """A file name for a machine: CPU model and cores. Usage: ``machine_slug(run.machine)``"""
    cpu = re.sub(r"[^a-z0-9]+", "-", str(machine.get("cpu") or "unknown-cpu").lower()).strip("-")
    slug = f"{cpu[:60]}-{machine.get('cores', '?')}c"
    usable = machine.get("usable_cores")
    if usable not in (None, machine.get("cores")):
        slug = f"{slug}-{usable}u"
    placement = machine.get("placement") or {}
    for side in ("server", "load"):  # e.g. -server1-load0: a placed bench's own noise
        if side in placement:
            slug += f"-{side}{re.sub(r'[^0-9]+', '_', str(placement[side]))}"
    return slug


def default_calibration_path(machine: dict[str, Any], root: Path = DEFAULT_ROOT) -> Path:
    """Where this machine's calibration lives. Usage: ``default_calibration_path(run.machine)``"""
    return root / "calibration" / f"{machine_slug(machine)}.json"


def write_calibration(calibration: Calibration, path: Path) -> Path:
    """Write atomically. Usage: ``write_calibration(calibration, path)``"""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(".json.tmp")
    temporary.write_bytes(orjson.dumps(calibration.to_dict(), option=orjson.OPT_INDENT_2))
    os.replace(temporary, path)
    calibration.path = path
    return path


def read_calibration(path: Path) -> Calibration:
    """Read a calibration document. Raises ResultsNotFoundError, or CalibrationError naming
    the file and what is wrong. Usage: ``read_calibration(Path("cal.json")).cells``"""
    try:
        document = json.loads(path.read_bytes())
    except FileNotFoundError:
        raise ResultsNotFoundError(f"{path}: no such calibration file") from None
    except (OSError, json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise CalibrationError(f"{path}: cannot read a calibration ({exc})") from None
    found = document.get("format") if isinstance(document, dict) else None
    if found != CALIBRATION_FORMAT:
        raise CalibrationError(
            f"{path}: not a perflab calibration (format {found!r}; this perflab reads "
            f"{CALIBRATION_FORMAT!r}, written by `perflab calibrate`)"
        )
    try:
        return Calibration(
            machine=dict(document["machine"]),
            created_at_unix_s=float(document.get("created_at_unix_s") or time.time()),
            commands=[str(c) for c in document.get("commands") or []],
            cells=[CellCalibration.from_dict(c) for c in document["cells"]],
            path=path,
        )
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        what = f"lacks {exc}" if isinstance(exc, KeyError) else str(exc)
        raise CalibrationError(f"{path}: malformed calibration ({what})") from None


def find_calibration(machine: dict[str, Any], root: Path = DEFAULT_ROOT) -> Calibration | None:
    """This machine's calibration at its default place, or None when there is none (or it
    was measured on another machine). Usage: ``find_calibration(run.machine)``"""
    path = default_calibration_path(machine, root)
    if not path.is_file():
        return None
    calibration = read_calibration(path)
    return None if machine_difference(calibration.machine, machine) else calibration
