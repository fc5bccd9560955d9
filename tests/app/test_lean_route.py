"""`LeanRoute` answers every request as FastAPI's own route class does, and refuses what it
cannot serve when the route is declared.

The same endpoints are declared twice, once per route class, and every request is sent to both
through an in-process ASGI driver: status, error code, message and the located errors must agree.
"""

from __future__ import annotations

import json
import threading
from typing import Annotated, Any

import pytest
from fastapi import (
    APIRouter,
    Depends,
    FastAPI,
    Header,
    HTTPException,
    Path,
    Query,
    Request,
    Response,
)
from fastapi.routing import APIRoute
from pydantic import BaseModel, ConfigDict, Field

from perflab.app.error_handlers import install_error_handlers
from perflab.app.lean_route import LeanRoute
from tests.support.asgi import Answer, call

pytestmark = pytest.mark.anyio


class Item(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Annotated[str, Field(min_length=3, max_length=10)]
    count: int


ItemId = Annotated[int, Path(ge=1, le=1000)]
Limit = Annotated[int, Query(ge=1, le=10)]


def _answer(**values: Any) -> Response:
    return Response(json.dumps(values), media_type="application/json")


def build(route_class: type[APIRoute]) -> FastAPI:
    router = APIRouter(prefix="/items", route_class=route_class)

    @router.get("/")
    async def list_items(limit: Limit = 5) -> Response:
        return _answer(limit=limit)

    @router.put("/{item_id}/")
    async def put_item(item_id: ItemId, item: Item, request: Request, limit: Limit = 5) -> Response:
        return _answer(
            id=item_id,
            name=item.name,
            count=item.count,
            limit=limit,
            path=request.url.path,
            thread=threading.get_ident(),
        )

    @router.post("/sync/")
    def post_item_sync(item: Item) -> Response:
        return _answer(name=item.name, thread=threading.get_ident())

    app = FastAPI()
    install_error_handlers(app)
    app.include_router(router)
    return app


JSON = [("content-type", "application/json")]
GOOD = json.dumps({"name": "widget", "count": 3}).encode()

# (method, path, query, body): answered alike by both route classes.
CASES = [
    ("GET", "/items/", "", b""),
    ("GET", "/items/", "limit=7", b""),
    ("GET", "/items/", "limit=0", b""),
    ("GET", "/items/", "limit=x", b""),
    ("PUT", "/items/5/", "", GOOD),
    ("PUT", "/items/5/", "limit=2", GOOD),
    ("PUT", "/items/abc/", "", GOOD),
    ("PUT", "/items/0/", "", GOOD),
    ("PUT", "/items/1001/", "", GOOD),
    ("PUT", "/items/1.5/", "", GOOD),
    ("PUT", "/items/5/", "limit=11", GOOD),
    ("PUT", "/items/abc/", "limit=x", b'{"name": "ab", "count": 1}'),  # every error at once
    ("PUT", "/items/5/", "", b'{"name": "ab", "count": 1}'),
    ("PUT", "/items/5/", "", b'{"name": "widget"}'),
    ("PUT", "/items/5/", "", b'{"name": "widget", "count": 1, "extra": true}'),
    ("PUT", "/items/5/", "", b'{"name": 123, "count": 1}'),
    ("PUT", "/items/5/", "", b'{"name": "widget", "count": "many"}'),
    ("PUT", "/items/5/", "", b"{}"),
    ("PUT", "/items/5/", "", b""),
    ("POST", "/items/sync/", "", GOOD),
    ("DELETE", "/items/5/", "", b""),  # a method the route does not take: 405
    ("GET", "/items/sync/", "", b""),
    ("POST", "/items/sync/", "", b'{"name": "widget", "count": 1, "extra": 1}'),
]


def _comparable(answer: Answer) -> dict[str, Any]:
    body = answer.json()
    if "error" not in body:
        body.pop("thread", None)
        return {"status": answer.status, "body": body}
    error = body["error"]
    return {
        "status": answer.status,
        "code": error["code"],
        "message": error["message"],
        "errors": [(tuple(d["loc"]), d["type"]) for d in error.get("details", [])],
    }


@pytest.mark.parametrize(("method", "path", "query", "body"), CASES)
async def test_answers_like_fastapis_own_route(
    method: str, path: str, query: str, body: bytes
) -> None:
    lean, plain = build(LeanRoute), build(APIRoute)
    chunks = [body] if body else []
    answers = [
        await call(app, method, path, chunks=chunks, headers=JSON, query=query)
        for app in (lean, plain)
    ]
    assert _comparable(answers[0]) == _comparable(answers[1])


@pytest.mark.parametrize("body", [b'{"name": "widget", ', b"not json", b"\xff\xfe"])
async def test_malformed_json_is_400_like_fastapi(body: bytes) -> None:
    for app in (build(LeanRoute), build(APIRoute)):
        answer = await call(app, "PUT", "/items/5/", chunks=[body], headers=JSON)
        assert answer.status == 400
        assert answer.json()["error"]["code"] == "bad_request"


async def test_a_body_declared_as_not_json_is_415() -> None:
    headers = [("content-type", "text/plain")]
    answer = await call(build(LeanRoute), "PUT", "/items/5/", chunks=[GOOD], headers=headers)
    assert answer.status == 415
    assert answer.json()["error"]["code"] == "unsupported_media_type"


async def test_a_body_without_content_type_is_read_as_json() -> None:
    answer = await call(build(LeanRoute), "PUT", "/items/5/", chunks=[GOOD])
    assert (answer.status, answer.json()["name"]) == (200, "widget")


async def test_async_endpoints_run_on_the_loop_and_plain_ones_in_a_thread() -> None:
    app = build(LeanRoute)
    here = threading.get_ident()
    put = await call(app, "PUT", "/items/5/", chunks=[GOOD], headers=JSON)
    post = await call(app, "POST", "/items/sync/", chunks=[GOOD], headers=JSON)
    assert put.json()["thread"] == here
    assert post.json()["thread"] != here


async def test_the_endpoint_gets_the_request() -> None:
    answer = await call(build(LeanRoute), "PUT", "/items/7/", chunks=[GOOD], headers=JSON)
    assert answer.json()["path"] == "/items/7/"


async def test_an_endpoint_that_returns_no_response_is_a_bug() -> None:
    router = APIRouter(route_class=LeanRoute)

    @router.get("/dict")
    async def returns_dict() -> Any:
        return {"not": "a response"}

    app = FastAPI()
    app.include_router(router)
    with pytest.raises(TypeError, match="must return a Response"):
        await call(app, "GET", "/dict")


def test_openapi_is_the_same_as_fastapis() -> None:
    assert build(LeanRoute).openapi() == build(APIRoute).openapi()


async def _dependency() -> int:
    return 1


def test_parameters_it_cannot_serve_are_refused_at_declaration() -> None:
    router = APIRouter(route_class=LeanRoute)
    with pytest.raises(TypeError, match="parameter 'value'"):

        @router.get("/dep")
        async def with_dependency(value: Annotated[int, Depends(_dependency)]) -> Response:
            return Response()

    with pytest.raises(TypeError, match="parameter 'agent'"):

        @router.get("/header")
        async def with_header(agent: Annotated[str, Header()]) -> Response:
            return Response()

    with pytest.raises(TypeError, match="parameter 'tags'"):

        @router.get("/list-query")
        async def with_list_query(tags: Annotated[list[str], Query()]) -> Response:
            return Response()

    with pytest.raises(TypeError, match="parameter 'page'"):

        @router.get("/alias")
        async def with_alias(page: Annotated[int, Query(alias="p")] = 1) -> Response:
            return Response()

    with pytest.raises(TypeError, match="parameter 'page_size'"):

        @router.get("/validation-alias")
        async def with_validation_alias(
            page_size: Annotated[int, Query(validation_alias="size")] = 1,
        ) -> Response:
            return Response()

    with pytest.raises(TypeError, match="parameter 'other'"):

        @router.post("/two-bodies")
        async def with_two_bodies(item: Item, other: Item) -> Response:
            return Response()


async def _deny() -> None:
    raise HTTPException(403, "denied")


def _with_include_settings(route_class: type[APIRoute], where: str) -> FastAPI:
    router = APIRouter(route_class=route_class)

    @router.put("/guarded/")
    async def guarded(item: Item) -> Response:
        return _answer(name=item.name)

    app = FastAPI(dependencies=[Depends(_deny)]) if where == "app" else FastAPI()
    install_error_handlers(app)
    if where == "include-dependencies":
        app.include_router(router, dependencies=[Depends(_deny)])
    elif where == "include-body-limit":
        app.include_router(router, max_body_size=10)
    else:
        app.include_router(router)
    return app


@pytest.mark.parametrize(
    ("where", "status"),
    [("include-dependencies", 403), ("app", 403), ("include-body-limit", 413), ("none", 200)],
)
async def test_include_settings_apply_as_with_fastapis_route(where: str, status: int) -> None:
    # FastAPI applies these per request; the lean handler defers to FastAPI's for them.
    for route_class in (LeanRoute, APIRoute):
        app = _with_include_settings(route_class, where)
        answer = await call(app, "PUT", "/guarded/", chunks=[GOOD], headers=JSON)
        assert answer.status == status, (route_class.__name__, answer.body)


async def test_a_client_that_leaves_mid_body_is_499_not_a_500() -> None:
    received = 0

    async def receive() -> dict[str, Any]:
        nonlocal received
        received += 1
        if received == 1:
            return {"type": "http.request", "body": b'{"name": ', "more_body": True}
        return {"type": "http.disconnect"}

    answers: list[dict[str, Any]] = []

    async def send(message: dict[str, Any]) -> None:
        answers.append(message)

    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "PUT",
        "scheme": "http", "path": "/items/5/", "raw_path": b"/items/5/", "root_path": "",
        "query_string": b"", "headers": [(b"content-type", b"application/json")],
        "client": ("127.0.0.1", 1), "server": ("127.0.0.1", 8000), "state": {},
    }  # fmt: skip
    await build(LeanRoute)(scope, receive, send)
    assert answers[0]["status"] == 499


def test_router_dependencies_are_refused_at_declaration() -> None:
    router = APIRouter(route_class=LeanRoute, dependencies=[Depends(_dependency)])
    with pytest.raises(TypeError, match="dependencies are not supported"):

        @router.get("/guarded")
        async def guarded() -> Response:
            return Response()
