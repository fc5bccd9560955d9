"""`perflab load` and `perflab load-large-body`: the command line over `perflab.loadgen`.

Usage::

    perflab load http://127.0.0.1:8000/ -n 10000 -c 10 --format ab
    perflab load http://127.0.0.1:8000/ --users 200 --spawn-rate 20 --duration 60s --think 1-5
    perflab load http://127.0.0.1:8000/ping --rate 2000 --duration 30s --json-body @ping.json
    perflab load --scenario classify.toml --users 200 --duration 2m --format locust --csv out/run
    perflab load-large-body http://127.0.0.1:8000 --path /pong --duration 60
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from perflab.limits import raise_open_files_limit
from perflab.loadgen.errors import LoadgenError
from perflab.loadgen.large_body import large_body_streams
from perflab.loadgen.models import Closed, LoadModel, Open, Users
from perflab.loadgen.options import parse_duration_s, parse_think_s, specs_from_options
from perflab.loadgen.output import OutputFormat, render, write_json
from perflab.loadgen.output_locust import write_csv
from perflab.loadgen.progress import live_progress
from perflab.loadgen.runner import run, run_streams
from perflab.loadgen.scenario import load_scenario


def build_model(options: dict[str, Any]) -> LoadModel | None:
    """A load model from CLI-style options (None if none is named). Usage: see `load`."""
    named = [k for k in ("requests", "users", "rate") if options.get(k) is not None]
    if len(named) > 1:
        flags = {"requests": "-n", "users": "--users", "rate": "--rate"}
        raise LoadgenError(f"choose one load model, not {' and '.join(flags[k] for k in named)}")
    duration = options.get("duration")
    duration_s = parse_duration_s(str(duration)) if duration is not None else None
    connections = options.get("connections")
    if options.get("rate") is not None:
        if duration_s is None:
            raise LoadgenError("--rate needs --duration")
        return Open(float(options["rate"]), duration_s, int(connections or 64))
    if options.get("users") is not None:
        if duration_s is None:
            raise LoadgenError("--users needs --duration")
        users = int(options["users"])
        spawn_rate = float(options.get("spawn_rate") or users)
        think = parse_think_s(str(options.get("think") or "0"))
        return Users(users, spawn_rate, duration_s, think)
    if options.get("requests") is not None or connections is not None:
        return Closed(int(options.get("requests") or 1), int(connections or 1))
    return None


def load(
    url: Annotated[str | None, typer.Argument(help="URL to load (or give --scenario).")] = None,
    requests: Annotated[
        int | None, typer.Option("-n", "--requests", help="Closed model: total requests.")
    ] = None,
    connections: Annotated[
        int | None,
        typer.Option("-c", "--connections", help="Closed: connections; open: most connections."),
    ] = None,
    users: Annotated[int | None, typer.Option("-u", "--users", help="Users model: users.")] = None,
    spawn_rate: Annotated[
        float | None, typer.Option("-r", "--spawn-rate", help="Users started per second.")
    ] = None,
    think: Annotated[
        str | None, typer.Option(help="Think time between a user's requests, s: 2 or 1-5.")
    ] = None,
    rate: Annotated[
        float | None, typer.Option(help="Open model: requests scheduled per second.")
    ] = None,
    duration: Annotated[
        str | None, typer.Option("-t", "--duration", help="Users/open model: 30, 30s, 2m, 1h.")
    ] = None,
    method: Annotated[str | None, typer.Option("-m", "--method", help="HTTP method.")] = None,
    header: Annotated[
        list[str] | None, typer.Option("-H", "--header", help="'Name: value', repeatable.")
    ] = None,
    json_body: Annotated[
        str | None, typer.Option("--json-body", help="JSON body, inline or @file.")
    ] = None,
    body_file: Annotated[
        Path | None, typer.Option("--body-file", help="Raw body from a file.")
    ] = None,
    content_type: Annotated[str | None, typer.Option(help="Content-Type of the body.")] = None,
    form: Annotated[
        list[str] | None, typer.Option("-F", "--form", help="Multipart field name=value|@file.")
    ] = None,
    expect_status: Annotated[
        list[int] | None, typer.Option(help="Expected status (repeatable; default any 2xx).")
    ] = None,
    expect_sha256: Annotated[
        str | None, typer.Option(help="Expected sha256 of every body.")
    ] = None,
    expect_json: Annotated[
        list[str] | None, typer.Option(help="Expected JSON field: path=value, repeatable.")
    ] = None,
    same_length: Annotated[
        bool, typer.Option(help="ab's rule: every body as long as the first.")
    ] = False,
    scenario: Annotated[
        Path | None, typer.Option("-s", "--scenario", help="TOML scenario file.")
    ] = None,
    keepalive: Annotated[
        bool, typer.Option("--keepalive/--no-keepalive", help="Reuse connections.")
    ] = True,
    timeout: Annotated[float, typer.Option(help="Seconds before a request times out.")] = 30.0,
    processes: Annotated[int, typer.Option("-p", "--processes", help="Generator processes.")] = 1,
    output_format: Annotated[
        str, typer.Option("--format", help="ab, locust, table or json.")
    ] = "table",
    json_file: Annotated[
        Path | None, typer.Option("--json", help="Write the full recording here.")
    ] = None,
    csv_prefix: Annotated[
        str | None, typer.Option("--csv", help="Write locust-style CSV files with this prefix.")
    ] = None,
) -> None:
    """Load a URL or a scenario with the closed (-n/-c), users or open (--rate) model.

    Usage: perflab load http://127.0.0.1:8000/ -n 10000 -c 10 --format ab
    """
    raise_open_files_limit()  # a connection per user: 10,000 users are 10,000 files
    if output_format not in ("ab", "locust", "table", "json"):
        raise typer.BadParameter("--format must be ab, locust, table or json")
    try:
        model_options = {
            "requests": requests, "connections": connections, "users": users,
            "spawn_rate": spawn_rate, "think": think, "rate": rate, "duration": duration,
        }  # fmt: skip
        model = build_model(model_options)
        timeout_s, keep = timeout, keepalive
        if scenario is not None:
            if url is not None:
                raise LoadgenError("give a URL or --scenario, not both")
            parsed = load_scenario(scenario)
            specs = parsed.requests
            model = model or build_model(parsed.load)
            timeout_s = parsed.timeout_s if parsed.timeout_s is not None else timeout
            keep = keepalive and parsed.keepalive is not False
        elif url is not None:
            specs = specs_from_options(
                url, method=method, headers=header or [], json_body=json_body,
                body_file=body_file, content_type=content_type, form=form or [],
                expect_status=expect_status or [], expect_sha256=expect_sha256,
                expect_json=expect_json or [], same_length=same_length,
            )  # fmt: skip
        else:
            raise LoadgenError("give a URL or --scenario")
        model = model or Closed(1, 1)
        with live_progress() as progress:
            recording = run(
                specs, model, processes=processes, keepalive=keep, timeout_s=timeout_s,
                progress=progress,
            )  # fmt: skip
    except LoadgenError as exc:
        typer.echo(f"perflab load: {exc}", err=True)
        raise typer.Exit(2) from exc
    fmt: OutputFormat = output_format  # type: ignore[assignment]  # checked above
    sys.stdout.write(render(recording, fmt) + "\n")
    if json_file is not None:
        write_json(recording, json_file)
    if csv_prefix is not None:
        write_csv(recording, csv_prefix)


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
