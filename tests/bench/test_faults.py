"""Faults as study data: the tables are checked, and against a real perflab service a fault
cell kills, stalls and restarts its parts under load with every request accounted for."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from perflab.bench.faults.private_services import missing_private_service
from perflab.bench.faults.runner import FaultContext, FaultRunner
from perflab.bench.faults.spec import Fault, parse_faults
from perflab.bench.runner import BenchOptions, run_bench
from perflab.bench.study import load_study
from perflab.results.errors import StudyError


def test_fault_tables_are_checked() -> None:
    [fault] = parse_faults([{"at_s": 2, "action": "pause", "target": "server_worker",
                             "duration_s": 1.5}], "x")  # fmt: skip
    assert (fault.name, fault.back_after_s) == ("pause server_worker", 1.5)
    bad = [
        ({"at_s": 1, "action": "explode", "target": "x"}, "action must be one of"),
        ({"at_s": 1, "action": "kill", "target": "redis"}, "kill takes target"),
        ({"action": "kill", "target": "offload_worker"}, "at_s"),
        ({"at_s": 1, "action": "restart", "target": "postgres"}, "needs `duration_s`"),
        ({"at_s": 1, "action": "kill", "target": "process"}, "needs `match`"),
        ({"at_s": 1, "action": "burst", "target": "service"}, "needs `requests`"),
        ({"at_s": 1, "action": "kill", "target": "process", "match": "x", "oops": 1}, "unknown"),
    ]
    for table, message in bad:
        with pytest.raises(StudyError, match=message):
            parse_faults([table], "x")


def test_a_paused_process_is_always_continued(tmp_path: Path) -> None:
    """Even when the load ends first: stop() waits for the pause to end with SIGCONT."""
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        fault = Fault("stall", 0.0, "pause", "process", duration_s=0.5, match="time.sleep(60)")
        runner = FaultRunner([fault], FaultContext(server_pid=sleeper.pid))
        runner.start(time.time())
        time.sleep(0.2)
        assert psutil.Process(sleeper.pid).status() == psutil.STATUS_STOPPED
        [event] = runner.stop()
        assert event["error"] is None
        assert psutil.Process(sleeper.pid).status() != psutil.STATUS_STOPPED
        assert event["back_at_s"] - event["at_s"] >= 0.5
    finally:
        sleeper.kill()
        sleeper.wait()


def test_a_fault_not_reached_is_said(tmp_path: Path) -> None:
    runner = FaultRunner([Fault("late", 60.0, "kill", "offload_worker")], FaultContext())
    runner.start(time.time())
    [event] = runner.stop()
    assert event["at_s"] is None
    assert "not reached" in event["error"]


STUDY = """
title = "faults under test"
question = "?"
slo_p99_ms = 1000
main_request = "work"

[base]
warmup_s = 0.5
timeout_s = 10.0
server = {{ workers = 1, offload = "process" }}
# 10 s: a pool wedged by the kill at 2 s is found 5 s later; new requests must still come after
load = {{ model = "users", users = 4, spawn_rate_per_s = 100.0, duration_s = 10.0 }}

[[base.request]]
name = "work"
path = "/diag/cpu?work_ms=2"
expect = {{ status = 200 }}

[[cell]]
name = "pool-worker-killed"
fault = [{{ at_s = 2.0, action = "kill", target = "offload_worker" }}]

[[cell]]
name = "notes"
database = "postgres"
fault = [{{ at_s = 2.0, action = "restart", target = "postgres", duration_s = 1.0 }}]

[cell.reconcile]
request = "work"
capture = "note"
sql = "SELECT id, title, description FROM notes"
expect = {{ title = "tt note", description = "under faults" }}

[[cell.request]]
name = "work"
method = "POST"
path = "/notes/"
json = {{ title = "tt note", description = "under faults" }}
capture = {{ note = "json:id" }}
record_captures = true
expect = {{ status = 201 }}
"""


@pytest.mark.postgres
@pytest.mark.skipif(missing_private_service("postgres") is not None, reason="no initdb/pg_ctl")
def test_every_request_is_accounted_for(tmp_path: Path, postgres_url: str) -> None:
    before = _private_postgres_pids()
    path = tmp_path / "faults.toml"
    path.write_text(STUDY.replace("{{", "{").replace("}}", "}"), encoding="utf-8")
    options = BenchOptions(tmp_path / "out", show_progress=False)
    run = run_bench([load_study(str(path), "quick")], options)
    [study] = run.studies
    for cell in study.cells:
        assert cell.status == "ran", cell.reason
        [repeat] = cell.repeats
        [fault] = repeat.faults
        assert fault["error"] is None, fault
        assert fault["at_s"] is not None
        assert fault["back_at_s"] >= fault["at_s"]
        assert fault["lost"] == 0  # no request went unanswered past its timeout
        assert "status_500" not in fault["failed_by_kind"]
        assert "wrong_content" not in fault["failed_by_kind"]
        assert fault["first_success_after_back_s"] is not None
    killed = study.cell("pool-worker-killed")
    assert killed is not None
    assert "SIGKILL to pid" in killed.repeats[0].faults[0]["detail"]
    notes = study.cell("notes")
    assert notes is not None
    outcome = notes.repeats[0].reconciliation
    assert outcome is not None
    assert outcome["ok"], outcome
    assert outcome["acknowledged"] > 0
    assert outcome["missing"] == 0
    # Nothing the cell started outlives it: no private PostgreSQL, no server, no pool worker.
    assert _private_postgres_pids() <= before


def _private_postgres_pids() -> set[int]:
    return {
        p.pid
        for p in psutil.process_iter(["cmdline"])
        if "perflab-pg-" in " ".join(p.info["cmdline"] or [])
    }
