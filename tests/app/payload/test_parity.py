"""`/ping` and `/pong` accept and refuse the same bodies, with the same status and error code.

Every row of the parity table (bodies.py) goes to `summarize_bytes` in-process, to the
reference (what FastAPI + pydantic do), and through real servers to both endpoints: once with
the default small lane (most rows are parsed in the event loop), once with every body through
the process offloader (`PERFLAB_INLINE_PARSE_BYTES=0`: spooled, parsed in a worker process).
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest

from perflab.app.errors import BadRequest, Unprocessable
from perflab.app.payload.service import summarize_bytes
from tests.app.payload.bodies import ROWS, Row, reference
from tests.support.servers import RunningServer, perflab_server

CODES = {200: None, 400: "bad_request", 422: "validation_error"}


@pytest.fixture(scope="module", params=["small lane", "all offloaded"])
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningServer]:
    env = {"PERFLAB_INLINE_PARSE_BYTES": "0"} if request.param == "all offloaded" else {}
    tmp = tmp_path_factory.mktemp("parity")
    with perflab_server(tmp, "--offload", "process", env=env) as running:
        yield running


def post(server: RunningServer, path: str, body: bytes) -> tuple[int, dict[str, Any]]:
    request = urllib.request.Request(
        server.url(path), data=body, method="POST", headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def expected(row: Row, path: str) -> Any:
    if row.status == 200:
        return row.pong_answer if path == "/pong" and row.pong_answer else row.answer
    return row.loc if row.status == 422 else None


def outcome(status: int, answer: dict[str, Any]) -> tuple[int, str | None, Any]:
    """(status, error code, the answer without its timing, or the first 422 location)."""
    if status == 200:
        answer.pop("elapsed_server")
        return status, None, answer
    error = answer["error"]
    loc = tuple(error["details"][0]["loc"]) if status == 422 else None
    return status, error["code"], loc


def in_process(body: bytes) -> tuple[int, Any]:
    try:
        return 200, summarize_bytes(body)
    except BadRequest:
        return 400, None
    except Unprocessable as error:
        return 422, tuple((error.details or [{}])[0].get("loc", ()))


@pytest.mark.parametrize("row", ROWS, ids=[row.id for row in ROWS])
def test_the_table_is_what_fastapi_and_pydantic_do(row: Row) -> None:
    assert reference(row.body) == (row.status, expected(row, "/ping"))


@pytest.mark.parametrize("row", ROWS, ids=[row.id for row in ROWS])
def test_summarize_answers_as_the_table_says(row: Row) -> None:
    assert in_process(row.body) == (row.status, expected(row, "/pong"))


@pytest.mark.parametrize("row", ROWS, ids=[row.id for row in ROWS])
def test_both_endpoints_answer_as_the_table_says(server: RunningServer, row: Row) -> None:
    for path in ("/ping", "/pong"):
        got = outcome(*post(server, path, row.body))
        assert got == (row.status, CODES[row.status], expected(row, path)), path


def test_nothing_a_client_sent_was_a_server_error(server: RunningServer) -> None:
    assert "Traceback" not in server.log()
