"""The one way to start servers for the bench, the benchmarks and the tests: perflab's own
processes (serve, downstream, worker) and any server command (a user's uvicorn, gunicorn,
granian, ...): on a free port, in their own process group, logged to a file, and never left
behind.

Each process runs with `start_new_session=True`, so it leads its own process group: its
server workers, offload pool and queue consumers share that group, and a stop that ends in
SIGKILL reaches all of them (and any descendant that left the group: `perflab.bench.processes`).
Every process started here stays in a module registry until it has been reaped; `stop_all()`
(registered with atexit, and what the bench's Ctrl-C handler calls) stops whatever is still in
it. A server is ready once its ready path answers and a process of its own tree listens on its
port, so another program that holds the port is never measured in its place.

Usage:
    with perflab_serve(["--offload", "process"], {"PERFLAB_WORKERS": "1"}, log_dir=out) as s:
        rss_bytes = tree_rss_bytes(s.pid)
    with launch_server(["uvicorn", "shop:app", "--port", str(port)], port=port, env={},
                       cwd=Path("."), log_dir=out, label="uvicorn shop:app") as s:
        s.url("/items")
"""

from __future__ import annotations

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

from perflab.bench.placement import on_server_cpus
from perflab.bench.processes import (
    end_group,
    kill_group,
    listens_on,
    process_tree,
    tree_cpu_s,
    tree_rss_bytes,
)
from perflab.bench.worker_readiness import WorkerReadiness, worker_target
from perflab.results.errors import StartError

__all__ = [
    "Launched",
    "StartError",
    "free_port",
    "launch_server",
    "perflab_downstream",
    "perflab_serve",
    "perflab_worker",
    "process_tree",
    "stop_all",
    "tree_cpu_s",
    "tree_rss_bytes",
]

