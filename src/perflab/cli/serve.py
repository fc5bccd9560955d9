"""`perflab serve`: every study endpoint, on uvicorn or granian, settings from flags and
PERFLAB_* variables.

Usage: ``perflab serve --workers 2 --offload process``
"""

from __future__ import annotations

from typing import Annotated

import typer

from perflab.config import DownstreamKind, OffloadKind, ServerKind


def serve(
    host: Annotated[str | None, typer.Option(help="Address to bind [PERFLAB_HOST].")] = None,
    port: Annotated[int | None, typer.Option(help="Port [PERFLAB_PORT].")] = None,
    workers: Annotated[
        int | None, typer.Option(help="Server worker processes [PERFLAB_WORKERS].")
    ] = None,
    server: Annotated[ServerKind | None, typer.Option(help="ASGI server [PERFLAB_SERVER].")] = None,
    offload: Annotated[
        OffloadKind | None,
        typer.Option(help="How CPU work leaves the event loop [PERFLAB_OFFLOAD]."),
    ] = None,
    threads: Annotated[
        int | None, typer.Option(help="Threads for `def` endpoints [PERFLAB_THREADS].")
    ] = None,
    downstream: Annotated[
        DownstreamKind | None,
        typer.Option(help="Fanout downstream: simulated or real HTTP [PERFLAB_DOWNSTREAM]."),
    ] = None,
) -> None:
    """Serve every study endpoint. Options left out come from PERFLAB_* variables or defaults."""
    from perflab.config import Settings
    from perflab.limits import raise_open_files_limit
    from perflab.serving import run_server

    raise_open_files_limit()  # each connection is a file; server workers inherit the limit

    given = {
        "host": host,
        "port": port,
        "workers": workers,
        "server": server,
        "offload": offload,
        "threads": threads,
        "downstream": downstream,
    }
    settings = Settings.model_validate({k: v for k, v in given.items() if v is not None})
    run_server(settings)
