"""Which parts of two `perflab bench` runs face each other, and why a pair cannot be compared:
studies and cells paired by name, a side missing, skipped or failed, a different machine (CPU
model, cores) or different cell settings (docs/compare.md).

Usage::

    for name, old_cell, new_cell in paired(cells_of(old_study), cells_of(new_study)):
        reason = unavailable(old_cell, new_cell)
"""

from __future__ import annotations

from typing import Protocol, TypeVar

from perflab.results.model import CellResults, StudyResults
from perflab.results.settings import machine_difference, settings_difference

__all__ = [
    "cells_of",
    "machine_difference",
    "paired",
    "settings_difference",
    "unavailable",
]


class _Named(Protocol):
    @property
    def name(self) -> str: ...


Item = TypeVar("Item", bound=_Named)


def paired(old: list[Item], new: list[Item]) -> list[tuple[str, Item | None, Item | None]]:
    """(name, OLD item, NEW item), matched by name: NEW's order, then what only OLD has.
    Usage: ``paired(old_run.studies, new_run.studies)``"""
    old_named = {item.name: item for item in old}
    new_named = {item.name: item for item in new}
    names = [*new_named, *(name for name in old_named if name not in new_named)]
    return [(name, old_named.get(name), new_named.get(name)) for name in names]


def cells_of(study: StudyResults | None) -> list[CellResults]:
    """A study's cells; none for a missing study. Usage: ``cells_of(study)``"""
    return list(study.cells) if study is not None else []


def unavailable(
    old: StudyResults | CellResults | None, new: StudyResults | CellResults | None
) -> str | None:
    """Why a study or cell has nothing to compare on a side (missing, skipped, failed), or
    None. Usage: ``unavailable(old_cell, new_cell)``"""
    found: dict[tuple[str, str], list[str]] = {}  # (status, reason) -> sides
    for side, item in (("OLD", old), ("NEW", new)):
        if item is None:
            found.setdefault(("missing", ""), []).append(side)
            continue
        no_runs = isinstance(item, CellResults) and not item.repeats
        if item.status != "ran" or no_runs:
            why = f": {item.reason}" if item.reason else ""
            status = item.status if item.status != "ran" else "no runs"
            found.setdefault((status, why), []).append(side)
    reasons = [f"{status} in {' and '.join(sides)}{why}" for (status, why), sides in found.items()]
    return "; ".join(reasons) or None
