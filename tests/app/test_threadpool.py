"""`def` endpoints under a long queue (perflab.app.threadpool): admitted by expected wait, no
second thread trip for the answer, and requests whose clients left never take a thread.

A real server with 2 threads in front of a real slow downstream that counts its calls (each
`/sync_baseline` makes three), so "did this handler run?" is a count, not a timing.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
import urllib.request
from collections.abc import Callable
from typing import Annotated, Any

import aiohttp
import pytest
from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.routing import APIRoute
from pydantic import BaseModel, field_validator

from perflab.app.error_handlers import install_error_handlers
from perflab.app.threadpool import ThreadpoolRoute, in_threadpool, runs_in_threadpool
from tests.support.asgi import call
from tests.support.servers import RunningServer, get_json

pytestmark = pytest.mark.anyio

SERVICE_ARGS = ("--threads", "2")
DOWNSTREAM_LATENCY_S = 0.5  # per downstream call: a `/sync_baseline` holds a thread for 3 of them
CALLS = 3


@pytest.fixture
def idle(fanout_service: RunningServer, downstream: RunningServer) -> None:
    """Each test starts with an empty threadpool and a fresh downstream count."""
    wait_until(lambda: threadpool(fanout_service)["in_system"] == 0)
    request = urllib.request.Request(downstream.url("/stats/reset"), method="POST")
    urllib.request.urlopen(request, timeout=5).close()


def threadpool(fanout_service: RunningServer) -> dict[str, Any]:
    _, health = get_json(fanout_service.url("/healthz"))
    stats: dict[str, Any] = health["admission"]["threadpool"]
    return stats


def downstream_calls(downstream: RunningServer) -> int:
    _, stats = get_json(downstream.url("/stats"))
    total: int = stats["total"]
    return total


def wait_until(condition: Callable[[], bool]) -> None:
    # A guard against hanging, not a timing assertion: states are reached in milliseconds.
    deadline = time.monotonic() + 30
    while not condition():
        assert time.monotonic() < deadline, "state never reached"
        time.sleep(0.02)


async def get(session: aiohttp.ClientSession, url: str) -> int:
    async with session.get(url) as response:
        await response.read()
        return response.status


async def test_a_finished_handler_answers_before_queued_handlers_run(
    fanout_service: RunningServer, downstream: RunningServer, idle: None
) -> None:
    arrivals: list[int] = []  # downstream calls made so far, as each answer arrives

    async with aiohttp.ClientSession() as session:

        async def one() -> int:
            status = await get(session, fanout_service.url("/sync_baseline"))
            arrivals.append(await asyncio.to_thread(downstream_calls, downstream))
            return status

        statuses = await asyncio.gather(*(one() for _ in range(6)))
    assert statuses == [200] * 6
    # Six handlers on two threads run in three waves. Had the answer needed a second thread
    # trip, it would have queued behind the four waiting handlers: the first answer would come
    # only after all 18 calls were made.
    assert arrivals[0] < 6 * CALLS


async def test_clients_that_leave_while_queued_never_take_a_thread(
    fanout_service: RunningServer, downstream: RunningServer, idle: None
) -> None:
    async with aiohttp.ClientSession() as session:
        running = [
            asyncio.create_task(get(session, fanout_service.url("/sync_baseline"))) for _ in "ab"
        ]
        await asyncio.to_thread(wait_until, lambda: threadpool(fanout_service)["running"] == 2)

        leavers = [await _send_get(fanout_service, "/sync_baseline") for _ in range(3)]
        await asyncio.to_thread(wait_until, lambda: threadpool(fanout_service)["waiting"] == 3)
        for writer in leavers:
            writer.close()
        # Dropped while they waited: only the two running handlers are left.
        await asyncio.to_thread(wait_until, lambda: threadpool(fanout_service)["in_system"] == 2)

        assert await asyncio.gather(*running) == [200, 200]
        # Queued behind anything still waiting (tokens are handed out in order).
        assert await get(session, fanout_service.url("/sync_baseline")) == 200
    assert downstream_calls(downstream) == 3 * CALLS


async def _send_get(fanout_service: RunningServer, path: str) -> asyncio.StreamWriter:
    host, port = fanout_service.base_url.removeprefix("http://").split(":")
    _, writer = await asyncio.open_connection(host, int(port))
    writer.write(f"GET {path} HTTP/1.1\r\nHost: {host}\r\n\r\n".encode())
    await writer.drain()
    return writer


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("GET", "/sync_baseline", None),
        ("POST", "/notes/sync/", {"title": "title1", "description": "desc1"}),  # LeanRoute
        ("POST", "/api/blur/encoded/sync", {"image": "aGVsbG8="}),
    ],
)
async def test_a_full_threadpool_answers_503_at_once_past_the_budget(
    fanout_service: RunningServer, idle: None, method: str, path: str, body: dict[str, str] | None
) -> None:
    async with aiohttp.ClientSession() as session:
        # The admission learns the service time from finished handlers first.
        assert await get(session, fanout_service.url("/sync_baseline")) == 200
        running = [
            asyncio.create_task(get(session, fanout_service.url("/sync_baseline"))) for _ in "ab"
        ]
        await asyncio.to_thread(wait_until, lambda: threadpool(fanout_service)["running"] == 2)

        budget = {"X-Queue-Budget-S": "0.1"}
        async with session.request(
            method, fanout_service.url(path), json=body, headers=budget
        ) as response:
            answer = await response.json()
            assert response.status == 503, answer
            assert int(response.headers["Retry-After"]) >= 1
        # At once: the two handlers ahead of it are still running.
        assert threadpool(fanout_service)["running"] == 2
        [details] = answer["error"]["details"]
        assert answer["error"]["code"] == "overloaded"
        assert (details["resource"], details["reason"]) == ("threadpool", "expected_wait")

        # An async endpoint does not wait for a thread, so the same budget admits it.
        note = {"title": "title1", "description": "desc1"}
        async with session.post(
            fanout_service.url("/notes/"), json=note, headers=budget
        ) as response:
            assert response.status == 201
        assert await asyncio.gather(*running) == [200, 200]
    stats = threadpool(fanout_service)
    assert stats["slots"] == 2
    assert stats["shed_expected_wait"] >= 1


async def test_threads_are_the_slots(fanout_service: RunningServer) -> None:
    async with (
        aiohttp.ClientSession() as session,
        session.get(fanout_service.url("/metrics")) as answer,
    ):
        metrics = await answer.text()
    assert "perflab_threadpool_tokens_total 2.0" in metrics
    assert threadpool(fanout_service)["slots"] == 2


# In-process: the wrapped endpoint is declared, validated and documented as FastAPI's own.


class Item(BaseModel):
    name: str
    count: int


class Answer(BaseModel):
    name: str
    total: int


async def _factor() -> int:
    return 2


def build(route_class: type[APIRoute]) -> FastAPI:
    router = APIRouter(route_class=route_class)

    @router.post("/items/{item_id}")
    def post_item(item_id: int, item: Item, factor: Annotated[int, Depends(_factor)]) -> Answer:
        return Answer(name=item.name, total=item_id * item.count * factor)

    @router.get("/path")
    def path_of(request: Request, verbose: bool = False) -> dict[str, Any]:
        return {"path": request.url.path, "verbose": verbose}

    app = FastAPI()
    install_error_handlers(app)
    app.include_router(router)
    return app


def test_openapi_is_the_same_as_fastapis() -> None:
    assert build(ThreadpoolRoute).openapi() == build(APIRoute).openapi()


@pytest.mark.parametrize(
    ("method", "path", "query", "body"),
    [
        ("POST", "/items/3", "", {"name": "a", "count": 2}),
        ("POST", "/items/x", "", {"name": "a", "count": 2}),
        ("POST", "/items/3", "", {"name": "a"}),
        ("GET", "/path", "verbose=true", None),
        ("GET", "/path", "verbose=maybe", None),
    ],
)
async def test_answers_like_fastapis_own_route(
    method: str, path: str, query: str, body: dict[str, Any] | None
) -> None:
    chunks = [json.dumps(body).encode()] if body is not None else []
    headers = [("content-type", "application/json")]
    answers = [
        await call(build(route), method, path, chunks=chunks, headers=headers, query=query)
        for route in (ThreadpoolRoute, APIRoute)
    ]
    assert (answers[0].status, answers[0].json()) == (answers[1].status, answers[1].json())


validated_in: list[int] = []  # the thread that validated each `Echo` answer


class Echo(BaseModel):
    thread: int

    @field_validator("thread")
    @classmethod
    def where(cls, thread: int) -> int:
        validated_in.append(threading.get_ident())
        return thread


def echo_app(route_class: type[APIRoute]) -> FastAPI:
    router = APIRouter(route_class=route_class)

    @router.get("/echo", response_model=Echo)
    def echo() -> dict[str, int]:
        return {"thread": threading.get_ident()}  # a dict: only FastAPI's answer step validates

    app = FastAPI()
    app.include_router(router)
    return app


async def test_the_answer_is_validated_on_the_loop_not_in_a_second_thread_trip() -> None:
    loop_thread = threading.get_ident()
    answer = await call(echo_app(ThreadpoolRoute), "GET", "/echo")
    assert answer.json()["thread"] != loop_thread  # the endpoint ran in a worker thread
    assert validated_in[-1] == loop_thread
    # FastAPI's own route takes a second thread trip for it (what ThreadpoolRoute avoids).
    await call(echo_app(APIRoute), "GET", "/echo")
    assert validated_in[-1] != loop_thread


def test_a_wrapped_endpoint_is_not_wrapped_again() -> None:
    def endpoint() -> None:
        return None

    assert runs_in_threadpool(endpoint)
    assert not runs_in_threadpool(in_threadpool(endpoint))
