"""`LeanRoute`: a FastAPI route class for endpoints whose whole cost is a few hundred
microseconds, where FastAPI's general request handling is a large share of it.

A route declared with `APIRouter(route_class=LeanRoute)` is declared, matched, documented in
OpenAPI and answered on error exactly like any FastAPI route; only the per-request handling of
a matched request is replaced (`handle`, which FastAPI calls for every matched route). FastAPI's
handler is general: it parses the content type with `email.message`, decodes JSON with the
standard library and validates the result again, solves a dependency graph, and keeps
telemetry and error context per request. For the parameters these endpoints use, all of that
is known when the route is built, so the lean handler does only the per-request part:

- a pydantic model body: `Model.model_validate_json(raw bytes)` (one pass, in Rust);
- scalar path and query parameters declared `Annotated[T, Path(...)]` / `Query(...)`, without
  an alias: one pydantic `TypeAdapter` each, built once;
- `Request`.

Validation failures raise FastAPI's `RequestValidationError` with FastAPI's error locations
(`("body", "title")`, `("path", "note_id")`, ...), so the app's handler answers them as it does
for every other route. A body declared as anything but JSON is refused with 415; a request with
no content type is read as JSON. `async def` endpoints run on the loop, plain `def` ones in the
threadpool through the same code as every `ThreadpoolRoute` (perflab.app.threadpool: admitted
by expected wait, dropped if the client leaves while waiting). Anything else in a signature
(dependencies, headers, forms, cookies) is refused when the route is built, not discovered at
request time. Settings that FastAPI 0.165 only applies per request, dependencies or a body
limit given to `include_router` or `FastAPI(...)`, send the request through FastAPI's own
handler, so they still hold. An endpoint must return a `Response`: there is no response-model
serialisation step to skip to.
A client that leaves mid-body gets 499 (nobody reads it), never a logged 500.

Measured in docs/notes.md: this handler is what separates FastAPI from bare Starlette on
`POST /notes/`.

Usage: `router = APIRouter(prefix="/notes", route_class=LeanRoute)`, then `@router.post(...)`
as usual.
"""

from __future__ import annotations

import inspect
import typing
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any

from fastapi import Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.params import Path, Query
from fastapi.routing import _get_scope_effective_route_context
from pydantic import BaseModel, TypeAdapter, ValidationError
from starlette.requests import ClientDisconnect
from starlette.types import Receive, Scope, Send

from perflab.app.content_types import check_json
from perflab.app.errors import ClientDisconnected
from perflab.app.threadpool import ThreadpoolRoute, call_in_thread

Handler = Callable[[Request], Coroutine[Any, Any, Response]]
_NO_DEFAULT = inspect.Parameter.empty
_SCALARS = (int, float, str, bool)


@dataclass(frozen=True)
class _Param:
    """One path or query parameter: where it comes from and how it is validated."""

    name: str
    source: str  # "path" or "query"
    adapter: TypeAdapter[Any]
    default: Any  # _NO_DEFAULT: required

    def read(self, request: Request, errors: list[Any]) -> Any:
        raw = (
            request.path_params.get(self.name)
            if self.source == "path"
            else request.query_params.get(self.name)
        )
        if raw is None:
            if self.default is not _NO_DEFAULT:
                return self.default
            errors.append(_error("missing", (self.source, self.name), "Field required", None))
            return None
        try:
            return self.adapter.validate_python(raw)
        except ValidationError as error:
            errors.extend(_located(error, (self.source, self.name)))
            return None


@dataclass(frozen=True)
class _Plan:
    """What a request must supply to the endpoint, worked out once from its signature."""

    params: tuple[_Param, ...]
    body_name: str | None
    body_model: type[BaseModel] | None
    request_name: str | None

    @classmethod
    def of(cls, endpoint: Callable[..., Any]) -> _Plan:
        hints = typing.get_type_hints(endpoint, include_extras=True)
        params: list[_Param] = []
        body_name = body_model = request_name = None
        for parameter in inspect.signature(endpoint).parameters.values():
            hint = hints.get(parameter.name, object)  # unannotated: refused below
            bare = typing.get_args(hint)[0] if typing.get_origin(hint) is typing.Annotated else hint
            found = _source(hint)
            if bare is Request:
                request_name = parameter.name
            elif found is not None and _plain_param(found, parameter.name, bare):
                params.append(
                    _Param(parameter.name, found[0], TypeAdapter(hint), parameter.default)
                )
            elif inspect.isclass(bare) and issubclass(bare, BaseModel) and body_model is None:
                body_name, body_model = parameter.name, bare
            else:
                raise TypeError(
                    f"LeanRoute endpoint {endpoint.__qualname__}: parameter {parameter.name!r} "
                    "must be a Request, one pydantic model body, or a scalar (int, float, str, "
                    "bool) Annotated with Path/Query and no alias"
                )
        return cls(tuple(params), body_name, body_model, request_name)


