"""Plain `def` endpoints in the threadpool, run as a bounded resource.

FastAPI runs a `def` endpoint in anyio's default thread limiter (`PERFLAB_THREADS` tokens per
server worker). Left alone, under a long queue that goes wrong three ways (seed 004, 500 users):

- a finished handler's return value is validated and serialised in a *second* threadpool trip,
  queued behind every handler still waiting for a thread, so answers arrive late and in bursts;
- nothing bounds the queue: a request waits however long the threads are busy;
- a request whose client has left still waits, then takes a thread for nobody.

Here every `def` endpoint goes through `call_in_thread` instead:

    admit (503 at once if the expected wait or bytes exceed the budget)
      -> take a thread token; if none is free, wait for one while watching for the
         client's `http.disconnect` (a client that leaves is dropped: it never takes a thread)
      -> the endpoint runs in a worker thread, timed there (waiting for a token is queueing,
         not service, and would teach the admission a wrong service time)
      -> the answer is built back on the loop: no second trip.

The tokens are the default limiter's, whose size is the admission's `slots`
(`threadpool_admission` sets both from `settings.threads`), so FastAPI's own uses of the
threadpool (a `def` dependency, file uploads) share the same threads. A thread already running
cannot be cancelled; a wait for a token can.

Declaring a route on `APIRouter(route_class=ThreadpoolRoute)` is all a `def` endpoint needs:
the route wraps it in an `async def` that calls `call_in_thread`, so FastAPI treats it as a
coroutine (its response-model step runs on the loop) while the endpoint itself still runs in a
thread. `LeanRoute` calls `call_in_thread` from its own handler. An app that registered no
"threadpool" admission (a bare test app) gets the same thread handling without admission.

Usage:
    resources.admissions[RESOURCE] = threadpool_admission(settings)   # in the lifespan
    router = APIRouter(route_class=ThreadpoolRoute)                   # def endpoints on it
"""

from __future__ import annotations

import functools
import inspect
import math
import time
from collections.abc import Callable, Coroutine
from typing import Any

import anyio
import anyio.to_thread
from fastapi import Request
from fastapi.dependencies.utils import get_typed_signature
from fastapi.routing import APIRoute
from starlette.types import Receive

from perflab.app.admission import Admission
from perflab.app.content_types import declared_length
from perflab.app.errors import ClientDisconnected
from perflab.config import Settings

RESOURCE = "threadpool"

# The name under which a wrapped endpoint that declares no `Request` of its own gets one from
# FastAPI (to find the admission and the client's disconnect); never passed to the endpoint.
_REQUEST_PARAM = "_threadpool_request"

# The thread itself is started under this limiter: the real token, from the default limiter, is
# taken beforehand by `call_in_thread` (so it can watch the client while it waits, and mark the
# ticket started), and must not be taken twice. Created outside any loop, anyio binds it lazily;
# with no limit it never waits, so one instance serves every loop.
_ALREADY_LIMITED = anyio.CapacityLimiter(math.inf)


class ThreadpoolAdmission(Admission):
    """The admission of one worker's threadpool, holding the loop's default thread limiter
    (looking it up costs ~3 us a request, more than the rest of the admission)."""

    def __init__(self, settings: Settings) -> None:
        super().__init__(
            RESOURCE, settings.threads, settings.queue_budget_s, settings.queue_memory_bytes()
        )
        self.limiter = anyio.to_thread.current_default_thread_limiter()
        self.limiter.total_tokens = self.slots  # the tokens are the slots


def threadpool_admission(settings: Settings) -> ThreadpoolAdmission:
    """This worker's admission to the threadpool; call it in the lifespan (in the loop that
    serves the requests: the default limiter is per loop).

    Usage: `resources.admissions[RESOURCE] = threadpool_admission(settings)`
    """
    return ThreadpoolAdmission(settings)


def _admission_of(request: Request) -> ThreadpoolAdmission | None:
    resources = getattr(request.app.state, "resources", None)
    found = None if resources is None else resources.admissions.get(RESOURCE)
    return found if isinstance(found, ThreadpoolAdmission) else None


class _Timed:
    """The endpoint call, timed in the thread that runs it (also when it raises)."""

    __slots__ = ("call", "service_s", "values")

    def __init__(self, call: Callable[..., Any], values: dict[str, Any]) -> None:
        self.call = call
        self.values = values
        self.service_s: float | None = None

    def __call__(self) -> Any:
        started = time.perf_counter()
        try:
            return self.call(**self.values)
        finally:
            self.service_s = time.perf_counter() - started


