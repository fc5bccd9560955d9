"""Studies as data: read a study TOML, check it, and resolve its cells for one profile.

The five seeds' studies live in ``perflab/bench/studies/*.toml``; a user's own study is any TOML
file: with ``[base.server]`` naming a ``command`` or an ``app`` (started per cell, like
perflab's own service: `perflab.bench.server_command`), or with ``base_url`` and no
``[base.server]`` (a service already running; nothing is started for it). See docs/bench.md
for the file format; `rules` holds what a file may say and how overrides merge.

Usage::

    study = load_study("faceblur", profile="quick")
    for cell in study.selected_cells():
        cell.settings_dict(), cell.needs
"""

from __future__ import annotations

import tomllib
from importlib import resources
from pathlib import Path
from typing import Any

from perflab.bench.goals import parse_goals
from perflab.bench.server_command import check_server
from perflab.bench.study.model import CellPlan, Reference, Study
from perflab.bench.study.rules import (
    CELL_KEYS,
    PROFILE_CELL_KEYS,
    PROFILE_KEYS,
    REFERENCE_KEYS,
    ROLES,
    SETTING_KEYS,
    TOP_KEYS,
    check_keys,
    check_settings,
    is_foreign_server,
    merge,
)
from perflab.results.errors import StudyError

PROFILES = ("quick", "full", "smoke")
SEED_STUDIES = ("faceblur", "classify", "notes", "payload", "fanout")


def builtin_dir() -> Path:
    """Where the five seeds' studies are. Usage: ``builtin_dir() / "notes.toml"``"""
    return Path(str(resources.files("perflab.bench") / "studies"))


def builtin_names() -> list[str]:
    """The studies `perflab bench` runs when none is named: the five seeds', in seed order.
    Usage: ``builtin_names()``"""
    found = {p.stem for p in builtin_dir().glob("*.toml")}
    return [n for n in SEED_STUDIES if n in found]


def on_demand_names() -> list[str]:
    """The other built-in studies, run only when named (overload: long). Usage: see above."""
    return sorted({p.stem for p in builtin_dir().glob("*.toml")} - set(SEED_STUDIES))


def study_path(name_or_path: str) -> Path:
    """A built-in study's file, or the path given. Usage: ``study_path("faceblur")``"""
    builtin = builtin_dir() / f"{name_or_path}.toml"
    if builtin.is_file():
        return builtin
    path = Path(name_or_path)
    if path.suffix == ".toml" or path.is_file():
        if not path.is_file():
            raise StudyError(f"no study file at {path}")
        return path
    known = ", ".join(builtin_names() + on_demand_names())
    raise StudyError(f"unknown study {name_or_path!r}; built-in: {known}")


def load_study(name_or_path: str, profile: str = "quick") -> Study:
    """Read, check and resolve a study for `profile`. Usage: ``load_study("payload", "full")``"""
    path = study_path(name_or_path)
    try:
        document = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise StudyError(f"{path}: {exc}") from exc
    try:
        return _resolve(document, path, profile)
    except StudyError as exc:
        raise StudyError(f"{path}: {exc}") from exc


