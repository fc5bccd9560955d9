"""Ctrl-C during a distributed run: master and workers stop, and what was measured is kept."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import psutil

from tests.support.servers import RunningServer

SCRIPT = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from perflab.loadgen import Expectation, RequestSpec, Stream, Users, json_body
    from perflab.locust.driver import LocustDriver

    base_url, work_dir = sys.argv[1], Path(sys.argv[2])
    spec = RequestSpec(base_url + "/ping", method="POST", name="ping",
                       body=json_body({"name": "x", "data": {"a": 1}}),
                       expect=Expectation(status=(200,)))
    def progress(elapsed_s, requests, failures):
        if requests:
            print("loading", flush=True)
    LocustDriver(2, work_dir=work_dir)([Stream([spec], Users(4, 4.0, 120.0))], progress)
    """
)


def test_ctrl_c_stops_everything_and_keeps_what_was_measured(
    ping_server: RunningServer, tmp_path: Path
) -> None:
    work_dir = tmp_path / "locust"
    with subprocess.Popen(
        [sys.executable, "-c", SCRIPT, ping_server.base_url, str(work_dir)],
        stdout=subprocess.PIPE,
        text=True,
    ) as bench:
        try:
            assert bench.stdout is not None
            assert bench.stdout.readline().strip() == "loading"  # the load is running
            bench.send_signal(signal.SIGINT)  # what a terminal's Ctrl-C sends perflab
            assert bench.wait(timeout=90) != 0  # KeyboardInterrupt, raised again
        finally:
            bench.kill()

    run_dir = work_dir / "001"
    recording = json.loads((run_dir / "recording.json").read_text())
    locust = recording["metadata"]["locust"]
    assert locust["reason"].startswith("interrupted")
    assert recording["requests"] > 0
    assert recording["requests"] == sum(w["requests"] for w in locust["workers"])
    worker_pids = [w["pid"] for w in locust["workers"]]
    assert len(worker_pids) == 2
    assert not [pid for pid in worker_pids if psutil.pid_exists(pid)]
    leftovers = [
        p.pid
        for p in psutil.process_iter(["cmdline"])
        if str(run_dir) in " ".join(p.info["cmdline"] or [])
    ]
    assert leftovers == []  # the master (whose command line names the run folder) is gone
