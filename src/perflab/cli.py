"""The `perflab` command: serve, downstream, and the lab's commands."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Annotated, Any

import typer

from perflab.config import DownstreamKind, OffloadKind, ServerKind

app = typer.Typer(
    name="perflab",
    help="A FastAPI service and a load lab: run CPU, database, big-body and slow-downstream "
    "work under load, and prove how it behaves.",
    no_args_is_help=True,
    add_completion=False,
)


@app.command()
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


@app.command()
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


@app.command()
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


# lab commands register here
from perflab.loadgen.command import load  # noqa: E402  (registered after the app exists)


@functools.wraps(load)
def _load(*args: Any, **kwargs: Any) -> None:
    from perflab.limits import raise_open_files_limit

    raise_open_files_limit()  # a connection per user: 10,000 users are 10,000 files
    load(*args, **kwargs)


app.command("load")(_load)


@app.command("load-large-body")
def load_large_body(
    base_url: Annotated[str, typer.Argument(help="The service, e.g. http://127.0.0.1:8000")],
    path: Annotated[str, typer.Option(help="Endpoint to send both streams to.")] = "/pong",
    duration: Annotated[float, typer.Option(help="Seconds of load.")] = 60.0,
    small_rate: Annotated[float, typer.Option(help="Small (~1 KB) bodies per second.")] = 10.0,
    large_rate: Annotated[float, typer.Option(help="Large (~26 MB) bodies per second.")] = 1.0,
    json_path: Annotated[
        Path | None, typer.Option("--json", help="Write the full recording here.")
    ] = None,
) -> None:
    """Seed 003's mixed load: small and 25 MB JSON bodies from separate processes, each on
    its own fixed-rate schedule; small and large latencies reported separately."""
    from perflab.loadgen import run_streams
    from perflab.loadgen.large_body import large_body_streams
    from perflab.loadgen.output import render, write_json

    streams = large_body_streams(
        base_url,
        path,
        duration_s=duration,
        small_rate_per_s=small_rate,
        large_rate_per_s=large_rate,
    )
    recording = run_streams(streams)
    typer.echo(render(recording, "table"))
    if json_path is not None:
        write_json(recording, json_path)


from perflab.bench.command import bench  # noqa: E402  (registered after the app exists)

app.command("bench")(bench)

from perflab.bench.compare_command import compare  # noqa: E402  (registered after the app exists)

app.command("compare")(compare)

from perflab.report.command import report  # noqa: E402  (registered after the app exists)

app.command("report")(report)
