"""`perflab worker`: serve the queue offloader's jobs from Redis, on any machine.

Usage: ``perflab worker --redis redis://127.0.0.1:6379/0 --processes 2``
"""

from __future__ import annotations

from typing import Annotated

import typer


def worker(
    redis: Annotated[str | None, typer.Option(help="Redis URL [PERFLAB_REDIS_URL].")] = None,
    processes: Annotated[int, typer.Option(min=0, help="Worker processes; 0: one per core.")] = 0,
    kernels: Annotated[
        list[str] | None,
        typer.Option(help="Kernels to serve, repeated or comma-separated; default: all."),
    ] = None,
    namespace: Annotated[
        str | None, typer.Option(help="Queue namespace [PERFLAB_QUEUE_NAMESPACE].")
    ] = None,
) -> None:
    """Serve the queue offloader's jobs (PERFLAB_OFFLOAD=queue) from Redis, on any machine.
    Other settings (visibility timeout, batch size, ...) come from PERFLAB_* variables."""
    import os

    from perflab.app.offload import kernels as registry
    from perflab.app.offload.worker import run_worker
    from perflab.config import Settings

    given = {"redis_url": redis, "queue_namespace": namespace}
    settings = Settings.model_validate({k: v for k, v in given.items() if v is not None})
    names = [name.strip() for item in kernels or () for name in item.split(",") if name.strip()]
    unknown = sorted(set(names) - set(registry.names()))
    if unknown:
        raise typer.BadParameter(
            f"unknown kernel(s) {', '.join(unknown)}; registered: {', '.join(registry.names())}",
            param_hint="--kernels",
        )
    count = processes or os.cpu_count() or 1
    raise typer.Exit(run_worker(settings, names or list(registry.names()), count))
