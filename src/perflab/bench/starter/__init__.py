"""`perflab init`: a starter study from an OpenAPI document (a URL, or an app started for a
moment) or from a browser's HAR file, written as TOML that runs as it is.

::

    LabError
     └── InitError     no OpenAPI document at the source, a file that is not HAR

Modules: `values` (a valid value for a schema), `openapi` and `har` (a `Starter` from each
source), `writer` (the TOML, with comments where it guessed), `source` (fetching the document).

Usage::

    starter = build_starter("shop:app", None, out_dir=Path("."), runners=["uvicorn"], workers=2)
    Path("study.toml").write_text(study_text(starter, "perflab init shop:app"))
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from urllib.parse import urlsplit

from perflab.bench.starter.har import starter_from_har
from perflab.bench.starter.model import Starter, StarterFlow, StarterRequest
from perflab.bench.starter.openapi import starter_from_openapi
from perflab.bench.starter.source import (
    OPENAPI_PATH,
    InitError,
    openapi_from_app,
    openapi_from_url,
)
from perflab.bench.starter.writer import study_text

__all__ = [
    "InitError",
    "Starter",
    "StarterFlow",
    "StarterRequest",
    "build_starter",
    "is_url",
    "study_text",
]


def is_url(source: str) -> bool:
    """Whether a source is a URL (else ``module:app``). Usage: ``is_url("http://h/x")``"""
    return source.startswith(("http://", "https://"))


def build_starter(
    source: str | None,
    har: Path | None,
    *,
    out_dir: Path,
    runners: list[str],
    workers: int,
    python: str | None = None,
) -> Starter:
    """The starter study for a source (URL or module:app) and/or a HAR file.

    Usage: see module. Raises InitError (or StartError when the app does not start).
    """
    if source is None and har is None:
        raise InitError("give an OpenAPI URL, a module:app, or --har FILE")
    if source is not None and not is_url(source) and ":" not in source:
        raise InitError(f"{source!r} is neither a URL nor module:app (e.g. shop.main:app)")
    if har is not None:
        try:
            document = json.loads(har.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise InitError(f"cannot read {har}: {exc}") from None
        starter = starter_from_har(document, str(har))
    elif is_url(str(source)):
        starter = starter_from_openapi(openapi_from_url(str(source)), str(source))
    else:
        interpreter = python or sys.executable
        document = openapi_from_app(
            str(source), cwd=Path.cwd(), runner=runners[0], python=interpreter
        )
        starter = starter_from_openapi(document, f"{source} ({OPENAPI_PATH})")
        starter.ready = OPENAPI_PATH
    if source is not None and is_url(source):
        parts = urlsplit(source)
        starter.base_url = f"{parts.scheme}://{parts.netloc}"
    elif source is not None:
        starter.app, starter.base_url = source, None
        starter.cwd = os.path.relpath(Path.cwd(), out_dir.resolve())
    starter.runners, starter.python = runners, python
    starter.workers = [1, max(2, workers)]
    return starter