async def call_in_thread(request: Request, call: Callable[..., Any], values: dict[str, Any]) -> Any:
    """`call(**values)` in a worker thread, admitted by the app's threadpool admission.

    Raises `Overloaded` (503) when the expected wait or the request's declared bytes exceed the
    budget, and `ClientDisconnected` (499, read by nobody) when the client leaves while the
    request waits for a thread.
    """
    admission = _admission_of(request)
    ticket = None
    if admission is None:
        limiter = anyio.to_thread.current_default_thread_limiter()
    else:
        limiter = admission.limiter
        # The body (already read by now) is what a waiting request holds.
        ticket = admission.admit(cost_bytes=declared_length(request) or 0)
    timed = _Timed(call, values)
    try:
        borrower = object()
        try:
            # A free token is taken without a yield or a watcher: the common case costs nothing.
            limiter.acquire_on_behalf_of_nowait(borrower)
        except anyio.WouldBlock:
            await _wait_for_token(limiter, borrower, request.receive)
        try:
            if ticket is not None:
                ticket.start()
            return await anyio.to_thread.run_sync(timed, limiter=_ALREADY_LIMITED)
        finally:
            limiter.release_on_behalf_of(borrower)
    finally:
        if ticket is not None:
            # Learn only from a call that ran: a dropped request says nothing about the threads.
            ticket.close(service_s=timed.service_s, learn=timed.service_s is not None)


async def _wait_for_token(
    limiter: anyio.CapacityLimiter, borrower: object, receive: Receive
) -> None:
    """Wait for a token for `borrower`, or raise `ClientDisconnected` if the client leaves first
    (then no token is held)."""
    left = held = False
    async with anyio.create_task_group() as group:

        async def watch() -> None:
            nonlocal left
            if await _client_left(receive):
                left = True
                group.cancel_scope.cancel()

        group.start_soon(watch)
        await limiter.acquire_on_behalf_of(borrower)  # cancelled when the client leaves
        held = True
        group.cancel_scope.cancel()
    if left:
        if held:  # the token came in the same instant the client left: hand it on
            limiter.release_on_behalf_of(borrower)
        raise ClientDisconnected("the client left while its request waited for a thread")


async def _client_left(receive: Receive) -> bool:
    """Read the request's messages until the client disconnects (True).

    The body of a `def` endpoint is read before it is called (or never: a thread cannot await
    it), so any `http.request` message left is dropped. uvicorn and granian both answer
    `receive()` after the body only when the connection is lost, with `http.disconnect`.
    """
    try:
        while (await receive())["type"] != "http.disconnect":
            pass
    except Exception:
        # A receive wrapper that refuses the rest of the body (e.g. the body limit) ends the
        # watch, not the request: the endpoint never reads that body.
        return False
    return True


def runs_in_threadpool(endpoint: Callable[..., Any]) -> bool:
    """Whether FastAPI would run `endpoint` in its threadpool: a plain (not async, not
    generator) function or method. Like FastAPI, it looks at the endpoint and at what it
    wraps, so an endpoint already wrapped by `in_threadpool` (a coroutine function) is not
    wrapped twice."""
    calls = (endpoint, inspect.unwrap(endpoint))
    return inspect.isroutine(endpoint) and not any(
        inspect.iscoroutinefunction(call)
        or inspect.isgeneratorfunction(call)
        or inspect.isasyncgenfunction(call)
        for call in calls
    )


def in_threadpool(endpoint: Callable[..., Any]) -> Callable[..., Coroutine[Any, Any, Any]]:
    """`endpoint` as an `async def` that runs it through `call_in_thread`.

    FastAPI reads the wrapper's parameters from the endpoint (through `__wrapped__`, with the
    endpoint's own globals for its annotations), so declaration, validation and OpenAPI are
    unchanged. The wrapper needs the request: it uses the endpoint's own `Request` parameter,
    or declares a hidden one (FastAPI fills at most one `Request` parameter per endpoint).
    """
    own = next(
        (
            p.name
            for p in get_typed_signature(endpoint).parameters.values()
            if inspect.isclass(p.annotation) and issubclass(p.annotation, Request)
        ),
        None,
    )
    name = own or _REQUEST_PARAM

    @functools.wraps(endpoint)
    async def endpoint_in_thread(**values: Any) -> Any:
        request = values[name] if own else values.pop(name)
        return await call_in_thread(request, endpoint, values)

    if own is None:
        signature = inspect.signature(endpoint)
        params = list(signature.parameters.values())
        hidden = inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, annotation=Request)
        at = len(params) - (params[-1].kind is inspect.Parameter.VAR_KEYWORD if params else 0)
        params.insert(at, hidden)
        # inspect.signature (and so FastAPI) stops unwrapping at an explicit __signature__.
        # (ignore: a function takes any attribute; mypy knows only the declared ones)
        endpoint_in_thread.__signature__ = signature.replace(parameters=params)  # type: ignore[attr-defined]
    return endpoint_in_thread


class ThreadpoolRoute(APIRoute):
    """An `APIRoute` whose plain `def` endpoint runs through `call_in_thread` (module docstring);
    `async def` endpoints are left as they are."""

    def __init__(self, path: str, endpoint: Callable[..., Any], **kwargs: Any) -> None:
        if runs_in_threadpool(endpoint):
            endpoint = in_threadpool(endpoint)
        super().__init__(path, endpoint, **kwargs)
