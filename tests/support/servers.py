"""Real servers for tests where concurrency is the point: `perflab serve` in a subprocess."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

TEST_MODEL_DIR = Path(tempfile.gettempdir()) / "perflab-test-models"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def get_json(url: str, timeout_s: float = 30.0) -> tuple[int, dict[str, Any]]:
    """GET a JSON answer, returning (status, body) for error statuses too."""
    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


@dataclass
class RunningServer:
    process: subprocess.Popen[bytes]
    base_url: str
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def url(self, path: str) -> str:
        return self.base_url + path

    def terminate(self, timeout_s: float = 30.0) -> int:
        """SIGTERM, then wait: the exit code of a graceful stop."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=timeout_s)


def wait_until_ready(url: str, process: subprocess.Popen[bytes], log_path: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode}:\n{log_path.read_text()}")
        with contextlib.suppress(OSError, ValueError):
            status, _ = get_json(url, timeout_s=2)
            if status in (200, 503):  # 503: alive, a backing service down (tests may want it)
                return
        time.sleep(0.1)
    raise TimeoutError(f"server at {url} not up after 60 s:\n{log_path.read_text()}")


@contextlib.contextmanager
def perflab_server(
    tmp_path: Path, *args: str, env: dict[str, str] | None = None
) -> Iterator[RunningServer]:
    """Run `perflab serve ARGS` on a free port until the block ends (then SIGTERM it).

    Usage: `with perflab_server(tmp_path, "--offload", "inline") as s: get_json(s.url("/x"))`
    """
    port = free_port()
    log_path = tmp_path / f"perflab-{port}.log"
    full_env = {
        **os.environ,
        "PERFLAB_DATA_DIR": str(tmp_path / "data"),
        # One model cache for every test server (built once), never the user's own cache.
        "PERFLAB_MODEL_DIR": os.environ.get("PERFLAB_MODEL_DIR", str(TEST_MODEL_DIR)),
        **(env or {}),
    }
    command = [sys.executable, "-m", "perflab", "serve", "--port", str(port), *args]
    with log_path.open("wb") as log_file:
        process = subprocess.Popen(command, env=full_env, stdout=log_file, stderr=subprocess.STDOUT)
    server = RunningServer(process, f"http://127.0.0.1:{port}", log_path)
    try:
        wait_until_ready(server.url("/healthz"), process, log_path)
        yield server
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


@contextlib.contextmanager
def downstream_server(tmp_path: Path, latency_s: float) -> Iterator[RunningServer]:
    """Run `perflab downstream` (the slow service of the fanout study) on a free port."""
    port = free_port()
    log_path = tmp_path / f"downstream-{port}.log"
    command = [
        sys.executable, "-m", "perflab", "downstream",
        "--port", str(port), "--latency-s", str(latency_s),
    ]  # fmt: skip
    with log_path.open("wb") as log_file:
        process = subprocess.Popen(command, stdout=log_file, stderr=subprocess.STDOUT)
    server = RunningServer(process, f"http://127.0.0.1:{port}", log_path)
    try:
        wait_until_ready(server.url("/healthz"), process, log_path)
        yield server
    finally:
        process.terminate()
        process.wait(timeout=30)