def _resolve(document: dict[str, Any], path: Path, profile: str) -> Study:
    check_keys(document, TOP_KEYS, "top level")
    for key in ("title", "question"):
        if not isinstance(document.get(key), str):
            raise StudyError(f"top level: `{key}` (a string) is required")
    base = check_keys(document.get("base", {}), SETTING_KEYS, "[base]")
    base = merge(base, {"needs": list(document.get("needs", []))}) if "needs" in document else base
    if "base_url" in document and "server" in base:
        raise StudyError(
            "a study with `base_url` runs against that URL, and [base.server] starts a server: "
            "drop one of them"
        )
    if "base_url" not in document and "server" not in base:
        raise StudyError(
            "give [base.server] (a `command` or an `app` to start, or perflab serve options) "
            "or a top-level base_url"
        )
    cell_tables = document.get("cell") or [{"name": "default", "label": "as configured"}]
    profiles = check_keys(document.get("profile", {}), set(document.get("profile", {})), "")
    if profiles and profile not in profiles:
        raise StudyError(f"no profile {profile!r}; this study has: {', '.join(profiles)}")
    chosen = check_keys(profiles.get(profile, {}), PROFILE_KEYS, f"[profile.{profile}]")
    names = [str(t.get("name", "")) for t in cell_tables]
    _check_cell_names(names)
    per_cell = check_keys(chosen.get("cell", {}), set(names), f"[profile.{profile}.cell]")
    selected = list(chosen.get("cells", names))
    unknown = sorted(set(selected) - set(names))
    if unknown:
        raise StudyError(f"[profile.{profile}] cells: unknown cell(s) {unknown}; cells: {names}")
    profile_only = ("cells", "cell", "slo_p99_ms", "repeat")
    profile_base = {k: v for k, v in chosen.items() if k not in profile_only}
    cells = [_cell(t, base, profile_base, per_cell, path.parent) for t in cell_tables]
    return Study(
        name=path.stem,
        path=path,
        profile=profile,
        title=document["title"],
        seed=str(document["seed"]) if "seed" in document else None,
        question=document["question"],
        slo_p99_ms=float(chosen.get("slo_p99_ms", document.get("slo_p99_ms", 1000.0))),
        repeat=_repeat(chosen.get("repeat", 1), profile),
        main_request=document.get("main_request"),
        base_url=document.get("base_url"),
        pid=int(document["pid"]) if "pid" in document else None,
        references=[_reference(t, i, names) for i, t in enumerate(document.get("reference", []))],
        cells=cells,
        selected=[n for n in names if n in selected],
        goals=parse_goals(document.get("goal", []), names),
    )


def _repeat(value: Any, profile: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise StudyError(f"[profile.{profile}] repeat: a whole number >= 1, got {value!r}")
    return value


def _check_cell_names(names: list[str]) -> None:
    for name in names:
        if not name or not all(ch.isdigit() or ch == "-" or "a" <= ch <= "z" for ch in name):
            raise StudyError(f"cell name {name!r}: use [a-z0-9-], e.g. 'async-process'")
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise StudyError(f"cell names must differ; repeated: {repeated}")


def _cell(
    table: dict[str, Any],
    base: dict[str, Any],
    profile_base: dict[str, Any],
    per_cell: dict[str, Any],
    base_dir: Path,
) -> CellPlan:
    name = str(table["name"])
    where = f"cell {name}"
    check_keys(table, CELL_KEYS, where)
    role = str(table.get("role", "variant"))
    if role not in ROLES:
        raise StudyError(f"{where}: role must be one of {list(ROLES)}, got {role!r}")
    own = {k: v for k, v in table.items() if k in SETTING_KEYS}
    extra = dict(check_keys(per_cell.get(name, {}), PROFILE_CELL_KEYS, f"{where} (profile)"))
    label = str(extra.pop("label", table.get("label", name)))
    settings = merge(merge(merge(base, profile_base), own), extra)
    if "stream" in settings and "load" in settings and "stream" not in base:
        settings.pop("load")  # a cell that switches to streams drops the single load
    check_settings(settings, where)
    server = settings.get("server")
    if is_foreign_server(server):
        variables = settings.get("vars", {})
        check_server(server, variables, base_dir, f"{where}: [server]", settings.get("env"))
    return CellPlan(name, label, role, settings, base_dir)


def _reference(table: dict[str, Any], index: int, cells: list[str]) -> Reference:
    where = f"reference #{index + 1}"
    check_keys(table, REFERENCE_KEYS, where)
    for key in ("label", "machine", "source"):
        if not isinstance(table.get(key), str):
            raise StudyError(f"{where}: `{key}` (a string) is required")
    cell = table.get("cell")
    if cell is not None and cell not in cells:
        raise StudyError(f"{where}: unknown cell {cell!r}; cells: {cells}")
    text_keys = ("cell", "request", "label", "machine", "source")
    figures: dict[str, float | None] = {k: float(v) for k, v in table.items() if k not in text_keys}
    request = str(table["request"]) if "request" in table else None
    return Reference(cell, request, table["label"], table["machine"], table["source"], figures)
