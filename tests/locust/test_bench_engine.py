"""`perflab bench --engine locust` and a study cell run with the locust command: their results
are perflab.bench documents that `perflab report` and `perflab compare` read like any other."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from perflab.locust import locustfile_path
from perflab.locust.processes import LocustProcess, locust_command
from perflab.results.document import read_run
from tests.support.servers import RunningServer, free_port

STUDY = """
title = "Ping on locust"
question = "Does a distributed run read like any other?"
base_url = "{url}"
main_request = "ping"
[base]
warmup_s = 0.0
timeout_s = 10.0
load = {{ model = "closed", requests = 300, connections = 6 }}
[[base.request]]
name = "ping"
method = "POST"
path = "/ping"
json = {{ name = "x", data = {{ a = 1, b = 5 }} }}
expect = {{ status = 200, json = {{ count = 2 }} }}
[[cell]]
name = "ping"
role = "right"
"""


def _perflab(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "perflab", *args], capture_output=True, text=True, timeout=300
    )


def _bench(study: Path, out: Path, *engine: str) -> None:
    done = _perflab("bench", str(study), "--out", str(out), "--no-progress", "--max-warmup-s",
                    "0", *engine)  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]


def test_bench_on_locust_reads_and_compares_like_any_run(
    ping_server: RunningServer, tmp_path: Path
) -> None:
    study = tmp_path / "ping.toml"
    study.write_text(STUDY.format(url=ping_server.base_url))
    _bench(study, tmp_path / "perflab")
    _bench(study, tmp_path / "locust", "--engine", "locust", "--locust-workers", "2")

    run = read_run(tmp_path / "locust")
    [cell] = run.studies[0].cells
    assert cell.status == "ran"
    recording = cell.repeats[0].recording
    assert recording.metadata["engine"] == "locust"
    assert recording.total().requests == 300
    assert recording.total().failures == {}
    assert [w["requests"] for w in recording.metadata["locust"]["workers"]] == [150, 150]
    assert (tmp_path / "locust" / "locust" / "001" / "master.log").exists()

    compared = _perflab("compare", str(tmp_path / "perflab"), str(tmp_path / "locust"),
                        "--format", "markdown")  # fmt: skip
    assert compared.returncode in (0, 1), compared.stderr  # 1: a change was called
    assert "ping" in compared.stdout


def test_a_study_cell_on_the_locust_command_writes_results_for_report(
    ping_server: RunningServer, tmp_path: Path
) -> None:
    study = tmp_path / "ping.toml"
    study.write_text(STUDY.format(url="http://127.0.0.1:1"))  # --host names the service
    out, port = tmp_path / "results", free_port()
    master = LocustProcess.start(
        "master",
        [
            *locust_command(), "-f", str(locustfile_path()), "--master", "--headless",
            "--master-bind-host", "127.0.0.1", "--master-bind-port", str(port),
            "--expect-workers", "1", "--host", ping_server.base_url,
            "--perflab-study", str(study), "--perflab-cell", "ping",
            "--perflab-results", str(out),
        ],
        log_dir=tmp_path,
    )  # fmt: skip
    worker = LocustProcess.start(
        "worker",
        [*locust_command(), "-f", str(locustfile_path()), "--worker",
         "--master-port", str(port)],
        log_dir=tmp_path,
    )  # fmt: skip
    try:
        assert master.wait(180) is not None, master.log_tail()
    finally:
        master.stop()
        worker.stop()
    run = read_run(out)
    assert run.studies[0].name == "ping"
    [cell] = run.studies[0].cells
    assert cell.repeats[0].recording.total().requests == 300
    assert cell.repeats[0].recording.metadata["locust"]["workers"][0]["status"] == "finished"
    report = _perflab("report", str(out))
    assert report.returncode == 0, report.stderr
    assert "ping" in report.stdout
