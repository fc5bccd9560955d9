"""The notes API through a real server, for both variants, on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine, text

from tests.app.notes.client import call
from tests.app.notes.conftest import count_rows
from tests.support.servers import RunningServer

VARIANTS = ["/notes/", "/notes/sync/"]
NOTE = {"title": "title1", "description": "desc1"}

pytestmark = pytest.mark.parametrize("prefix", VARIANTS)


def test_create_then_get_update_delete(server: RunningServer, table: Engine, prefix: str) -> None:
    created = call("POST", server.url(prefix), NOTE)
    assert created.status == 201
    note_id = created.body["id"]
    assert created.body == {"id": note_id, **NOTE}
    assert call("GET", server.url(f"{prefix}{note_id}/")).body == created.body

    changed = {"title": "new title", "description": "new description"}
    updated = call("PUT", server.url(f"{prefix}{note_id}/"), changed)
    assert (updated.status, updated.body) == (200, {"id": note_id, **changed})

    deleted = call("DELETE", server.url(f"{prefix}{note_id}/"))
    assert (deleted.status, deleted.body) == (200, {"id": note_id, **changed})
    assert count_rows(table) == 0


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE"])
def test_unknown_id_is_404(server: RunningServer, table: Engine, prefix: str, method: str) -> None:
    body = NOTE if method == "PUT" else None
    answer = call(method, server.url(f"{prefix}987654321/"), body)
    assert answer.status == 404
    assert answer.body["error"]["code"] == "not_found"


@pytest.mark.parametrize("bad_id", ["abc", "0", "-1", "1.5", str(2**63), "9" * 40])
def test_bad_id_is_422(server: RunningServer, table: Engine, prefix: str, bad_id: str) -> None:
    for method, body in (("GET", None), ("PUT", NOTE), ("DELETE", None)):
        answer = call(method, server.url(f"{prefix}{bad_id}/"), body)
        assert answer.status == 422, (method, answer.body)
        assert answer.body["error"]["code"] == "validation_error"


BAD_BODIES = [
    {"title": "ab", "description": "desc1"},  # 2 characters
    {"title": "t" * 51, "description": "desc1"},
    {"title": "title1"},
    {"title": "title1", "description": "desc1", "extra": "refused"},
    {"title": 123, "description": "desc1"},
    {"title": None, "description": "desc1"},
    ["title1", "desc1"],
    {},
    {"title": "a\x00bc", "description": "desc1"},  # PostgreSQL text cannot hold NUL
]


@pytest.mark.parametrize("body", BAD_BODIES)
def test_bad_body_is_422(server: RunningServer, table: Engine, prefix: str, body: object) -> None:
    existing = call("POST", server.url(prefix), NOTE).body["id"]
    for method, path in (("POST", prefix), ("PUT", f"{prefix}{existing}/")):
        answer = call(method, server.url(path), body)
        assert answer.status == 422, (method, body, answer.body)
        assert answer.body["error"]["code"] == "validation_error"
    assert count_rows(table) == 1
    assert call("GET", server.url(f"{prefix}{existing}/")).body == {"id": existing, **NOTE}


@pytest.mark.parametrize("title", [b'"\\ud800abc"', b'"abc\xff"'])
def test_undecodable_text_is_422(
    server: RunningServer, table: Engine, prefix: str, title: bytes
) -> None:
    body = b'{"title": ' + title + b', "description": "desc1"}'  # a lone surrogate, bad UTF-8
    assert call("POST", server.url(prefix), raw=body).status in (400, 422)
    assert count_rows(table) == 0


def test_malformed_json_is_a_client_error(
    server: RunningServer, table: Engine, prefix: str
) -> None:
    answer = call("POST", server.url(prefix), raw=b'{"title": "title1", ')
    assert answer.status == 400  # the error tree's answer to a body that is not JSON at all
    assert count_rows(table) == 0


def test_a_body_declared_as_not_json_is_415(
    server: RunningServer, table: Engine, prefix: str
) -> None:
    answer = call("POST", server.url(prefix), NOTE, content_type="text/plain")
    assert answer.status == 415
    assert answer.body["error"]["code"] == "unsupported_media_type"
    assert count_rows(table) == 0


@pytest.mark.parametrize(
    "text_value",
    [
        "Robert'); DROP TABLE notes;--",
        "1' OR '1'='1",
        '%s %(title)s ? $1 :title \\ " ` ;',
        "日本語のノート",
        "émigré façade naïve",
        "📝 notes, with emoji 🎉",
        "é" * 50,  # 50 characters, 100 bytes in UTF-8: the limit counts characters
        "abc",  # the shortest allowed
    ],
)
def test_text_is_stored_and_returned_verbatim(
    server: RunningServer, table: Engine, prefix: str, text_value: str
) -> None:
    note = {"title": text_value, "description": text_value}
    created = call("POST", server.url(prefix), note)
    assert created.status == 201, created.body
    assert created.body == {"id": created.body["id"], **note}
    assert call("GET", server.url(f"{prefix}{created.body['id']}/")).body == created.body
    with table.connect() as connection:
        stored = connection.execute(text("SELECT title, description FROM notes")).one()
    assert tuple(stored) == (text_value, text_value)


def test_pages_walk_every_note_once_in_id_order(
    server: RunningServer, table: Engine, prefix: str
) -> None:
    ids = [call("POST", server.url(prefix), NOTE).body["id"] for _ in range(25)]
    seen: list[int] = []
    url: str | None = server.url(f"{prefix}?limit=10")
    pages = 0
    while url is not None:
        answer = call("GET", url)
        assert answer.status == 200
        seen += [note["id"] for note in answer.body]
        link = answer.headers.get("link")
        url = link[1 : link.index(">")] if link else None
        pages += 1
    assert seen == sorted(ids)
    assert pages == 3  # 10 + 10 + 5: a short page has no "next" link
    after = call("GET", server.url(f"{prefix}?after={ids[9]}&limit=5")).body
    assert [note["id"] for note in after] == ids[10:15]
    assert len(call("GET", server.url(prefix)).body) == 20  # the default page size


@pytest.mark.parametrize("query", ["limit=0", "limit=101", "limit=x", "after=-1", "after=x"])
def test_bad_page_parameters_are_422(
    server: RunningServer, table: Engine, prefix: str, query: str
) -> None:
    assert call("GET", server.url(f"{prefix}?{query}")).status == 422


def test_variants_share_one_table(server: RunningServer, table: Engine, prefix: str) -> None:
    other = "/notes/sync/" if prefix == "/notes/" else "/notes/"
    created = call("POST", server.url(prefix), NOTE).body
    assert call("GET", server.url(f"{other}{created['id']}/")).body == created
    assert call("DELETE", server.url(f"{other}{created['id']}/")).status == 200
    assert call("GET", server.url(f"{prefix}{created['id']}/")).status == 404


def test_openapi_documents_both_variants(server: RunningServer, table: Engine, prefix: str) -> None:
    paths = call("GET", server.url("/openapi.json")).body["paths"]
    create = paths[prefix]["post"]
    assert set(create["responses"]) >= {"201", "422", "503"}
    assert create["requestBody"]["content"]["application/json"]["schema"]["$ref"].endswith("NoteIn")
    assert set(paths[f"{prefix}{{note_id}}/"]) == {"get", "put", "delete"}
