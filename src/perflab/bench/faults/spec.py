"""Faults as study data: the `[[fault]]` table and what it may say (docs/faults.md).

A fault happens at a time in the measured window (seconds since the load started)::

    [[fault]]
    name = "a pool worker dies"
    at_s = 8.0
    action = "kill"              # kill | pause | restart | drop_connections | burst
    target = "offload_worker"    # see TARGETS
    duration_s = 3.0             # pause and restart: how long the part is gone
    match = "uvicorn"            # target "process" (your own service): a command-line part
    requests = 400               # burst: this many requests ...
    connections = 200            # ... over this many connections, at once

Targets: a server worker (`server_worker`), a process of perflab's offload pool
(`offload_worker`), a `perflab worker` of the queue offloader (`queue_worker`), any process of
the server's tree whose command line holds `match` (`process`, for a user's own service), the
cell's private Redis or PostgreSQL (`redis`, `postgres`: stopped, then started again on the
same port after `duration_s`; the bench starts a private instance for a cell with such a
fault, never touching the machine's shared one), the database's connections
(`drop_connections` on `postgres`: `pg_terminate_backend` of every session of the cell's own
database), and the service itself (`burst` on `service`: fill the offload queue past its
budget).

Usage: ``faults = parse_faults(document.get("fault", []), "study x")``
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from perflab.results.errors import StudyError

FAULT_KEYS = {
    "name",
    "at_s",
    "action",
    "target",
    "duration_s",
    "match",
    "requests",
    "connections",
}
TARGETS = {
    "kill": ("server_worker", "offload_worker", "queue_worker", "process"),
    "pause": ("server_worker", "offload_worker", "queue_worker", "process"),
    "restart": ("redis", "postgres"),
    "drop_connections": ("postgres",),
    "burst": ("service",),
}


@dataclass(frozen=True)
class Fault:
    """One `[[fault]]` table, checked. Usage: ``fault.private_service``"""

    name: str
    at_s: float
    action: str
    target: str
    duration_s: float = 0.0
    match: str | None = None
    requests: int = 0
    connections: int = 0

    @property
    def private_service(self) -> str | None:
        """The private instance this fault needs ("redis", "postgres"), or None. Dropping
        connections needs none: it ends only the sessions of the cell's own fresh database."""
        return self.target if self.action == "restart" else None

    @property
    def back_after_s(self) -> float:
        """Seconds from the fault until the part is back (0: at once, as a killed process is
        replaced or a burst ends). Usage: ``fault.back_after_s``"""
        return self.duration_s if self.action in ("pause", "restart") else 0.0


def parse_faults(tables: Any, where: str) -> list[Fault]:
    """Check `[[fault]]` tables. Raises StudyError naming what is wrong. Usage: see module."""
    if not isinstance(tables, list):
        raise StudyError(f"{where}: [[fault]] must be a list of tables")
    faults = []
    for index, table in enumerate(tables):
        here = f"{where}: fault #{index + 1}"
        if not isinstance(table, dict):
            raise StudyError(f"{here}: expected a table")
        unknown = sorted(set(table) - FAULT_KEYS)
        if unknown:
            raise StudyError(f"{here}: unknown key(s) {unknown}; allowed: {sorted(FAULT_KEYS)}")
        action, target = table.get("action"), table.get("target")
        if action not in TARGETS:
            raise StudyError(f"{here}: action must be one of {list(TARGETS)}, got {action!r}")
        if target not in TARGETS[action]:
            raise StudyError(f"{here}: {action} takes target {list(TARGETS[action])}")
        if not isinstance(table.get("at_s"), int | float) or table["at_s"] < 0:
            raise StudyError(f"{here}: `at_s` (seconds into the measured load, >= 0) is needed")
        if action in ("pause", "restart") and not table.get("duration_s"):
            raise StudyError(f"{here}: {action} needs `duration_s` (how long the part is gone)")
        if target == "process" and not table.get("match"):
            raise StudyError(f"{here}: target process needs `match` (a part of its command line)")
        if action == "burst" and not (table.get("requests") and table.get("connections")):
            raise StudyError(f"{here}: burst needs `requests` and `connections`")
        faults.append(
            Fault(
                name=str(table.get("name") or f"{action} {target}"),
                at_s=float(table["at_s"]),
                action=str(action),
                target=str(target),
                duration_s=float(table.get("duration_s", 0.0)),
                match=str(table["match"]) if "match" in table else None,
                requests=int(table.get("requests", 0)),
                connections=int(table.get("connections", 0)),
            )
        )
    return faults
