"""The statement time limit (`PERFLAB_DB_TIMEOUT_S`) through a real server, both variants.

Past the limit a request answers 503 with Retry-After and loses nothing: a write the server
cancelled left no row behind (the slow part here is a trigger that runs after the row was
written), a write the network swallowed never happened, a write whose answer was lost happened
whole, and the next request is served. The bound on a hung request is the client's own
timeout (`client.call`): a request that hangs fails the test instead of holding it.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, make_url, text

from tests.app.notes.client import Answer, call
from tests.app.notes.conftest import SERVER_ENV, direct_engine
from tests.app.notes.proxy import TcpProxy
from tests.support.servers import RunningServer, free_port, perflab_server

VARIANTS = ["/notes/", "/notes/sync/"]
NOTE = {"title": "title1", "description": "desc1"}
SLOW = {"title": "slow note", "description": "its trigger sleeps"}
# One pooled connection per engine and no periodic health check, so each request runs on the
# connection the test warmed up (asyncpg sends a new statement's Parse alone and waits for it).
ENV = {
    **SERVER_ENV,
    "PERFLAB_DB_TIMEOUT_S": "1",
    "PERFLAB_DB_POOL_SIZE": "1",
    "PERFLAB_HEALTH_INTERVAL_S": "3600",
}

pytestmark = pytest.mark.parametrize("prefix", VARIANTS)


def assert_unavailable(answer: Answer, reason: str) -> None:
    assert answer.status == 503, answer.body
    assert answer.body["error"]["code"] == "unavailable"
    assert reason in answer.body["error"]["message"]
    assert int(answer.headers["retry-after"]) >= 1


def notes_in(table: Engine) -> dict[int, tuple[str, str]]:
    with table.connect() as connection:
        rows = connection.execute(text("SELECT id, title, description FROM notes")).all()
    return {row.id: (row.title, row.description) for row in rows}


@pytest.fixture(scope="module")
def proxy(pg_notes_url: str) -> Iterator[TcpProxy]:
    real = make_url(pg_notes_url)
    proxy = TcpProxy(free_port(), real.host or "127.0.0.1", real.port or 5432)
    proxy.start()
    yield proxy
    proxy.close()


@pytest.fixture(scope="module")
def pg_server(
    pg_notes_url: str, proxy: TcpProxy, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningServer]:
    """One worker on the session's database, through the proxy."""
    url = make_url(pg_notes_url).set(host="127.0.0.1", port=proxy.listen_port)
    env = {**ENV, "PERFLAB_DATABASE_URL": url.render_as_string(hide_password=False)}
    with perflab_server(tmp_path_factory.mktemp("notes-limit"), env=env) as server:
        yield server


@pytest.fixture
def pg_table(pg_notes_url: str, pg_server: RunningServer, proxy: TcpProxy) -> Iterator[Engine]:
    """The emptied notes table, seen directly (not through the proxy)."""
    engine = direct_engine(pg_notes_url)
    with engine.connect() as connection:
        connection.execute(text("DELETE FROM notes"))
    try:
        yield engine
    finally:
        proxy.restore()
        engine.dispose()


SLOW_FUNCTION = """
CREATE FUNCTION perflab_test_slow_note() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF (TG_OP = 'DELETE' AND OLD.title LIKE 'slow%')
            OR (TG_OP <> 'DELETE' AND NEW.title LIKE 'slow%') THEN
        PERFORM pg_sleep(60);
    END IF;
    RETURN NULL;
END $$
"""
SLOW_TRIGGER = """
CREATE TRIGGER perflab_test_slow_note AFTER INSERT OR UPDATE OR DELETE ON notes
    FOR EACH ROW EXECUTE FUNCTION perflab_test_slow_note()
"""


@pytest.fixture
def slow_note(pg_table: Engine) -> Iterator[int]:
    """Writes of notes titled "slow..." sleep 60 s after the row is written; the id of one
    such note, stored before the trigger existed."""
    with pg_table.connect() as connection:
        note_id = connection.execute(
            text("INSERT INTO notes (title, description) VALUES (:t, :d) RETURNING id"),
            {"t": SLOW["title"], "d": SLOW["description"]},
        ).scalar_one()
        connection.execute(text(SLOW_FUNCTION))  # text(): the `%` are not placeholders
        connection.execute(text(SLOW_TRIGGER))
    try:
        yield note_id
    finally:
        with pg_table.connect() as connection:
            connection.exec_driver_sql("DROP TRIGGER perflab_test_slow_note ON notes")
            connection.exec_driver_sql("DROP FUNCTION perflab_test_slow_note()")


