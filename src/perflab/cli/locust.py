"""`perflab locust-worker`: attach locust workers running perflab's locustfile to a master.

The master (`perflab bench --engine locust`, or ``locust -f $(python -m perflab.locust)
--master ...``) sends the workers the cell's load; a worker needs only this command, the
master's address and the same perflab and locust versions (docs/locust.md).

Also `bench_driver`: what `perflab bench --engine locust --locust-workers N` measures with.

Usage::

    perflab locust-worker --master-host 10.0.0.4                 # one worker process
    perflab locust-worker --master-host 10.0.0.4 --processes 4   # four, one per core
"""

from __future__ import annotations

import os
import sys
from importlib.util import find_spec
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from perflab.bench.measure import LoadDriver

LOCUST_MASTER_PORT = 5557  # locust's own default: what remote workers connect to


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


def bench_driver(
    engine: str, workers: int, remote_workers: int, out_dir: Path, find_knee: bool
) -> LoadDriver | None:
    """What `perflab bench --engine ENGINE` measures with: None for perflab's own engine, a
    `LocustDriver` (master and workers per cell, their files under OUT/locust/) for locust.
    Raises typer.BadParameter on what cannot run. Usage: see `perflab.cli.bench`."""
    if engine == "perflab":
        return None
    if engine != "locust":
        raise typer.BadParameter(f"--engine {engine!r}: choose perflab or locust")
    if find_knee:
        raise typer.BadParameter("--find-knee drives perflab's own engine; drop --engine locust")
    if workers + remote_workers < 1:
        raise typer.BadParameter("--engine locust needs --locust-workers or remote workers")
    if find_spec("locust") is None:
        raise typer.BadParameter("locust is not installed: pip install 'perflab[locust]'")
    from perflab.locust.driver import LocustDriver

    return LocustDriver(
        workers,
        work_dir=out_dir / "locust",
        remote_workers=remote_workers,
        port=LOCUST_MASTER_PORT if remote_workers else None,
    )
