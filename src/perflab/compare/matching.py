"""Which parts of two `perflab bench` runs face each other, and why a pair cannot be compared:
studies and cells paired by name, a side missing, skipped or failed, a different machine (CPU
model, cores) or different cell settings (docs/compare.md).

Usage::

    for name, old_cell, new_cell in paired(cells_of(old_study), cells_of(new_study)):
        reason = unavailable(old_cell, new_cell)
"""

from __future__ import annotations

import re
from typing import Any, Protocol, TypeVar

from perflab.results.model import CellResults, StudyResults


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


# What makes two machines different for performance; hostname, kernel and load are reported
# but allowed to differ (a rebuilt VM of the same type is the same machine).
MACHINE_KEYS = ("cpu", "cores", "usable_cores")
# Each cell gets a fresh SQLite file in a temporary folder: its path says nothing about the cell.
_SQLITE_FILE = re.compile(r"^(sqlite[a-z0-9+]*:///).+$")


def machine_difference(old: dict[str, Any], new: dict[str, Any]) -> str | None:
    """Why two runs' machines differ (CPU model, cores), or None.
    Usage: ``machine_difference(old_run.machine, new_run.machine)``"""
    differences = [
        f"{key} {old.get(key)!r} vs {new.get(key)!r}"
        for key in MACHINE_KEYS
        if (key in old or key in new) and old.get(key) != new.get(key)
    ]
    return f"different machine: {'; '.join(differences)}" if differences else None


def settings_difference(old: Any, new: Any, where: str = "") -> list[str]:
    """The settings keys whose values differ, as "key: OLD -> NEW".
    Usage: ``settings_difference({"workers": 1}, {"workers": 2})  # ["workers: 1 -> 2"]``"""
    if isinstance(old, dict) and isinstance(new, dict):
        differences = []
        for key in [*old, *(k for k in new if k not in old)]:
            inner = f"{where}.{key}" if where else str(key)
            if key not in old or key not in new:
                shown_old = repr(old[key]) if key in old else "absent"
                shown_new = repr(new[key]) if key in new else "absent"
                differences.append(f"{inner}: {shown_old} -> {shown_new}")
            else:
                differences.extend(settings_difference(old[key], new[key], inner))
        return differences
    if _normal(old) == _normal(new):
        return []
    return [f"{where or 'settings'}: {old!r} -> {new!r}"]


def _normal(value: Any) -> Any:
    if isinstance(value, str):
        return _SQLITE_FILE.sub(r"\1<file>", value)
    if isinstance(value, list):
        return [_normal(v) for v in value]
    return value
