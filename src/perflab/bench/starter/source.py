"""Where a starter study's OpenAPI document comes from: a URL, or an app (``module:app``)
started for a moment through the bench's launcher, the same way its cells will start it.

Usage::

    document = openapi_from_url("http://127.0.0.1:8000/openapi.json")
    document = openapi_from_app("shop:app", cwd=Path("."), runner="uvicorn")
"""

from __future__ import annotations

import json
import sys
import tempfile
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from perflab.bench import launcher
from perflab.bench.runners import runner_argv, runner_problem
from perflab.results.errors import LabError

OPENAPI_PATH = "/openapi.json"


class InitError(LabError):
    """`perflab init` cannot read its source: no OpenAPI document, an unreadable HAR file."""


def openapi_from_url(url: str, timeout_s: float = 30.0) -> dict[str, Any]:
    """The OpenAPI document (JSON) at `url`. Raises InitError. Usage: see module."""
    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as response:
            document = json.loads(response.read())
    except (urllib.error.URLError, OSError, ValueError) as exc:
        raise InitError(f"no OpenAPI document at {url}: {exc}") from None
    if not isinstance(document, dict) or "paths" not in document:
        raise InitError(f"{url} is not an OpenAPI document (no `paths`)")
    return document


def openapi_from_app(
    app: str, *, cwd: Path, runner: str = "uvicorn", python: str = sys.executable
) -> dict[str, Any]:
    """Start `app` on `runner` on a free port, read its /openapi.json, stop it.

    Usage: ``openapi_from_app("shop:app", cwd=Path("."))``
    """
    problem = runner_problem(runner, "asgi", python)
    if problem:
        raise InitError(f"cannot start {app}: {problem}")
    port = launcher.free_port()
    argv = runner_argv(runner, "asgi", app, python=python, host="127.0.0.1", port=port, workers=1)
    with (
        tempfile.TemporaryDirectory(prefix="perflab-init-") as log_dir,
        launcher.launch_server(
            argv,
            port=port,
            env={},
            cwd=cwd,
            log_dir=Path(log_dir),
            label=f"{runner} {app}",
            ready_path=OPENAPI_PATH,
        ) as server,
    ):
        return openapi_from_url(server.url(OPENAPI_PATH))
