"""Every error a client can cause is JSON with the right status; surprises are a logged 500.

The body limit (413) is tested in test_body_limit.py.
"""

from __future__ import annotations

import pytest
from fastapi import FastAPI
from pydantic import BaseModel

from perflab.app.errors import BadGateway, Overloaded
from perflab.app.main import create_app
from perflab.config import Settings
from tests.support.asgi import call

pytestmark = pytest.mark.anyio


class Item(BaseModel):
    name: str
    count: int


@pytest.fixture
def app() -> FastAPI:
    app = create_app(Settings())

    @app.post("/test/items")
    async def items(item: Item) -> Item:
        return item

    @app.get("/test/boom")
    async def boom() -> None:
        raise RuntimeError("a bug")

    @app.get("/test/overloaded")
    async def overloaded() -> None:
        raise Overloaded("queue full", retry_after_s=2.5)

    @app.get("/test/bad-gateway")
    async def bad_gateway() -> None:
        raise BadGateway("downstream said 500")

    return app


def assert_error(answer_json: dict[str, object], code: str) -> None:
    error = answer_json["error"]
    assert isinstance(error, dict)
    assert error["code"] == code
    assert isinstance(error["message"], str)
    assert error["message"]


async def test_unknown_route_is_json_404(app: FastAPI) -> None:
    answer = await call(app, "GET", "/no/such/thing")
    assert answer.status == 404
    assert_error(answer.json(), "not_found")


async def test_wrong_method_is_json_405(app: FastAPI) -> None:
    answer = await call(app, "GET", "/test/items")
    assert answer.status == 405
    assert_error(answer.json(), "method_not_allowed")


async def test_schema_violation_is_422_naming_the_field(app: FastAPI) -> None:
    answer = await call(
        app, "POST", "/test/items",
        chunks=[b'{"name": "a", "count": "many"}'],
        headers=[("content-type", "application/json")],
    )  # fmt: skip
    assert answer.status == 422
    body = answer.json()
    assert_error(body, "validation_error")
    assert "body.count" in body["error"]["message"]
    assert body["error"]["details"][0]["loc"] == ["body", "count"]


async def test_malformed_json_is_400(app: FastAPI) -> None:
    answer = await call(
        app, "POST", "/test/items",
        chunks=[b'{"name": '],
        headers=[("content-type", "application/json")],
    )  # fmt: skip
    assert answer.status == 400
    assert_error(answer.json(), "bad_request")


async def test_unexpected_exception_is_logged_500_with_request_id(
    app: FastAPI, caplog: pytest.LogCaptureFixture
) -> None:
    answer = await call(app, "GET", "/test/boom", headers=[("x-request-id", "req-42")])
    assert answer.status == 500
    body = answer.json()
    assert_error(body, "internal_error")
    assert body["error"]["request_id"] == "req-42"
    assert answer.headers["x-request-id"] == "req-42"
    assert "RuntimeError: a bug" in caplog.text


async def test_overload_is_503_with_retry_after(app: FastAPI) -> None:
    answer = await call(app, "GET", "/test/overloaded")
    assert answer.status == 503
    assert answer.headers["retry-after"] == "3"
    assert_error(answer.json(), "overloaded")


async def test_downstream_failure_is_502(app: FastAPI) -> None:
    answer = await call(app, "GET", "/test/bad-gateway")
    assert answer.status == 502
    assert_error(answer.json(), "bad_gateway")


async def test_every_answer_carries_a_request_id(app: FastAPI) -> None:
    first = await call(app, "GET", "/no/such/thing")
    second = await call(app, "GET", "/no/such/thing")
    assert first.headers["x-request-id"] != second.headers["x-request-id"]
