"""`perflab init`: write a starter study of your own service.

Usage::

    perflab init shop.main:app                        # start it, read /openapi.json
    perflab init http://127.0.0.1:8000/openapi.json   # a service already running
    perflab init --har page.har shop.main:app         # a page's requests, your app started
    perflab bench study.toml --profile smoke
"""

from __future__ import annotations

import os
import shlex
from pathlib import Path
from typing import Annotated

import typer


def init(
    source: Annotated[
        str | None,
        typer.Argument(help="An OpenAPI URL (http://HOST/openapi.json) or module:app to start."),
    ] = None,
    har: Annotated[
        Path | None,
        typer.Option(help="A HAR file from a browser's developer tools: its requests, in order."),
    ] = None,
    out: Annotated[Path, typer.Option(help="The study file to write.")] = Path("study.toml"),
    runner: Annotated[
        list[str] | None,
        typer.Option(
            help="Server(s) for the cell matrix: uvicorn (default), gunicorn, granian, "
            "hypercorn, fastapi; repeat the option for more."
        ),
    ] = None,
    workers: Annotated[
        int,
        typer.Option(min=2, help="N in the 1 vs N workers cells (default: this machine's cores)."),
    ] = max(2, os.cpu_count() or 2),
    python: Annotated[
        str | None,
        typer.Option(help="The interpreter whose environment has your app (a venv's python)."),
    ] = None,
    force: Annotated[bool, typer.Option("--force", help="Overwrite --out if it exists.")] = False,
) -> None:
    """Write a starter study from an OpenAPI document or a HAR file; it runs as written."""
    from perflab.bench.runners import RUNNERS
    from perflab.bench.starter import build_starter, study_text
    from perflab.bench.study import load_study
    from perflab.results.errors import LabError

    runners = runner or ["uvicorn"]
    unknown = sorted(set(runners) - set(RUNNERS))
    if unknown:
        raise typer.BadParameter(f"unknown runner(s) {unknown}; known: {list(RUNNERS)}")
    if out.exists() and not force:
        raise typer.BadParameter(f"{out} exists: pick another --out, or --force")
    try:
        starter = build_starter(
            source, har, out_dir=out.parent, runners=runners, workers=workers, python=python
        )
    except LabError as exc:
        typer.echo(f"perflab init: {exc}", err=True)
        raise typer.Exit(1) from None
    given = [*([source] if source else []), *(["--har", str(har)] if har else [])]
    given += ["--out", str(out), *(f"--runner={name}" for name in runner or [])]
    given += ["--python", python] if python else []
    command = "perflab init " + shlex.join(given)
    out.write_text(study_text(starter, command), encoding="utf-8")
    try:
        load_study(str(out), "smoke")  # what it wrote must load: a failure here is a bug
    except LabError as exc:
        typer.echo(f"perflab init: wrote {out}, but it does not load: {exc}", err=True)
        raise typer.Exit(1) from None
    active = [r for r in starter.requests if not r.disabled]
    parts = [f"{len(active)} requests"]
    if len(active) < len(starter.requests):
        parts.append(f"{len(starter.requests) - len(active)} commented out")
    if starter.on_start:
        parts.append("a login per user")
    if starter.flows:
        parts.append(f"{len(starter.flows)} flow(s)")
    typer.echo(f"wrote {out}: {', '.join(parts)}; comments say where it guessed.")
    typer.echo(f"run it: perflab bench {shlex.quote(str(out))} --profile smoke")
