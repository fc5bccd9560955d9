"""Run a cell's streams on locust's master/worker runner and get perflab's merged recording:
what `perflab bench --engine locust --locust-workers N` passes to the bench as its driver.

Each call writes the streams as a workload file, starts a real ``locust --master --headless``
and N ``locust --worker`` processes on this machine (and waits for `remote_workers` more to
attach from other machines, docs/locust.md), follows the master's progress, and reads back
the merged `perflab.loadgen.Recording` the master wrote. Everything lives in a numbered
folder under `work_dir` (workload.json, recording.json, master.log, worker-N.log).

Ctrl-C stops the master first (it collects the workers' final reports and writes what was
measured to recording.json in that folder), then the workers, and is raised again; nothing is
left running. A master that exits without a recording raises LocustRunError with its log.

Usage::

    driver = LocustDriver(workers=2, work_dir=Path("out/locust"))
    recording = driver(cell_streams(plan, base_url))       # like perflab.loadgen.run_streams
"""

from __future__ import annotations

import importlib.util
import json
import signal
import socket
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from perflab.loadgen import Recording, Stream
from perflab.locust import locustfile_path
from perflab.locust.errors import LocustRunError
from perflab.locust.processes import LocustProcess, locust_command
from perflab.locust.wire import streams_to_wire

ProgressCallback = Callable[[float, int, int], None]
POLL_S = 0.25
INTERRUPT_GRACE_S = 30.0  # the master stops the workers and writes what was measured


def _free_port(host: str) -> int:
    with socket.socket() as sock:
        sock.bind((host if host != "0.0.0.0" else "", 0))
        port: int = sock.getsockname()[1]
        return port


class LocustDriver:
    """A load driver for the bench: the same call as `run_streams`, run on locust.

    Usage: ``LocustDriver(workers=2, work_dir=out)(streams, progress)``
    """

    def __init__(
        self,
        workers: int,
        *,
        work_dir: Path,
        remote_workers: int = 0,
        bind_host: str | None = None,
        port: int | None = None,
        ready_timeout_s: float = 120.0,
        worker_env: Mapping[str, str] | None = None,
    ) -> None:
        if workers < 0 or remote_workers < 0 or workers + remote_workers < 1:
            raise LocustRunError("a locust run needs at least one worker")
        self.workers = workers
        self.remote_workers = remote_workers
        self.work_dir = work_dir
        self.bind_host = bind_host or ("0.0.0.0" if remote_workers else "127.0.0.1")
        self.port = port
        self.ready_timeout_s = ready_timeout_s
        self.worker_env = dict(worker_env or {})
        self.runs = 0
        self.last_run_dir: Path | None = None
        self.worker_processes: list[LocustProcess] = []  # this call's local workers

    def __call__(
        self, streams: Sequence[Stream], progress: ProgressCallback | None = None
    ) -> Recording:
        """Run `streams` on locust; the merged recording. Usage: see the class docstring."""
        if importlib.util.find_spec("locust") is None:
            raise LocustRunError("locust is not installed: pip install 'perflab[locust]'")
        run_dir = self._new_run_dir()
        self.last_run_dir = run_dir
        workload = run_dir / "workload.json"
        workload.write_text(json.dumps(streams_to_wire(streams)), encoding="utf-8")
        recording_path = run_dir / "recording.json"
        progress_path = run_dir / "progress.json"
        port = self.port or _free_port(self.bind_host)
        locustfile = str(locustfile_path())
        master = LocustProcess.start(
            "master",
            [
                *locust_command(), "-f", locustfile, "--master", "--headless", "--only-summary",
                "--master-bind-host", self.bind_host, "--master-bind-port", str(port),
                "--expect-workers", str(self.workers + self.remote_workers),
                "--expect-workers-max-wait", str(round(self.ready_timeout_s)),
                "--perflab-workload", str(workload), "--perflab-recording", str(recording_path),
                "--perflab-progress", str(progress_path),
                "--perflab-ready-timeout", str(self.ready_timeout_s),
            ],
            log_dir=run_dir,
        )  # fmt: skip
        workers = self.worker_processes = [
            LocustProcess.start(
                f"worker-{index}",
                [
                    *locust_command(),
                    "-f",
                    locustfile,
                    "--worker",
                    "--master-host",
                    "127.0.0.1",
                    "--master-port",
                    str(port),
                ],
                log_dir=run_dir,
                env=self.worker_env,
            )
            for index in range(self.workers)
        ]
        try:
            self._follow(master, progress_path, progress)
        except KeyboardInterrupt:
            master.signal(signal.SIGINT)  # the master stops the workers and writes what it has
            master.wait(INTERRUPT_GRACE_S)
            if recording_path.exists():
                print(f"perflab: what locust measured is in {recording_path}", file=sys.stderr)
            raise
        finally:
            master.stop()
            for worker in workers:
                worker.stop()
        return self._read(recording_path, master)

    def _new_run_dir(self) -> Path:
        """The next numbered folder that does not exist yet (never an old run's files)."""
        while True:
            self.runs += 1
            run_dir = self.work_dir / f"{self.runs:03d}"
            try:
                run_dir.mkdir(parents=True)
                return run_dir
            except FileExistsError:
                continue

    def _follow(
        self, master: LocustProcess, progress_path: Path, progress: ProgressCallback | None
    ) -> None:
        last = 0.0
        while master.wait(POLL_S) is None:
            if progress is None or time.monotonic() - last < 1.0:
                continue
            last = time.monotonic()
            try:
                elapsed_s, requests, failures = json.loads(progress_path.read_text())
            except (OSError, ValueError, TypeError):
                continue
            progress(float(elapsed_s), int(requests), int(failures))

    def _read(self, path: Path, master: LocustProcess) -> Recording:
        try:
            return Recording.from_dict(json.loads(path.read_text(encoding="utf-8")))
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise LocustRunError(
                f"the locust master wrote no recording ({exc}); log {master.log_path}:\n"
                f"{master.log_tail()}"
            ) from None
