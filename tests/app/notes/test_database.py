"""The database side: URLs to drivers, start-up before the database, a database restart,
and a service restart that keeps every note. Each on SQLite and on PostgreSQL."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import make_url

from perflab.app.notes.engines import database_urls
from perflab.config import Settings
from tests.app.notes.client import Answer, call
from tests.app.notes.conftest import BACKENDS, SERVER_ENV, count_rows, direct_engine, url_for
from tests.app.notes.proxy import TcpProxy
from tests.support.servers import RunningServer, free_port, get_json, perflab_server

NOTE = {"title": "title1", "description": "desc1"}
FAST_HEALTH = {**SERVER_ENV, "PERFLAB_HEALTH_INTERVAL_S": "0.2"}


@pytest.mark.parametrize(
    ("given", "async_driver", "sync_driver"),
    [
        ("sqlite:////var/lib/notes.db", "sqlite+aiosqlite", "sqlite+pysqlite"),
        ("postgresql://u@db:5432/notes", "postgresql+asyncpg", "postgresql+psycopg"),
        ("postgres://u@db/notes", "postgresql+asyncpg", "postgresql+psycopg"),
        ("postgresql+asyncpg://u@db/notes", "postgresql+asyncpg", "postgresql+psycopg"),
    ],
)
def test_one_url_gives_each_engine_its_driver(
    given: str, async_driver: str, sync_driver: str
) -> None:
    async_url, sync_url = database_urls(Settings(database_url=given))
    assert (async_url.drivername, sync_url.drivername) == (async_driver, sync_driver)
    assert async_url.database == sync_url.database == make_url(given).database


@pytest.mark.parametrize("unset", [None, "", "None"])
def test_default_is_a_sqlite_file_in_the_data_dir(tmp_path: Path, unset: str | None) -> None:
    async_url, _ = database_urls(Settings(database_url=unset, data_dir=tmp_path))
    assert async_url.database == str(tmp_path / "notes.db")


@pytest.mark.parametrize("bad", ["sqlite://", "sqlite:///:memory:", "mysql://u@db/notes"])
def test_unusable_urls_are_refused(bad: str) -> None:
    with pytest.raises(ValueError, match="PERFLAB_DATABASE_URL"):
        database_urls(Settings(database_url=bad))


def wait_for(predicate: Callable[[], bool], timeout_s: float = 20.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.1)


def ready(server: RunningServer) -> bool:
    return get_json(server.url("/healthz"))[0] == 200


def assert_unavailable(answer: Answer) -> None:
    assert answer.status == 503, answer.body
    assert answer.body["error"]["code"] == "unavailable"
    assert int(answer.headers["retry-after"]) >= 1


def assert_every_endpoint_unavailable(server: RunningServer) -> None:
    for prefix in ("/notes/", "/notes/sync/"):
        assert_unavailable(call("POST", server.url(prefix), NOTE))
        assert_unavailable(call("GET", server.url(prefix)))
        assert_unavailable(call("GET", server.url(f"{prefix}1/")))
        assert_unavailable(call("PUT", server.url(f"{prefix}1/"), NOTE))
        assert_unavailable(call("DELETE", server.url(f"{prefix}1/")))
    wait_for(lambda: not ready(server))  # the health check runs in the background
    status, health = get_json(server.url("/healthz"))
    assert (status, health["ready"], health["services"]["database"]["ok"]) == (503, False, False)


@pytest.fixture(params=BACKENDS)
def unreachable_database(
    request: pytest.FixtureRequest, tmp_path: Path
) -> Iterator[tuple[str, Callable[[], None]]]:
    """(URL of a database that cannot be reached yet, a function that makes it reachable)."""
    if request.param == "sqlite":
        blocker = tmp_path / "not-a-directory"
        blocker.write_text("a file where the database's directory should be")

        def fix_sqlite() -> None:
            blocker.unlink()
            blocker.mkdir()

        yield f"sqlite:///{blocker / 'notes.db'}", fix_sqlite
        return
    real = make_url(request.getfixturevalue("pg_notes_url"))
    proxy = TcpProxy(free_port(), real.host or "127.0.0.1", real.port or 5432)
    try:
        url = real.set(host="127.0.0.1", port=proxy.listen_port)
        yield url.render_as_string(hide_password=False), proxy.start
    finally:
        proxy.close()


def test_started_before_the_database_answers_503_then_recovers(
    unreachable_database: tuple[str, Callable[[], None]], tmp_path: Path
) -> None:
    url, make_reachable = unreachable_database
    env = {**FAST_HEALTH, "PERFLAB_DATABASE_URL": url}
    with perflab_server(tmp_path, env=env) as server:
        assert_every_endpoint_unavailable(server)
        make_reachable()
        wait_for(lambda: ready(server))
        for prefix in ("/notes/", "/notes/sync/"):
            assert call("POST", server.url(prefix), NOTE).status == 201
        assert "Traceback" not in server.log()


def test_a_database_restart_is_picked_up_without_restarting_the_service(
    pg_notes_url: str, tmp_path: Path
) -> None:
    """PostgreSQL only: an embedded SQLite file has no server to restart."""
    real = make_url(pg_notes_url)
    proxy = TcpProxy(free_port(), real.host or "127.0.0.1", real.port or 5432)
    url = real.set(host="127.0.0.1", port=proxy.listen_port).render_as_string(False)
    proxy.start()
    try:
        with perflab_server(tmp_path, env={**FAST_HEALTH, "PERFLAB_DATABASE_URL": url}) as server:
            for prefix in ("/notes/", "/notes/sync/"):  # fill both pools with connections
                assert call("POST", server.url(prefix), NOTE).status == 201
            proxy.stop()  # every pooled connection dies, as in a restart
            assert_every_endpoint_unavailable(server)
            proxy.start()
            # Pre-ping replaces the dead connections: the first request after is served.
            for prefix in ("/notes/", "/notes/sync/"):
                assert call("POST", server.url(prefix), NOTE).status == 201
            wait_for(lambda: ready(server))
            assert "Traceback" not in server.log()
    finally:
        proxy.close()


@pytest.mark.parametrize("backend", BACKENDS)
def test_restarting_the_service_keeps_every_note(
    backend: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    url = url_for(backend, request, tmp_path)
    env = {**SERVER_ENV, "PERFLAB_DATABASE_URL": url}
    with perflab_server(tmp_path, env=env) as server:
        call("DELETE", server.url("/notes/0/"))  # the table exists once the server is up
        engine = direct_engine(url)
        with engine.begin() as connection:
            connection.exec_driver_sql("DELETE FROM notes")
        notes = [call("POST", server.url("/notes/"), NOTE).body for _ in range(5)]
    with perflab_server(tmp_path, "--workers", "2", env=env) as server:
        assert call("GET", server.url("/notes/sync/")).body == notes
        assert call("POST", server.url("/notes/"), NOTE).body["id"] > notes[-1]["id"]
    assert count_rows(engine) == 6
    engine.dispose()


def test_a_quick_database_restart_fails_no_request(pg_notes_url: str, tmp_path: Path) -> None:
    """PostgreSQL only. Down and up again between two requests: the connections the restart
    closed are noticed at checkout and replaced, so not even the next request gets a 503."""
    real = make_url(pg_notes_url)
    proxy = TcpProxy(free_port(), real.host or "127.0.0.1", real.port or 5432)
    url = real.set(host="127.0.0.1", port=proxy.listen_port).render_as_string(False)
    proxy.start()
    try:
        with perflab_server(tmp_path, env={**SERVER_ENV, "PERFLAB_DATABASE_URL": url}) as server:
            for _ in range(3):
                for prefix in ("/notes/", "/notes/sync/"):
                    assert call("POST", server.url(prefix), NOTE).status == 201
                proxy.stop()
                proxy.start()
                time.sleep(0.3)  # the closed sockets' EOF reaches the service
    finally:
        proxy.close()
