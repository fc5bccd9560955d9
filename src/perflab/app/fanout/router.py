"""Seed 004's four endpoints, side by side: only the arrangement of the three calls differs."""

from __future__ import annotations

import time
from typing import Annotated

from fastapi import APIRouter, Depends, Request

from perflab.app.deps import resources_of
from perflab.app.error_handlers import error_responses
from perflab.app.fanout import service
from perflab.app.fanout.clients import FanoutClients
from perflab.app.fanout.schemas import FanoutAnswer
from perflab.app.threadpool import ThreadpoolRoute

# ThreadpoolRoute: the `def` variant is admitted to the threadpool by expected wait, answers
# without a second thread trip, and is dropped if its client leaves while it waits.
router = APIRouter(tags=["fanout (seed 004)"], route_class=ThreadpoolRoute)
_ERRORS = error_responses(502, 503, 504)


async def get_clients(request: Request) -> FanoutClients:
    # async: a plain `def` dependency would cost a threadpool round trip per request.
    clients = resources_of(request).extras["fanout"]
    assert isinstance(clients, FanoutClients)
    return clients


ClientsDep = Annotated[FanoutClients, Depends(get_clients)]


def _answer(name: str, results: list[int], started_s: float) -> FanoutAnswer:
    return FanoutAnswer(
        message=f"{name}: 3 downstream calls -> {results}",
        results=results,
        elapsed_s=round(time.perf_counter() - started_s, 6),
    )


@router.get("/sync_baseline", summary="Three blocking calls in a worker thread", responses=_ERRORS)
def sync_baseline(clients: ClientsDep) -> FanoutAnswer:
    """Plain `def`: it runs in the threadpool, so concurrency is capped by its threads (the
    seed's mistake, kept on purpose); past the queue budget the threadpool answers 503."""
    started = time.perf_counter()
    return _answer("sync_baseline", service.sync_baseline(clients.sync_downstream), started)


@router.get("/async_independent", summary="Three awaited calls in sequence", responses=_ERRORS)
async def async_independent(clients: ClientsDep) -> FanoutAnswer:
    started = time.perf_counter()
    results = await service.independent(clients.async_downstream)
    return _answer("async_independent", results, started)


@router.get("/async_dependent", summary="Each call takes the previous result", responses=_ERRORS)
async def async_dependent(clients: ClientsDep) -> FanoutAnswer:
    started = time.perf_counter()
    results = await service.dependent(clients.async_downstream)
    return _answer("async_dependent", results, started)


@router.get("/async_concurrent", summary="All three calls at once, bounded", responses=_ERRORS)
async def async_concurrent(clients: ClientsDep) -> FanoutAnswer:
    started = time.perf_counter()
    results = await service.concurrent(clients.async_downstream)
    return _answer("async_concurrent", results, started)
