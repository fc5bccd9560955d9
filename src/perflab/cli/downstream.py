"""`perflab downstream`: the slow downstream HTTP service of the fanout study.

Usage: ``perflab downstream --port 8001 --latency-s 5``
"""

from __future__ import annotations

from typing import Annotated

import typer


def downstream(
    host: Annotated[str, typer.Option(help="Address to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port.")] = 8001,
    latency_s: Annotated[float, typer.Option(help="Seconds each call takes.")] = 5.0,
) -> None:
    """Run a slow downstream HTTP service for the fanout study (PERFLAB_DOWNSTREAM=http)."""
    from perflab.downstream import run_downstream
    from perflab.limits import raise_open_files_limit

    raise_open_files_limit()  # it holds a connection per simultaneous call
    run_downstream(host, port, latency_s)
