"""What makes two measurements of a cell comparable (compare) and a calibration apply to a
cell (calibration): the same machine (CPU model, cores) and the same cell settings.

Settings that cannot matter are normalised away: a SQLite database URL compares by scheme
only (each cell gets a fresh file in a temporary folder).

Usage::

    settings_difference({"server": {"workers": 1}}, {"server": {"workers": 2}})
    # ["server.workers: 1 -> 2"]
"""

from __future__ import annotations

import re
from typing import Any

# What makes two machines different for performance; hostname, kernel and load are reported
# but allowed to differ (a rebuilt VM of the same type is the same machine). A bench placed on
# CPUs (`--server-cpus`, `--load-cpus`) is another machine than one that was not.
MACHINE_KEYS = ("cpu", "cores", "usable_cores", "placement")
# Each cell gets a fresh SQLite file in a temporary folder: its path says nothing about the cell.
_SQLITE_FILE = re.compile(r"^(sqlite[a-z0-9+]*:///).+$")


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


def machine_difference(old: dict[str, Any], new: dict[str, Any]) -> str | None:
    """Why two runs' machines differ (CPU model, cores), or None.
    Usage: ``machine_difference(old_run.machine, new_run.machine)``"""
    differences = [
        f"{key} {old.get(key)!r} vs {new.get(key)!r}"
        for key in MACHINE_KEYS
        if (key in old or key in new) and old.get(key) != new.get(key)
    ]
    return f"different machine: {'; '.join(differences)}" if differences else None
