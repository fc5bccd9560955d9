"""Reconciliation of acknowledged writes against the rows stored, on SQLite and PostgreSQL."""

from __future__ import annotations

import secrets
import sqlite3
from pathlib import Path

import psycopg
import pytest

from perflab.bench.faults.reconcile import ReconcileRule, reconcile
from perflab.results.errors import StudyError

RULE = ReconcileRule(
    "create", "note", "SELECT id, title, description FROM notes", {"title": "t", "description": "d"}
)


def _sqlite(tmp_path: Path, rows: list[tuple[int, str, str]]) -> str:
    path = tmp_path / "notes.db"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE notes (id INTEGER PRIMARY KEY, title TEXT, description TEXT)")
        conn.executemany("INSERT INTO notes VALUES (?, ?, ?)", rows)
    return f"sqlite:///{path}"


def test_every_acknowledged_row_stored_is_ok(tmp_path: Path) -> None:
    url = _sqlite(tmp_path, [(1, "t", "d"), (2, "t", "d"), (3, "t", "d")])
    outcome = reconcile(url, RULE, [{"note": 1}, {"note": 2}], maybe=1)
    assert outcome["ok"]
    assert (outcome["acknowledged"], outcome["stored"], outcome["unacknowledged"]) == (2, 3, 1)


def test_a_lost_or_changed_write_is_named(tmp_path: Path) -> None:
    url = _sqlite(tmp_path, [(1, "t", "d"), (2, "t", "half")])
    outcome = reconcile(url, RULE, [{"note": 1}, {"note": 2}, {"note": 7}], maybe=5)
    assert not outcome["ok"]
    assert outcome["missing_ids"] == ["7"]
    assert outcome["wrong_content_ids"] == ["2"]


def test_rows_nobody_was_told_about_beyond_the_maybes_fail(tmp_path: Path) -> None:
    url = _sqlite(tmp_path, [(1, "t", "d"), (2, "t", "d"), (3, "t", "d")])
    assert not reconcile(url, RULE, [{"note": 1}], maybe=1)["ok"]


@pytest.mark.postgres
def test_on_postgres(postgres_url: str) -> None:
    table = f"reconcile_{secrets.token_hex(4)}"  # its own table: runs never collide
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute(f"CREATE TABLE {table} (id int, title text, description text)")
        conn.execute(f"INSERT INTO {table} VALUES (1, 't', 'd')")
    try:
        rule = ReconcileRule("create", "note", f"SELECT * FROM {table}", RULE.expect)
        assert reconcile(postgres_url, rule, [{"note": 1}], maybe=0)["ok"]
    finally:
        with psycopg.connect(postgres_url, autocommit=True) as conn:
            conn.execute(f"DROP TABLE {table}")


def test_a_bad_table_is_a_study_error() -> None:
    with pytest.raises(StudyError, match="needs `sql`"):
        ReconcileRule.parse({"request": "create", "capture": "note"}, "study x")