def _source(hint: Any) -> tuple[str, Path | Query] | None:
    """("path" or "query", the declaration) for `Annotated[T, Path(...)]` / `Query(...)`."""
    if typing.get_origin(hint) is not typing.Annotated:
        return None
    for extra in typing.get_args(hint)[1:]:
        if isinstance(extra, Path):
            return "path", extra
        if isinstance(extra, Query):
            return "query", extra
    return None


def _plain_param(found: tuple[str, Path | Query], name: str, bare: Any) -> bool:
    """Whether the lean handler reads this parameter as FastAPI would: a single value (a list
    would need every repeated query key) looked up by its own name (no alias)."""
    _, declared = found
    return bare in _SCALARS and all(
        alias in (None, name) for alias in (declared.alias, declared.validation_alias)
    )


def _error(kind: str, loc: tuple[Any, ...], msg: str, value: Any) -> dict[str, Any]:
    return {"type": kind, "loc": loc, "msg": msg, "input": value}


def _located(error: ValidationError, prefix: tuple[Any, ...]) -> list[Any]:
    return [
        {**e, "loc": prefix + tuple(e["loc"])}
        for e in error.errors(include_url=False, include_context=False)
    ]


class LeanRoute(ThreadpoolRoute):
    """An `APIRoute` whose per-request handler is `lean_handler` (see the module docstring)."""

    def __init__(self, path: str, endpoint: Callable[..., Any], **kwargs: Any) -> None:
        self._plan = _Plan.of(endpoint)  # first: the base class asks for the handler
        self._handler = lean_handler(endpoint, self._plan)
        super().__init__(path, endpoint, **kwargs)
        if self.dependant.dependencies:
            raise TypeError(f"LeanRoute {path}: dependencies are not supported")

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Answer a matched request straight from the lean handler.

        FastAPI would wrap the handler per request in `request_response`: two `AsyncExitStack`s
        for dependencies with `yield` (refused here) and a second exception-handler layer (the
        app's `ExceptionMiddleware` answers the same exceptions with the same handlers).

        FastAPI's own handling (`get_route_handler` is left as FastAPI's) answers instead when
        the request is not one the lean handler may take: a method this route does not take
        (405), or a route included with settings of its own (`include_router(...,
        dependencies=..., max_body_size=...)`, `FastAPI(dependencies=...)`), which FastAPI
        applies only per request and the lean handler would skip.
        """
        if (self.methods and scope["method"] not in self.methods) or _has_include_settings(
            _get_scope_effective_route_context(scope)
        ):
            await super().handle(scope, receive, send)
            return
        request = Request(scope, receive, send)
        response = await self._handler(request)
        await response(scope, receive, send)


def _has_include_settings(context: Any) -> bool:
    """Whether FastAPI's effective context for this request carries dependencies or a body
    limit from an `include_router` / `FastAPI(...)` (known only per request in FastAPI 0.165)."""
    if context is None:
        return False
    return bool(getattr(context, "dependencies", None)) or (
        getattr(context, "max_body_size", None) is not None
    )


def lean_handler(endpoint: Callable[..., Any], plan: _Plan) -> Handler:
    """The per-request handler: validate what `plan` names, call `endpoint`, return its answer."""
    is_async = inspect.iscoroutinefunction(endpoint)

    async def handle(request: Request) -> Response:
        errors: list[Any] = []
        values = {param.name: param.read(request, errors) for param in plan.params}
        if plan.body_model is not None and plan.body_name is not None:
            values[plan.body_name] = await _read_body(request, plan.body_model, errors)
        if errors:
            raise RequestValidationError(errors)
        if plan.request_name is not None:
            values[plan.request_name] = request
        if is_async:
            response = await endpoint(**values)
        else:
            response = await call_in_thread(request, endpoint, values)
        if not isinstance(response, Response):
            raise TypeError(f"LeanRoute endpoint {endpoint.__qualname__} must return a Response")
        return response

    return handle


async def _read_body(request: Request, model: type[BaseModel], errors: list[Any]) -> Any:
    check_json(request)
    try:
        body = await request.body()
    except ClientDisconnect:
        raise ClientDisconnected("the client left before sending the whole body") from None
    if not body:
        errors.append(_error("missing", ("body",), "Field required", None))
        return None
    try:
        return model.model_validate_json(body)
    except ValidationError as error:
        errors.extend(_located(error, ("body",)))
        return None
