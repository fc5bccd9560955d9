"""The `perflab` command: serve, downstream, and the lab's commands."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

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
    from perflab.serving import run_server

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

    run_downstream(host, port, latency_s)


# lab commands register here
from perflab.loadgen.command import load  # noqa: E402  (registered after the app exists)

app.command("load")(load)


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
