"""Operational endpoints: `/healthz` (liveness + readiness) and `/metrics` (Prometheus)."""

from __future__ import annotations

import os
from typing import Any

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse, PlainTextResponse
from pydantic import BaseModel

from perflab import __version__
from perflab.app.deps import ResourcesDep
from perflab.app.error_handlers import RETRY_AFTER_HEADER
from perflab.app.observe import metrics_payload

router = APIRouter(tags=["operations"])


class ServiceState(BaseModel):
    ok: bool
    detail: str


class Health(BaseModel):
    status: str
    ready: bool
    version: str
    pid: int
    offload: dict[str, Any]
    # Per bounded resource: slots, jobs in the system, expected wait, budget, shed counts.
    admission: dict[str, dict[str, Any]]
    loop_lag_max_s: float
    services: dict[str, ServiceState]


@router.get(
    "/healthz",
    summary="Liveness and readiness",
    response_model=Health,
    responses={
        503: {
            "model": Health,
            "description": "Alive but not ready: a service is down.",
            "headers": RETRY_AFTER_HEADER,
        }
    },
)
async def healthz(resources: ResourcesDep) -> JSONResponse:
    """200 when every configured backing service answers; 503 (same body) when one does not."""
    ready = resources.health.ready()
    body = Health(
        status="ok" if ready else "unavailable",
        ready=ready,
        version=__version__,
        pid=os.getpid(),
        offload=resources.offloader.stats().as_dict(),
        admission={name: a.stats().as_dict() for name, a in resources.admissions.items()},
        loop_lag_max_s=round(resources.monitor.recent_max_s, 6),
        services={
            name: ServiceState(ok=result.ok, detail=result.detail)
            for name, result in resources.health.results.items()
        },
    )
    headers = {} if ready else {"Retry-After": "1"}
    return JSONResponse(body.model_dump(), status_code=200 if ready else 503, headers=headers)


_METRICS_TEXT: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "The Prometheus text exposition format.",
        "content": {"text/plain": {"schema": {"type": "string"}}},
    }
}


@router.get(
    "/metrics",
    summary="Prometheus metrics of every server worker",
    response_class=PlainTextResponse,
    responses=_METRICS_TEXT,
)
async def metrics() -> Response:
    payload, content_type = metrics_payload()
    return Response(payload, media_type=content_type)
