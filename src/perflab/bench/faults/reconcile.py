"""After a fault cell's load: does the database hold exactly the writes it acknowledged?

The load's write request keeps the id of every right answer (`record_captures`); afterwards
the rows are read straight from the database. Every acknowledged id must be stored with the
content that was sent; a row that was never acknowledged is allowed only as one of the writes
whose failure said "maybe" (a timeout or a reset: the client cannot know whether the server
acted), and is counted. A study says what to reconcile::

    [base.reconcile]
    request = "create"                     # the write request (record_captures = true)
    capture = "note"                       # the captured name holding the new row's id
    sql = "SELECT id, title, description FROM notes"
    expect = { title = "perflab note", description = "written under faults" }

Usage::

    outcome = reconcile(url, rule, acknowledged=[{"note": 1}, ...], maybe=3)
    outcome["ok"], outcome["missing"], outcome["unacknowledged"]
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, field
from typing import Any

from perflab.results.errors import StudyError

RECONCILE_KEYS = {"request", "capture", "sql", "expect"}
SHOWN = 10  # ids listed per problem; the counts are always whole


@dataclass(frozen=True)
class ReconcileRule:
    """What to reconcile, from a `reconcile` table. Usage: ``ReconcileRule.parse(table, "x")``"""

    request: str
    capture: str
    sql: str
    expect: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def parse(cls, table: Any, where: str) -> ReconcileRule:
        """Check a `reconcile` table. Raises StudyError. Usage: see class."""
        if not isinstance(table, dict):
            raise StudyError(f"{where}: reconcile must be a table")
        unknown = sorted(set(table) - RECONCILE_KEYS)
        if unknown:
            raise StudyError(f"{where}: reconcile: unknown key(s) {unknown}")
        for key in ("request", "capture", "sql"):
            if not isinstance(table.get(key), str):
                raise StudyError(f"{where}: reconcile needs `{key}` (a string)")
        expect = table.get("expect", {})
        if not isinstance(expect, dict):
            raise StudyError(f"{where}: reconcile.expect is a table of column = value")
        return cls(table["request"], table["capture"], table["sql"], dict(expect))


def read_rows(database_url: str, sql: str) -> list[dict[str, Any]]:
    """Every row `sql` returns, as dicts; PostgreSQL (psycopg) or SQLite (`sqlite:///PATH`).
    Usage: ``read_rows("sqlite:///notes.db", "SELECT id FROM notes")``"""
    if database_url.startswith("sqlite"):
        path = database_url.split(":///", 1)[1]
        with sqlite3.connect(path) as conn:
            conn.row_factory = sqlite3.Row
            return [dict(row) for row in conn.execute(sql)]
    import psycopg
    from psycopg.rows import dict_row

    url = database_url.replace("postgresql+asyncpg://", "postgresql://")
    with psycopg.connect(url, connect_timeout=10, row_factory=dict_row) as conn:
        return list(conn.execute(sql).fetchall())


def row_ids(database_url: str, rule: ReconcileRule) -> set[str]:
    """The ids stored now (the first column): taken before the measured load, so the warm-up's
    writes are not counted as unacknowledged. Usage: ``before = row_ids(url, rule)``"""
    return {str(next(iter(row.values()))) for row in read_rows(database_url, rule.sql) if row}


def reconcile(
    database_url: str,
    rule: ReconcileRule,
    acknowledged: list[dict[str, Any]],
    maybe: int,
    before: set[str] | None = None,
) -> dict[str, Any]:
    """Acknowledged writes against the rows stored since `before` (ids present before the
    load; the first column is the id). Usage: see module."""
    rows = read_rows(database_url, rule.sql)
    earlier = before or set()
    stored = {
        key: row for row in rows if row and (key := str(next(iter(row.values())))) not in earlier
    }
    acked = [str(value[rule.capture]) for value in acknowledged if rule.capture in value]
    missing = [key for key in acked if key not in stored]
    wrong = [
        key
        for key in acked
        if key in stored
        and any(str(stored[key].get(col)) != str(value) for col, value in rule.expect.items())
    ]
    acked_set = set(acked)
    unacknowledged = [key for key in stored if key not in acked_set]
    return {
        "present_before": len(earlier),
        "acknowledged": len(acked),
        "stored": len(stored),
        "missing": len(missing),
        "missing_ids": missing[:SHOWN],
        "wrong_content": len(wrong),
        "wrong_content_ids": wrong[:SHOWN],
        "unacknowledged": len(unacknowledged),
        "maybe": maybe,
        # Nothing acknowledged is lost or changed, and every row nobody was told about is
        # one of the writes whose failure left the outcome open.
        "ok": not missing and not wrong and len(unacknowledged) <= maybe,
    }
