"""`GET /diag/cpu`: a CPU-bound request through the configured offloader."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel

from perflab.app.deps import OffloaderDep, SettingsDep
from perflab.app.diag.service import burn_cpu
from perflab.app.error_handlers import error_responses
from perflab.app.errors import Unprocessable

router = APIRouter(tags=["diagnostics"])


class CpuBurn(BaseModel):
    work_ms: int
    iterations: int
    pid: int


@router.get(
    "/diag/cpu",
    summary="Burn CPU in pure Python through the offloader",
    response_model=CpuBurn,
    responses=error_responses(422, 503),
)
async def cpu(
    offloader: OffloaderDep,
    settings: SettingsDep,
    work_ms: Annotated[int, Query(ge=0, description="CPU time to burn, in ms")] = 100,
) -> CpuBurn:
    """Shows whether CPU work blocks the event loop: watch `perflab_event_loop_lag_seconds`."""
    if work_ms > settings.diag_max_work_ms:
        raise Unprocessable(f"work_ms must be at most {settings.diag_max_work_ms}")
    return CpuBurn(**await offloader.run(burn_cpu, work_ms))
