"""`GET /diag/cpu`: a CPU-bound request through the configured offloader."""

# No `from __future__ import annotations`: the endpoint's parameter type is built in
# `make_router`, and FastAPI can only resolve a string annotation against module globals.

from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel

from perflab.app.deps import OffloaderDep
from perflab.app.diag.service import burn_cpu
from perflab.app.error_handlers import error_responses


class CpuBurn(BaseModel):
    work_ms: int
    iterations: int
    pid: int


def make_router(max_work_ms: int) -> APIRouter:
    """The diagnostics router; `work_ms` is bounded by `max_work_ms` (PERFLAB_DIAG_MAX_WORK_MS).

    Built per app so the bound is stated in the OpenAPI schema (`maximum`) as well as enforced
    (422 above it): a client reads the limit instead of discovering it.

    Usage: `app.include_router(make_router(settings.diag_max_work_ms))`
    """
    router = APIRouter(tags=["diagnostics"])
    bound = Query(ge=0, le=max_work_ms, description="CPU time to burn, in ms")
    default_ms = min(100, max_work_ms)  # the default itself must be within the bound

    @router.get(
        "/diag/cpu",
        summary="Burn CPU in pure Python through the offloader",
        response_model=CpuBurn,
        responses=error_responses(422, 500, 503, 504),
    )
    async def cpu(offloader: OffloaderDep, work_ms: Annotated[int, bound] = default_ms) -> CpuBurn:
        """Shows whether CPU work blocks the event loop: watch `perflab_event_loop_lag_seconds`."""
        return CpuBurn(**await offloader.run(burn_cpu, work_ms))

    return router
