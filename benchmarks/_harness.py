"""What every benchmark script needs: a `perflab serve` on a free port, and its memory.

Usage:
    with perflab_serve(["--offload", "process"], {"PERFLAB_WORKERS": "1"}, log_path) as server:
        rss = tree_rss_bytes(server.pid)
        cpu = tree_cpu_s(server.pid)
"""

from __future__ import annotations

import contextlib
import http.client
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psutil


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def answers(port: int, path: str = "/healthz") -> bool:
    try:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        connection.request("GET", path)
        status = connection.getresponse().status
        connection.close()
        return status == 200
    except OSError:
        return False


@dataclass
class Server:
    port: int
    pid: int

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@contextlib.contextmanager
def perflab_serve(args: list[str], env: dict[str, str], log_path: Path) -> Iterator[Server]:
    """Run `perflab serve ARGS` with extra environment until the block ends (then SIGTERM)."""
    port = free_port()
    command = [sys.executable, "-m", "perflab", "serve", "--port", str(port), *args]
    full_env = {**os.environ, "PERFLAB_LOG_LEVEL": "warning", **env}
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("wb") as log:
        process = subprocess.Popen(command, env=full_env, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        while not answers(port):
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"perflab serve {' '.join(args)} did not start: see {log_path}")
            time.sleep(0.2)
        yield Server(port, process.pid)
    finally:
        process.terminate()
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _process_tree(pid: int) -> list[psutil.Process]:
    """A process and all its descendants (server workers, offload pool); [] once it is gone."""
    try:
        root = psutil.Process(pid)
        return [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return []


def tree_rss_bytes(pid: int) -> int:
    """Resident memory of a process and all its descendants."""
    total = 0
    for process in _process_tree(pid):
        with contextlib.suppress(psutil.NoSuchProcess):
            total += process.memory_info().rss
    return total


def tree_cpu_s(pid: int) -> float:
    """User + system CPU seconds of a process and all its descendants."""
    total = 0.0
    for process in _process_tree(pid):
        with contextlib.suppress(psutil.NoSuchProcess):
            times = process.cpu_times()
            total += times.user + times.system
    return total