LOG_TAIL_CHARS = 4000  # enough for a traceback, short enough for an exception message
POLL_INTERVAL_S = 0.1
LOG_TAIL_LINES = 30
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
    """A running process started by this module: a perflab command or a server command."""

    name: str
    process: subprocess.Popen[bytes]
    base_url: str | None  # None for a worker, which listens on no port
    log_path: Path
    label: str = ""  # how messages name it; default "perflab NAME"
    stop_grace_s: float = 30.0  # SIGTERM, then this long before SIGKILL
    port: int | None = None  # the port it must listen on itself to count as ready

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def title(self) -> str:
        return self.label or f"perflab {self.name}"

    def url(self, path: str) -> str:
        if self.base_url is None:
            raise ValueError(f"{self.title} has no URL")
        return self.base_url + path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def log_tail(self, chars: int = LOG_TAIL_CHARS, lines: int = LOG_TAIL_LINES) -> str:
        """The last `lines` lines of its log, at most `chars` characters."""
        text = "\n".join(self.log().rstrip().splitlines()[-lines:])
        return text if len(text) <= chars else "...\n" + text[-chars:]

    def terminate(self, timeout_s: float | None = None) -> int:
        """Stop it and everything in its process group; return the leader's exit code.

        SIGTERM goes to the leader only: each perflab command passes it on to its own workers
        in order (uvicorn's supervisor, the worker supervisor), so in-flight work finishes and
        a graceful stop exits 0; gunicorn, granian and hypercorn masters do the same.
        Signalling the whole group at once would kill the offload pool under a server still
        finishing requests. What is left in the group (or of the tree seen before the stop)
        once the leader exits, or everything after `timeout_s` (default: its stop grace),
        gets SIGKILL.
        """
        grace_s = self.stop_grace_s if timeout_s is None else timeout_s
        tree = process_tree(self.pid)
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                self.process.send_signal(signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(timeout=grace_s)
        if self.process.poll() is None:
            kill_group(self.pid)
        exit_code = self.process.wait()
        end_group(self.pid, min(grace_s, LEFTOVER_GRACE_S), remembered=tree)
        with _live_lock:
            _live.pop(self.pid, None)
        return exit_code


def stop_all(timeout_s: float = 10.0) -> None:
    """Stop every process this module started that still runs (atexit, the bench's Ctrl-C).

    Usage: `signal.signal(signal.SIGINT, lambda *_: stop_all())`
    """
    with _live_lock:
        launched = list(_live.values())
    for item in launched:
        with contextlib.suppress(Exception):  # one that cannot be stopped must not spare the rest
            item.terminate(min(timeout_s, item.stop_grace_s))


atexit.register(stop_all)


def _spawn(
    launched_name: str,
    argv: Sequence[str],
    env: Mapping[str, str],
    log_path: Path,
    *,
    cwd: Path | None = None,
    preexec_fn: Callable[[], object] | None = None,
) -> Launched:
    log_path.parent.mkdir(parents=True, exist_ok=True)
    preexec_fn = on_server_cpus(preexec_fn)  # `perflab bench --server-cpus`
    with log_path.open("wb") as log_file:
        process = subprocess.Popen(
            list(argv),
            env=dict(env),
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=preexec_fn,
        )
    launched = Launched(launched_name, process, None, log_path)
    with _live_lock:
        _live[process.pid] = launched
    return launched


def _launch(
    name: str,
    cli_args: Sequence[str],
    env: Mapping[str, str] | None,
    log_dir: Path,
    tag: str,
    preexec_fn: Callable[[], object] | None = None,
) -> Launched:
    full_env = {**os.environ, "PERFLAB_LOG_LEVEL": "warning", **(env or {})}
    command = [sys.executable, "-m", "perflab", name, *cli_args]
    log_path = log_dir / f"{name}-{tag}.log"
    return _spawn(name, command, full_env, log_path, preexec_fn=preexec_fn)


class _HttpReady:
    """True once GET `url` answers one of `statuses`; remembers the last answer for errors."""

    def __init__(self, url: str, statuses: Collection[int]) -> None:
        self.url = url
        self.statuses = statuses
        self.last = "no answer yet"

    def __call__(self) -> bool:
        try:
            with urllib.request.urlopen(self.url, timeout=2) as response:
                status: int = response.status
        except urllib.error.HTTPError as error:
            error.close()
            status = error.code
        except (OSError, ValueError) as error:
            self.last = f"no answer ({getattr(error, 'reason', error)})"
            return False
        self.last = f"answered {status}"
        return status in self.statuses


def _failure(launched: Launched, what: str) -> StartError:
    """A StartError whose first line (what the bench's terminal shows) holds what happened and
    the log's last line; the lines after it hold the log's last lines."""
    tail = launched.log_tail()
    last_line = tail.splitlines()[-1].strip() if tail.strip() else "(empty log)"
    return StartError(
        f"{launched.title} {what}: {last_line}\nlog {launched.log_path}, last lines:\n{tail}"
    )


def _wait_ready(launched: Launched, ready: Callable[[], bool], timeout_s: float) -> None:
    deadline_s = time.monotonic() + timeout_s
    while not ready():
        if launched.process.poll() is not None:
            code = launched.process.returncode
            raise _failure(launched, f"exited with {code} before it was ready")
        if time.monotonic() > deadline_s:
            last = getattr(ready, "last", None)
            answer = f" ({ready.url} {last})" if isinstance(ready, _HttpReady) else ""
            raise _failure(launched, f"not ready after {timeout_s:g} s{answer}")
        time.sleep(POLL_INTERVAL_S)
    if launched.port is not None and not listens_on(launched.pid, launched.port):
        if launched.process.poll() is not None:
            code = launched.process.returncode
            raise _failure(launched, f"exited with {code} while another program answered")
        raise _failure(
            launched,
            f"port {launched.port} answers, but no process of this server listens on it "
            "(another program holds the port, or the command ignores {port})",
        )


@contextlib.contextmanager
def _running(launched: Launched, ready: Callable[[], bool], timeout_s: float) -> Iterator[Launched]:
    # try/finally around the wait too: a KeyboardInterrupt while waiting stops the process.
    try:
        _wait_ready(launched, ready, timeout_s)
        yield launched
    finally:
        launched.terminate()


@contextlib.contextmanager
def launch_server(
    argv: Sequence[str],
    *,
    port: int,
    env: Mapping[str, str],
    cwd: Path,
    log_dir: Path,
    label: str,
    host: str = "127.0.0.1",
    ready_path: str = "/",
    ready_timeout_s: float = 60.0,
    stop_grace_s: float = 10.0,
) -> Iterator[Launched]:
    """Run a server command (argv already holds `port`) until the block ends; ready once
    `ready_path` answers 2xx and a process of its tree listens on `port`. `env` is added to
    this process's environment. Raises StartError (exit code and log tail) when it exits or is
    not ready in time; the stop is SIGTERM, then SIGKILL after `stop_grace_s`.

    Usage: ``with launch_server(argv, port=p, env={}, cwd=d, log_dir=o, label="x") as s:``
    """
    log_path = log_dir / f"server-{port}.log"
    launched = _spawn("server", argv, {**os.environ, **env}, log_path, cwd=cwd)
    launched.label, launched.stop_grace_s, launched.port = label, stop_grace_s, port
    launched.base_url = f"http://{host}:{port}"
    ready = _HttpReady(launched.url(ready_path), range(200, 300))
    with _running(launched, ready, ready_timeout_s) as running:
        yield running


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
    launched.base_url, launched.port = f"http://127.0.0.1:{port}", port
    ready = _HttpReady(launched.url(ready_path), ready_statuses)
    with _running(launched, ready, ready_timeout_s) as running:
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
    launched.base_url, launched.port = f"http://127.0.0.1:{port}", port
    with _running(launched, _HttpReady(launched.url("/healthz"), (200,)), 120.0) as running:
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
    ready = WorkerReadiness(*worker_target(args, env))
    launched = _launch("worker", args, env, log_dir, str(time.monotonic_ns()))
    ready.pid = launched.pid
    try:
        with _running(launched, ready, ready_timeout_s) as running:
            yield running
    finally:
        ready.close()
