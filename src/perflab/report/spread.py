"""How much identical runs of each cell differ on this machine, stated beside its figures:
from the cell's own repeats (with two or more), or from this machine's A/A calibration
(`perflab calibrate`, found at its default place) for the cells it measured.

A quick run's figures wander between runs; the report says by how much, so a reader can tell
a difference between cells from the noise (docs/compare.md).

Usage::

    lines = spread_notes(study, find_calibration(run.machine))
"""

from __future__ import annotations

from perflab.report.units import MISSING
from perflab.results.calibration import Calibration, spread_of
from perflab.results.model import RepeatResult, StudyResults
from perflab.results.run_values import metric_value

SHOWN = ("throughput", "p50", "p99")


def spread_notes(study: StudyResults, calibration: Calibration | None) -> list[str]:
    """Where the study placed its cells (a split is part of what the spread is), then one
    line per measured cell whose run-to-run spread is known. Usage: see module."""
    lines = _placement_notes(study)
    for cell in study.cells:
        if not cell.measured:
            continue
        main = study.main_request
        name = main if main and all(main in r.recording.names for r in cell.repeats) else None
        if len(cell.repeats) >= 2:
            spreads = {key: _own_spread(cell.repeats, key, name) for key in SHOWN}
            source = f"its {len(cell.repeats)} repeats"
        elif calibration is not None and (
            found := calibration.cell(study.name, cell.name, name, cell.settings)
        ):
            spreads = {k: s.spread for k, s in found.spreads.items() if k in SHOWN}
            runs = max((s.runs for s in found.spreads.values()), default=0)
            source = f"this machine's calibration ({runs} runs)"
        else:
            continue
        shown = ", ".join(f"{key} ±{_pct(spreads.get(key))}" for key in SHOWN)
        lines.append(f"Run-to-run spread of {cell.name}, from {source}: {shown}.")
    return lines


def _placement_notes(study: StudyResults) -> list[str]:
    by_placement: dict[tuple[tuple[str, str], ...], list[str]] = {}
    for cell in study.cells:
        placement = cell.settings.get("placement")
        if cell.measured and isinstance(placement, dict):
            by_placement.setdefault(tuple(sorted(placement.items())), []).append(cell.name)
    lines = []
    for placement, cells in by_placement.items():
        where = dict(placement)
        lines.append(
            f"Placed by the study ({', '.join(cells)}): the service on CPU {where.get('server')},"
            f" the load generator on CPU {where.get('load')}."
        )
    return lines


def _own_spread(repeats: list[RepeatResult], key: str, name: str | None) -> float | None:
    found = [metric_value(repeat, key, name) for repeat in repeats]
    return spread_of([v for v in found if v is not None], log_scale=True)


def _pct(value: float | None) -> str:
    return MISSING if value is None else f"{value:.1%}"
