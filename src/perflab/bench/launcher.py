"""The one way to start perflab processes (serve, downstream, worker) for the bench, the
benchmarks and the tests: on a free port, in their own process group, logged to a file, and
never left behind.

Each process runs `python -m perflab ...` with `start_new_session=True`, so it leads its own
process group: its server workers, offload pool and queue consumers share that group, and a
stop that ends in SIGKILL reaches all of them. Every process started here stays in a module
registry until it has been reaped; `stop_all()` (registered with atexit, and what the bench's
Ctrl-C handler calls) stops whatever is still in it.

Usage:
    with perflab_serve(["--offload", "process"], {"PERFLAB_WORKERS": "1"}, log_dir=out) as s:
        rss_bytes = tree_rss_bytes(s.pid)
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import psutil

from perflab.results.errors import StartError

LOG_TAIL_CHARS = 4000  # enough for a traceback, short enough for an exception message
POLL_INTERVAL_S = 0.1
LEFTOVER_GRACE_S = 5.0  # after the leader exits: time for its helpers to notice and exit

_live: dict[int, Launched] = {}  # pid -> process started here and not yet reaped
_live_lock = threading.Lock()


def free_port() -> int:
    """A TCP port free on 127.0.0.1 now. Usage: `port = free_port()`"""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class Launched:
    """A running perflab process (serve / downstream / worker) started by this module."""

    name: str
    process: subprocess.Popen[bytes]
    base_url: str | None  # None for a worker, which listens on no port
    log_path: Path

    @property
    def pid(self) -> int:
        return self.process.pid

    def url(self, path: str) -> str:
        if self.base_url is None:
            raise ValueError(f"perflab {self.name} has no URL")
        return self.base_url + path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def log_tail(self, chars: int = LOG_TAIL_CHARS) -> str:
        text = self.log()
        return text if len(text) <= chars else "...\n" + text[-chars:]

    def terminate(self, timeout_s: float = 30.0) -> int:
        """Stop it and everything in its process group; return the leader's exit code.

        SIGTERM goes to the leader only: each perflab command passes it on to its own workers
        in order (uvicorn's supervisor, the worker supervisor), so in-flight work finishes and
        a graceful stop exits 0. Signalling the whole group at once would kill the offload
        pool under a server still finishing requests. What is left in the group once the
        leader exits, or everything after `timeout_s`, gets SIGKILL.
        """
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                self.process.send_signal(signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(timeout=timeout_s)
        if self.process.poll() is None:
            _kill_group(self.pid)
        exit_code = self.process.wait()
        _end_leftovers(self.pid)
        with _live_lock:
            _live.pop(self.pid, None)
        return exit_code


def _kill_group(pgid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGKILL)


def _group_members(pgid: int) -> list[psutil.Process]:
    """Running processes of process group `pgid` (zombies count as gone)."""
    members = []
    for process in psutil.process_iter():
        with contextlib.suppress(psutil.Error, ProcessLookupError):
            if os.getpgid(process.pid) == pgid and process.status() != psutil.STATUS_ZOMBIE:
                members.append(process)
    return members


def _end_leftovers(pgid: int) -> None:
    """Give what outlived the leader a short grace to exit on its own, then SIGKILL it."""
    leftovers = _group_members(pgid)
    if leftovers:
        _, alive = psutil.wait_procs(leftovers, timeout=LEFTOVER_GRACE_S)
        if alive:
            _kill_group(pgid)
            psutil.wait_procs(alive, timeout=LEFTOVER_GRACE_S)


def stop_all(timeout_s: float = 10.0) -> None:
    """Stop every process this module started that still runs (atexit, the bench's Ctrl-C).

    Usage: `signal.signal(signal.SIGINT, lambda *_: stop_all())`
    """
    with _live_lock:
        launched = list(_live.values())
    for item in launched:
        with contextlib.suppress(OSError, psutil.Error):
            item.terminate(timeout_s)


atexit.register(stop_all)


def _launch(
    name: str,
    cli_args: Sequence[str],
    env: Mapping[str, str] | None,
    log_dir: Path,
    tag: str,
    preexec_fn: Callable[[], object] | None = None,
) -> Launched:
    log_dir.mkdir(parents=True, exist_ok=True)
    log_path = log_dir / f"{name}-{tag}.log"
    full_env = {**os.environ, "PERFLAB_LOG_LEVEL": "warning", **(env or {})}
    command = [sys.executable, "-m", "perflab", name, *cli_args]
    with log_path.open("wb") as log_file:
        process = subprocess.Popen(
            command,
            env=full_env,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=preexec_fn,
        )
    launched = Launched(name, process, None, log_path)
    with _live_lock:
        _live[process.pid] = launched
    return launched


def _answers(url: str, statuses: Collection[int]) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status in statuses
    except urllib.error.HTTPError as error:
        error.close()
        return error.code in statuses
    except (OSError, ValueError):
        return False


def _wait_ready(launched: Launched, ready: Callable[[], bool], timeout_s: float) -> None:
    deadline_s = time.monotonic() + timeout_s
    while not ready():
        if launched.process.poll() is not None:
            raise StartError(
                f"perflab {launched.name} exited with {launched.process.returncode} before it "
                f"was ready; log {launched.log_path}:\n{launched.log_tail()}"
            )
        if time.monotonic() > deadline_s:
            raise StartError(
                f"perflab {launched.name} not ready after {timeout_s:g} s; "
                f"log {launched.log_path}:\n{launched.log_tail()}"
            )
        time.sleep(POLL_INTERVAL_S)


@contextlib.contextmanager
def _running(launched: Launched, ready: Callable[[], bool], timeout_s: float) -> Iterator[Launched]:
    # try/finally around the wait too: a KeyboardInterrupt while waiting stops the process.
    try:
        _wait_ready(launched, ready, timeout_s)
        yield launched
    finally:
        launched.terminate()


@contextlib.contextmanager
def perflab_serve(
    args: Sequence[str] = (),
    env: Mapping[str, str] | None = None,
    *,
    log_dir: Path,
    ready_path: str = "/healthz",
    ready_statuses: Collection[int] = (200,),
    ready_timeout_s: float = 120.0,
    preexec_fn: Callable[[], object] | None = None,
) -> Iterator[Launched]:
    """Run `perflab serve ARGS` on a free port until the block ends; ready once `ready_path`
    answers one of `ready_statuses`. Raises StartError when it exits or is not ready in time.
    `preexec_fn` runs in the child before perflab starts (e.g. to lower a resource limit).

    Usage: `with perflab_serve(["--workers", "2"], log_dir=out) as s: get(s.url("/healthz"))`
    """
    port = free_port()
    cli_args = ["--port", str(port), *args]
    launched = _launch("serve", cli_args, env, log_dir, str(port), preexec_fn)
    launched.base_url = f"http://127.0.0.1:{port}"
    url = launched.url(ready_path)
    with _running(launched, lambda: _answers(url, ready_statuses), ready_timeout_s) as running:
        yield running


@contextlib.contextmanager
def perflab_downstream(
    latency_s: float,
    *,
    log_dir: Path,
    env: Mapping[str, str] | None = None,
    preexec_fn: Callable[[], object] | None = None,
) -> Iterator[Launched]:
    """Run `perflab downstream` (the fanout study's slow service) on a free port;
    `preexec_fn` as for `perflab_serve`.

    Usage: `with perflab_downstream(0.5, log_dir=out) as d: url = d.url("/work?value=1")`
    """
    port = free_port()
    cli_args = ["--port", str(port), "--latency-s", str(latency_s)]
    launched = _launch("downstream", cli_args, env, log_dir, str(port), preexec_fn)
    launched.base_url = f"http://127.0.0.1:{port}"
    url = launched.url("/healthz")
    with _running(launched, lambda: _answers(url, (200,)), 120.0) as running:
        yield running


@contextlib.contextmanager
def perflab_worker(
    args: Sequence[str] = (),
    env: Mapping[str, str] | None = None,
    *,
    log_dir: Path,
    ready_timeout_s: float = 120.0,
) -> Iterator[Launched]:
    """Run `perflab worker ARGS` until the block ends; ready once every one of its consumer
    processes has heartbeated into the namespace's live-workers set in Redis.

    Usage: `with perflab_worker(["--processes", "2"], {"PERFLAB_REDIS_URL": url}, log_dir=out):`
    """
    ready = _WorkerReadiness(*_worker_target(args, env))
    launched = _launch("worker", args, env, log_dir, str(time.monotonic_ns()))
    ready.pid = launched.pid
    try:
        with _running(launched, ready, ready_timeout_s) as running:
            yield running
    finally:
        ready.close()


def _worker_target(args: Sequence[str], env: Mapping[str, str] | None) -> tuple[str, str, int]:
    """The Redis URL, namespace and process count `perflab worker ARGS` will use."""
    from perflab.config import Settings

    parser = argparse.ArgumentParser(add_help=False, allow_abbrev=False)
    parser.add_argument("--redis")
    parser.add_argument("--namespace")
    parser.add_argument("--processes", type=int, default=0)
    known, _ = parser.parse_known_args(list(args))
    merged = {**os.environ, **(env or {})}
    fields = Settings.model_fields
    redis_url = known.redis or merged.get("PERFLAB_REDIS_URL") or fields["redis_url"].default
    namespace = (
        known.namespace
        or merged.get("PERFLAB_QUEUE_NAMESPACE")
        or fields["queue_namespace"].default
    )
    return str(redis_url), str(namespace), known.processes or os.cpu_count() or 1


class _WorkerReadiness:
    """True once `processes` consumers of the worker's own process tree are live in Redis.

    Consumer names carry their pid (namespace:host:pid:token), so entries left by earlier
    workers in the same namespace never count: the log cannot tell (the default log level
    hides the consumers' start lines) and a count of new entries can be fooled.
    """

    def __init__(self, redis_url: str, namespace: str, processes: int) -> None:
        import redis

        from perflab.app.offload.streams import QueueNames

        self.pid = 0  # set once the worker runs
        self.processes = processes
        self.key = QueueNames(namespace).workers
        self.client = redis.Redis.from_url(redis_url, socket_timeout=2, socket_connect_timeout=2)
        self.redis_error: type[Exception] = redis.RedisError

    def __call__(self) -> bool:
        tree = {process.pid for process in process_tree(self.pid)}
        try:
            members: list[bytes] = self.client.zrange(self.key, 0, -1)  # type: ignore[assignment]  # sync client: a list, not an awaitable
            names = [member.decode() for member in members]
        except self.redis_error:
            return False  # Redis not (yet) reachable: the worker retries too; the deadline rules
        pids = {int(name.split(":")[-2]) for name in names if name.count(":") >= 3}
        return len(pids & tree) >= self.processes

    def close(self) -> None:
        self.client.close()


def process_tree(pid: int) -> list[psutil.Process]:
    """A process and all its descendants (server workers, offload pool); [] once it is gone.

    Usage: `pids = [p.pid for p in process_tree(server.pid)]`
    """
    try:
        root = psutil.Process(pid)
        return [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return []


def tree_rss_bytes(pid: int) -> int:
    """Resident memory of a process and all its descendants. Usage: `tree_rss_bytes(s.pid)`"""
    total = 0
    for process in process_tree(pid):
        with contextlib.suppress(psutil.NoSuchProcess, psutil.ZombieProcess):
            total += process.memory_info().rss
    return total


def tree_cpu_s(pid: int) -> float:
    """User + system CPU seconds of a process and its live descendants. Usage: `tree_cpu_s(pid)`"""
    total = 0.0
    for process in process_tree(pid):
        with contextlib.suppress(psutil.NoSuchProcess, psutil.ZombieProcess):
            times = process.cpu_times()
            total += times.user + times.system
    return total
