"""Notes fixtures: every test runs once on SQLite and once on the real PostgreSQL.

PostgreSQL tests get a throwaway database for the session (`perflab_test_notes_<random>`,
dropped at the end), so they never collide with the benchmark or another run's tests.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, make_url, text

from tests.support.servers import RunningServer, perflab_server

BACKENDS = ["sqlite", "postgres"]
# Small pools: several servers may be up at once against PostgreSQL's 100-connection limit.
SERVER_ENV = {"PERFLAB_OFFLOAD": "inline", "PERFLAB_DB_POOL_SIZE": "4", "PERFLAB_THREADS": "8"}


def sync_url(url: str) -> str:
    parsed = make_url(url)
    if parsed.get_backend_name() == "postgresql":
        return parsed.set(drivername="postgresql+psycopg").render_as_string(hide_password=False)
    return url


def direct_engine(url: str) -> Engine:
    """An engine of the test's own, to look at the table behind the service's back."""
    return create_engine(sync_url(url), isolation_level="AUTOCOMMIT")


@pytest.fixture(scope="session")
def pg_notes_url(postgres_url: str) -> Iterator[str]:
    name = f"perflab_test_notes_{secrets.token_hex(4)}"
    admin = create_engine(sync_url(postgres_url), isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f"CREATE DATABASE {name}"))
    try:
        yield make_url(postgres_url).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        admin.dispose()


def url_for(backend: str, request: pytest.FixtureRequest, directory: Path) -> str:
    if backend == "sqlite":
        return f"sqlite:///{directory / 'notes.db'}"
    url: str = request.getfixturevalue("pg_notes_url")
    return url


@pytest.fixture(scope="module", params=BACKENDS)
def database_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> str:
    """A notes database shared by one test module (SQLite file or the session's PG database)."""
    return url_for(request.param, request, tmp_path_factory.mktemp("notes-db"))


@pytest.fixture(scope="module")
def server(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    """`perflab serve --workers 2` on the module's database (both workers create the schema)."""
    env = {**SERVER_ENV, "PERFLAB_DATABASE_URL": database_url}
    with perflab_server(tmp_path_factory.mktemp("notes-server"), "--workers", "2", env=env) as s:
        yield s


@pytest.fixture
def table(database_url: str, server: RunningServer) -> Iterator[Engine]:
    """The notes table, emptied before the test; an engine to inspect it directly."""
    engine = direct_engine(database_url)
    with engine.connect() as connection:
        connection.execute(text("DELETE FROM notes"))
    yield engine
    engine.dispose()


def count_rows(engine: Engine) -> int:
    with engine.connect() as connection:
        return int(connection.execute(text("SELECT count(*) FROM notes")).scalar_one())
