"""FastAPI dependencies that hand endpoints what the lifespan opened (no globals).

They are `async def` on purpose: FastAPI runs a plain `def` dependency in the threadpool, a
thread round trip per request for an attribute lookup.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated

from fastapi import Depends, Request

from perflab.app.admission import Admission
from perflab.app.health import HealthChecks
from perflab.app.observe import LoopLagMonitor
from perflab.app.offload import Offloader
from perflab.config import Settings


@dataclass
class Resources:
    """What one server worker holds open while it runs; stored on `app.state.resources`."""

    settings: Settings
    offloader: Offloader
    health: HealthChecks
    monitor: LoopLagMonitor
    extras: dict[str, object] = field(default_factory=dict)
    # Every bounded resource of this worker, by name: shown in /healthz and /metrics.
    admissions: dict[str, Admission] = field(default_factory=dict)


def resources_of(request: Request) -> Resources:
    """What the lifespan opened, for handlers that look it up themselves (no dependency)."""
    resources: Resources = request.app.state.resources
    return resources


async def get_resources(request: Request) -> Resources:
    return resources_of(request)


async def get_offloader(request: Request) -> Offloader:
    return resources_of(request).offloader


async def get_settings(request: Request) -> Settings:
    return resources_of(request).settings


ResourcesDep = Annotated[Resources, Depends(get_resources)]
OffloaderDep = Annotated[Offloader, Depends(get_offloader)]
SettingsDep = Annotated[Settings, Depends(get_settings)]
