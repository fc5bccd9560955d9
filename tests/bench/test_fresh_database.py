"""PostgreSQL cells start every run on a database of their own, dropped when the run ends
(also when it failed), so the notes table never grows across runs."""

from __future__ import annotations

from pathlib import Path

import psutil
import psycopg
import pytest

from perflab.bench.fresh_database import PREFIX, fresh_database, with_database
from perflab.bench.study import load_study
from perflab.bench.target import cell_target

pytestmark = pytest.mark.postgres


def databases(url: str) -> set[str]:
    with psycopg.connect(url, autocommit=True) as connection:
        rows = connection.execute(
            "SELECT datname FROM pg_database WHERE datname LIKE %s", (PREFIX + "%",)
        ).fetchall()
    return {row[0] for row in rows}


def test_a_fresh_database_exists_for_the_block_only(postgres_url: str) -> None:
    before = databases(postgres_url)
    with fresh_database(postgres_url) as url:
        [name] = databases(postgres_url) - before
        assert url == with_database(postgres_url, name)
        with psycopg.connect(url, autocommit=True) as connection:
            connection.execute("CREATE TABLE notes (id int)")
            connection.execute("INSERT INTO notes VALUES (1)")
    assert name not in databases(postgres_url)


def test_it_is_dropped_when_the_block_fails_with_a_connection_still_open(
    postgres_url: str,
) -> None:
    before = databases(postgres_url)
    left_open: list[psycopg.Connection[tuple[object, ...]]] = []

    def failing_cell() -> None:
        with fresh_database(postgres_url) as url:
            left_open.append(psycopg.connect(url))  # a pool the server never closed
            raise RuntimeError("the cell failed")

    with pytest.raises(RuntimeError, match="the cell failed"):
        failing_cell()
    assert databases(postgres_url) <= before
    left_open[0].close()


STUDY = """
title = "Notes on PostgreSQL"
question = "Does each run start from an empty database?"
[base]
server = { workers = 1 }
database = "postgres"
load = { model = "closed", requests = 1, connections = 1 }
[[base.request]]
name = "create"
path = "/notes/"
"""


def test_a_postgres_cell_runs_on_its_own_database(tmp_path: Path, postgres_url: str) -> None:
    study_file = tmp_path / "notes.toml"
    study_file.write_text(STUDY)
    study = load_study(str(study_file))
    before = databases(postgres_url)
    seen = []
    for _ in range(2):  # two repeats: two databases, neither left behind
        with cell_target(study, study.cells[0], log_dir=tmp_path / "logs") as target:
            [name] = databases(postgres_url) - before
            assert target.pid is not None
            env = psutil.Process(target.pid).environ()
            assert env["PERFLAB_DATABASE_URL"].endswith("/" + name)
            seen.append(name)
        assert name not in databases(postgres_url)
    assert seen[0] != seen[1]
