"""`perflab locust-worker`: attach locust workers running perflab's locustfile to a master.

The master (`perflab bench --engine locust`, or ``locust -f $(python -m perflab.locust)
--master ...``) sends the workers the cell's load; a worker needs only this command, the
master's address and the same perflab and locust versions (docs/locust.md).

Usage::

    perflab locust-worker --master-host 10.0.0.4                 # one worker process
    perflab locust-worker --master-host 10.0.0.4 --processes 4   # four, one per core
"""

from __future__ import annotations

import os
import sys
from typing import Annotated

import typer


def locust_worker(
    master_host: Annotated[
        str, typer.Option(help="The locust master's address (its --master-bind-host).")
    ] = "127.0.0.1",
    master_port: Annotated[
        int, typer.Option(help="The master's port (its --master-bind-port).")
    ] = 5557,
    processes: Annotated[
        int,
        typer.Option(min=1, help="Worker processes on this machine (locust --processes)."),
    ] = 1,
) -> None:
    """Run locust worker(s) with perflab's locustfile until the master ends the run."""
    from importlib.util import find_spec

    from perflab.locust import locustfile_path

    if find_spec("locust") is None:
        typer.echo("perflab locust-worker: locust is not installed: pip install 'perflab[locust]'")
        raise typer.Exit(2)
    argv = [sys.executable, "-m", "locust", "-f", str(locustfile_path()), "--worker"]
    argv += ["--master-host", master_host, "--master-port", str(master_port)]
    if processes > 1:
        argv += ["--processes", str(processes)]
    sys.stdout.flush()
    os.execv(sys.executable, argv)  # locust itself from here on: its signals, its exit code
