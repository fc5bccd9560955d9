"""Locust master and worker processes started by perflab: logged, in their own process group,
and never left behind.

Each process leads its own session (``start_new_session``): a Ctrl-C at the terminal reaches
only perflab, which then stops locust in order (the master first, so it can collect the
workers' final reports and write what was measured). Every process started here stays in a
registry until reaped; `stop_all` (registered with atexit) ends whatever is left: SIGTERM,
then SIGKILL to its whole group.

Usage::

    master = LocustProcess.start("master", [*locust_command(), "--master", ...], log_dir=run)
    master.wait(timeout_s=60)
    master.stop()
"""

from __future__ import annotations

import atexit
import contextlib
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import psutil

LOG_TAIL_CHARS = 4000

_live: dict[int, LocustProcess] = {}
_live_lock = threading.Lock()


def locust_command() -> list[str]:
    """``python -m locust`` with this interpreter. Usage: ``[*locust_command(), "-f", f]``"""
    return [sys.executable, "-m", "locust"]


@dataclass
class LocustProcess:
    """A locust process started here. Usage: see the module docstring."""

    name: str
    process: subprocess.Popen[bytes]
    log_path: Path

    @classmethod
    def start(
        cls, name: str, argv: Sequence[str], *, log_dir: Path, env: Mapping[str, str] | None = None
    ) -> LocustProcess:
        """Start `argv` with its output in ``log_dir/<name>.log``. Usage: see module."""
        log_dir.mkdir(parents=True, exist_ok=True)
        log_path = log_dir / f"{name}.log"
        with log_path.open("wb") as log_file:
            process = subprocess.Popen(
                list(argv),
                env={**os.environ, **(env or {})},
                stdout=log_file,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        started = cls(name, process, log_path)
        with _live_lock:
            _live[process.pid] = started
        return started

    @property
    def pid(self) -> int:
        """The process id (also its process group's). Usage: ``master.pid``"""
        return self.process.pid

    def running(self) -> bool:
        """Whether it has not exited. Usage: ``worker.running()``"""
        return self.process.poll() is None

    def log_tail(self, chars: int = LOG_TAIL_CHARS) -> str:
        """The end of its log. Usage: ``master.log_tail()``"""
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return text if len(text) <= chars else "...\n" + text[-chars:]

    def cpu_s(self) -> float | None:
        """User + system CPU seconds so far (None once gone). Usage: ``worker.cpu_s()``"""
        try:
            times = psutil.Process(self.pid).cpu_times()
        except psutil.Error:
            return None
        return float(times.user + times.system)

    def signal(self, signum: int) -> None:
        """Send `signum` to the process (not its group). Usage: ``master.signal(SIGINT)``"""
        with contextlib.suppress(ProcessLookupError):
            self.process.send_signal(signum)

    def wait(self, timeout_s: float | None = None) -> int | None:
        """Its exit code, or None if still running after `timeout_s`. Usage: see module."""
        try:
            return self.process.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            return None

    def stop(self, grace_s: float = 10.0) -> int:
        """SIGTERM, then SIGKILL to its whole group after `grace_s`; reaped and forgotten.

        Usage: ``worker.stop()``"""
        if self.running():
            self.signal(signal.SIGTERM)
            self.wait(grace_s)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.pid, signal.SIGKILL)  # whatever of its group is left
        code = self.process.wait()
        with _live_lock:
            _live.pop(self.pid, None)
        return code


def stop_all(grace_s: float = 5.0) -> None:
    """Stop every locust process started here and still known. Usage: atexit calls it."""
    with _live_lock:
        started = list(_live.values())
    for process in started:
        with contextlib.suppress(OSError):
            process.stop(grace_s)


atexit.register(stop_all)
