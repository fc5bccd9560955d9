"""Real servers for tests where concurrency is the point: `perflab serve` in a subprocess.

Thin test defaults over perflab.bench.launcher (the one way to start perflab processes): a
data directory inside the test's tmp_path, the shared test model cache, `info` logs (tests
read them), and a 503 counted as started (alive, a backing service down: tests may want it).
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import tempfile
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from perflab.bench.launcher import Launched, free_port, perflab_downstream, perflab_serve

__all__ = [
    "TEST_MODEL_DIR",
    "RunningServer",
    "downstream_server",
    "free_port",
    "get_json",
    "perflab_server",
]

TEST_MODEL_DIR = Path(tempfile.gettempdir()) / "perflab-test-models"
STARTUP_S = 120.0  # the shared 2-core box may be busy; a server loading a model takes a while


def server_env(tmp_path: Path, env: dict[str, str] | None = None) -> dict[str, str]:
    """What every perflab process a test starts gets, on top of the test's own variables."""
    return {
        "PERFLAB_DATA_DIR": str(tmp_path / "data"),
        # One model cache for every test server (built once), never the user's own cache.
        "PERFLAB_MODEL_DIR": os.environ.get("PERFLAB_MODEL_DIR", str(TEST_MODEL_DIR)),
        "PERFLAB_LOG_LEVEL": os.environ.get("PERFLAB_LOG_LEVEL", "info"),
        **(env or {}),
    }


def get_json(url: str, timeout_s: float = 30.0) -> tuple[int, dict[str, Any]]:
    """GET a JSON answer, returning (status, body) for error statuses too."""
    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        with error:
            return error.code, json.loads(error.read())


class RunningServer(Launched):
    """A perflab server a test started (a Launched, built the way older tests build it)."""

    base_url: str

    def __init__(
        self, process: subprocess.Popen[bytes], base_url: str, log_path: Path, name: str = "serve"
    ) -> None:
        super().__init__(name, process, base_url, log_path)

    @classmethod
    def of(cls, launched: Launched) -> RunningServer:
        assert launched.base_url is not None
        return cls(launched.process, launched.base_url, launched.log_path, launched.name)


@contextlib.contextmanager
def perflab_server(
    tmp_path: Path, *args: str, env: dict[str, str] | None = None
) -> Iterator[RunningServer]:
    """Run `perflab serve ARGS` on a free port until the block ends (then stop it and its tree).

    Usage: `with perflab_server(tmp_path, "--offload", "inline") as s: get_json(s.url("/x"))`
    """
    with perflab_serve(
        args,
        server_env(tmp_path, env),
        log_dir=tmp_path,
        ready_statuses=(200, 503),  # 503: alive, a backing service down (tests may want it)
        ready_timeout_s=STARTUP_S,
    ) as launched:
        yield RunningServer.of(launched)


@contextlib.contextmanager
def downstream_server(tmp_path: Path, latency_s: float) -> Iterator[RunningServer]:
    """Run `perflab downstream` (the slow service of the fanout study) on a free port."""
    with perflab_downstream(latency_s, log_dir=tmp_path, env=server_env(tmp_path)) as launched:
        yield RunningServer.of(launched)
