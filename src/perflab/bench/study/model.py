"""A study resolved for one profile: its cells (each with its merged settings), the seed's
published rows and its goals. Built by `perflab.bench.study.loader`; the runner reads it.

Usage::

    study = load_study("notes", "quick")
    for plan in study.selected_cells():
        plan.settings["load"], plan.needs, plan.settings_dict()
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from perflab.bench.faults.spec import parse_faults
from perflab.bench.goals import Goal
from perflab.bench.server_command import command_template, is_foreign
from perflab.results.errors import StudyError


@dataclass(frozen=True)
class Reference:
    """A seed's published figure (never measured here). Usage: ``ref.to_dict()``"""

    cell: str | None
    request: str | None
    label: str
    machine: str
    source: str
    figures: dict[str, float | None]

    def to_dict(self) -> dict[str, Any]:
        """As docs/results-format.md's Reference. Usage: ``ref.to_dict()``"""
        keys = ("requests_per_s", "p50_ms", "p99_ms", "mean_ms", "failure_pct")
        figures = {key: self.figures.get(key) for key in keys}
        base = {"cell": self.cell, "request": self.request, "label": self.label}
        return {**base, **figures, "machine": self.machine, "source": self.source}


@dataclass(frozen=True)
class CellPlan:
    """One cell resolved for one profile: everything needed to run it.

    Usage: ``plan.settings["load"], plan.needs, plan.settings_dict()``
    """

    name: str
    label: str
    role: str
    settings: dict[str, Any]  # SETTING_KEYS, merged: base < profile < cell < profile.cell
    base_dir: Path = Path(".")  # the study file's folder: a server command's cwd is relative to it

    @property
    def server(self) -> dict[str, Any] | None:
        """`perflab serve` options, a foreign server (command / app), or None for a user's own
        URL. Usage: ``plan.server``"""
        server = self.settings.get("server")
        return dict(server) if server is not None else None

    @property
    def foreign(self) -> bool:
        """Whether the cell starts a server command (or an app on a runner), not perflab."""
        return is_foreign(self.server)

    @property
    def needs(self) -> tuple[str, ...]:
        """Services this cell needs (postgres, redis), explicit or implied by its settings."""
        needs = set(self.settings.get("needs", []))
        server = self.server or {}
        if self.settings.get("database") == "postgres":
            needs.add("postgres")
        if server.get("offload") == "queue" and not self.foreign:
            needs.add("redis")
        # A fault that stops Redis or PostgreSQL gets an instance of its own, never the
        # machine's shared one: the cell needs the programs, not the shared server.
        for service in {
            f.private_service for f in parse_faults(self.settings.get("fault", []), "")
        }:
            if service is not None:
                needs.discard(service)
                needs.add(f"private:{service}")
        if "app" in server:  # the runner must be installed (availability.py checks it)
            runner = f"runner:{server.get('runner', 'uvicorn')}:{server.get('interface', 'asgi')}"
            needs.add(f"{runner}@{server['python']}" if "python" in server else runner)
        return tuple(sorted(needs))

    @property
    def warmup_s(self) -> float:
        """Seconds of unrecorded load before measuring. Usage: ``plan.warmup_s``"""
        return float(self.settings.get("warmup_s", 0.0))

    def settings_dict(self) -> dict[str, Any]:
        """The results file's ``settings`` (format docs/results-format.md)."""
        settings = self.settings
        if "stream" in settings:
            load: dict[str, Any] = {"streams": [dict(s) for s in settings["stream"]]}
        else:
            load = dict(settings["load"])
        server = self.server
        if server is not None and self.foreign:
            variables = settings.get("vars", {})
            server["command_line"] = command_template(server, variables, self.base_dir)
        placement = settings.get("placement")
        return {
            "server": server,
            "env": {k: str(v) for k, v in sorted(settings.get("env", {}).items())},
            "database": settings.get("database"),
            "vars": dict(settings.get("vars", {})),
            "queue_workers": int(settings.get("queue_workers", 0)),
            "downstream": bool(settings.get("downstream_service", False)),
            "downstream_latency_s": settings.get("downstream_latency_s"),
            "warmup_s": self.warmup_s,
            "load": load,
            # Only where the runner placed the cell (resolved to CPUs, a dict): results of cells
            # that never were keep their settings, and stay comparable.
            **({"placement": placement} if isinstance(placement, dict) else {}),
        }


@dataclass(frozen=True)
class Study:
    """A study resolved for one profile. Usage: ``load_study("notes", "quick").cells``"""

    name: str
    path: Path
    profile: str
    title: str
    seed: str | None
    question: str
    slo_p99_ms: float
    repeat: int  # runs per cell unless `perflab bench --repeat` says otherwise
    main_request: str | None
    base_url: str | None  # a user's own service; None: perflab servers are started
    pid: int | None
    references: list[Reference]
    cells: list[CellPlan]  # every cell, in file order
    selected: list[str] = field(default_factory=list)  # the profile's cells, in file order
    goals: list[Goal] = field(default_factory=list)  # checked after the study ran

    def cell(self, name: str) -> CellPlan:
        """The cell called `name`, or StudyError listing them. Usage: ``study.cell("sync")``"""
        for cell in self.cells:
            if cell.name == name:
                return cell
        known = ", ".join(c.name for c in self.cells)
        raise StudyError(f"study {self.name}: no cell {name!r}; cells: {known}")

    def selected_cells(self, names: list[str] | None = None) -> list[CellPlan]:
        """The cells to run: `names` if given (any cell), else the profile's choice."""
        if names:
            return [self.cell(name) for name in names]
        return [c for c in self.cells if c.name in self.selected]