def test_a_write_past_the_limit_is_503_and_rolled_back(
    pg_server: RunningServer, pg_table: Engine, slow_note: int, prefix: str
) -> None:
    kept = call("POST", pg_server.url(prefix), NOTE).body
    before = notes_in(pg_table)
    for method, path, body in (
        ("POST", prefix, SLOW),
        ("PUT", f"{prefix}{kept['id']}/", SLOW),
        ("DELETE", f"{prefix}{slow_note}/", None),
    ):
        answer = call(method, pg_server.url(path), body)
        assert_unavailable(answer, "statement timeout")
    assert notes_in(pg_table) == before  # no new row, no changed row, no deleted row
    assert call("POST", pg_server.url(prefix), NOTE).status == 201
    assert "Traceback" not in pg_server.log()


def test_a_read_past_the_limit_is_503(
    pg_server: RunningServer, pg_table: Engine, prefix: str
) -> None:
    note_id = call("POST", pg_server.url(prefix), NOTE).body["id"]
    with pg_table.connect() as connection:
        connection.exec_driver_sql("BEGIN")
        connection.exec_driver_sql("LOCK TABLE notes IN ACCESS EXCLUSIVE MODE")
        try:
            assert_unavailable(call("GET", pg_server.url(prefix)), "statement timeout")
            assert_unavailable(call("GET", pg_server.url(f"{prefix}{note_id}/")), "timeout")
        finally:
            connection.exec_driver_sql("ROLLBACK")
    assert call("GET", pg_server.url(f"{prefix}{note_id}/")).status == 200


def test_a_silent_network_is_503_and_the_write_never_happened(
    pg_server: RunningServer, pg_table: Engine, proxy: TcpProxy, prefix: str
) -> None:
    assert call("POST", pg_server.url(prefix), NOTE).status == 201
    before = notes_in(pg_table)
    proxy.black_hole()  # the statement never reaches the server, nothing comes back
    assert_unavailable(call("POST", pg_server.url(prefix), SLOW), "no answer")
    proxy.restore()
    assert notes_in(pg_table) == before
    assert call("POST", pg_server.url(prefix), NOTE).status == 201  # a new connection
    assert "Traceback" not in pg_server.log()


def test_a_lost_answer_is_503_and_the_write_whole(
    pg_server: RunningServer, pg_table: Engine, proxy: TcpProxy, prefix: str
) -> None:
    """The statement ran, and only its answer was lost: the client sees 503 and, looking
    again, the whole note. (So a client retries a create only after looking.)"""
    assert call("POST", pg_server.url(prefix), NOTE).status == 201
    before = notes_in(pg_table)
    proxy.black_hole(to_server=False)
    lost = {"title": "answer lost", "description": "but stored"}
    assert_unavailable(call("POST", pg_server.url(prefix), lost), "no answer")
    proxy.restore()
    after = notes_in(pg_table)
    new = {note_id: note for note_id, note in after.items() if note_id not in before}
    assert list(new.values()) == [(lost["title"], lost["description"])]
    listed = call("GET", pg_server.url(f"{prefix}?limit=100")).body
    assert {"id": next(iter(new)), **lost} in listed
    assert "Traceback" not in pg_server.log()


@pytest.fixture(scope="module")
def sqlite_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[RunningServer, Path]]:
    directory = tmp_path_factory.mktemp("notes-limit-sqlite")
    path = directory / "notes.db"
    env = {**ENV, "PERFLAB_DATABASE_URL": f"sqlite:///{path}"}
    with perflab_server(directory, env=env) as server:
        yield server, path


def test_a_locked_sqlite_database_is_503_and_changes_nothing(
    sqlite_server: tuple[RunningServer, Path], prefix: str
) -> None:
    server, path = sqlite_server
    table = direct_engine(f"sqlite:///{path}")
    kept = call("POST", server.url(prefix), NOTE).body
    before = notes_in(table)
    blocker = sqlite3.connect(path, isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")  # another process's write transaction, left open
    try:
        for method, path_, body in (
            ("POST", prefix, NOTE),
            ("PUT", f"{prefix}{kept['id']}/", SLOW),
            ("DELETE", f"{prefix}{kept['id']}/", None),
        ):
            assert_unavailable(call(method, server.url(path_), body), "locked")
        assert call("GET", server.url(f"{prefix}{kept['id']}/")).body == kept  # reads go on
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
    assert notes_in(table) == before
    assert call("POST", server.url(prefix), NOTE).status == 201
    assert "Traceback" not in server.log()
    table.dispose()
