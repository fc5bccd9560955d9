"""The runner against real servers: a tiny cell writes a results file in the documented format
and leaves no process behind; unreachable services skip; a user's own URL is driven as is."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import psutil
import pytest

from perflab.bench import availability, launcher
from perflab.bench.runner import BenchOptions, run_bench
from perflab.bench.study import load_study
from perflab.loadgen import LatencyHistogram
from perflab.results.document import FORMAT, read_document

TINY = """
title = "Tiny: a CPU endpoint"
question = "Does the runner work?"
slo_p99_ms = 500.0
{top}
[base]
warmup_s = 0.5
{server}
load = {{ model = "open", rate_per_s = 20.0, duration_s = 2.5, connections = 4 }}
[[base.request]]
name = "cpu"
path = "{{path}}"
expect = {{ status = 200 }}
[base.vars]
path = "/diag/cpu?work_ms=2"
{cells}
"""


def tiny_study(tmp_path: Path, *, top: str = "", server: str = "", cells: str = "") -> Path:
    path = tmp_path / "tiny.toml"
    path.write_text(TINY.format(top=top, server=server, cells=cells))
    return path


def run(tmp_path: Path, study_file: Path, **options: Any) -> dict[str, Any]:
    out = tmp_path / "out"
    study = load_study(str(study_file), "quick")
    run_bench([study], BenchOptions(out_dir=out, show_progress=False, **options))
    return read_document(out)[1]


def perflab_processes() -> list[psutil.Process]:
    found = []
    for process in psutil.process_iter(["cmdline"]):
        cmdline = process.info["cmdline"] or []
        if "perflab" in cmdline and "serve" in cmdline and process.pid != psutil.Process().pid:
            found.append(process)
    return found


def test_a_tiny_cell_writes_the_documented_results(tmp_path: Path) -> None:
    study_file = tiny_study(
        tmp_path,
        top='main_request = "cpu"',
        server='server = { workers = 1, offload = "inline" }',
        cells="",
    )
    document = run(tmp_path, study_file)
    assert document["format"] == FORMAT
    for key in ("run_id", "created_at_unix_s", "command", "profile", "repeat", "machine"):
        assert key in document
    for key in ("cpu", "cores", "memory_bytes", "git_revision", "load_avg_before", "packages"):
        assert key in document["machine"]
    assert len(document["machine"]["load_avg_after"]) == 3
    [study] = document["studies"]
    assert study["status"] == "ran"
    assert study["slo_p99_ms"] == 500.0
    assert study["main_request"] == "cpu"  # the report judges the study on this request
    [cell] = study["cells"]
    assert cell["status"] == "ran"
    assert cell["reason"] is None
    assert cell["settings"]["server"] == {"workers": 1, "offload": "inline"}
    load = {"model": "open", "rate_per_s": 20.0, "duration_s": 2.5, "connections": 4}
    assert cell["settings"]["load"] == load
    assert cell["rerun"] == f"perflab bench {study_file} --cell default --profile quick"
    [run_] = cell["runs"]
    recording = run_["recording"]
    assert recording["requests"] == 50
    assert recording["failures"] == 0
    histogram = LatencyHistogram.decode(recording["names"]["cpu"]["histogram"])
    assert histogram.total_count == 50
    assert run_["signals"]["series"], "the server was sampled while the load ran"
    assert "cpu_s" in run_["signals"]["summary"]
    assert run_["workload_cpu"]["server_cpu_s"] is not None
    conditions = run_["conditions"]
    assert {"warmup_s", "busy_pct_before", "generator_cpu_share", "steal_pct"} <= conditions.keys()
    if sys.platform == "linux":  # the kernel counts steal (0.0 on bare metal and quiet hosts)
        assert 0.0 <= conditions["steal_pct"] <= 100.0
    # Every server stopped: none left in the registry, none of this port still running.
    port = recording["target"].rsplit(":", 1)[-1].split("/")[0]
    assert not [p for p in perflab_processes() if port in " ".join(p.cmdline())]
    assert not launcher._live


def test_a_cell_needing_an_unreachable_service_is_skipped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PERFLAB_REDIS_URL", f"redis://127.0.0.1:{launcher.free_port()}/0")
    availability.forget()
    try:
        study_file = tiny_study(tmp_path, server='server = { offload = "queue" }')
        document = run(tmp_path, study_file)
    finally:
        availability.forget()
    [study] = document["studies"]
    [cell] = study["cells"]
    assert cell["status"] == "skipped"
    assert cell["runs"] == []
    assert cell["reason"].startswith("Redis not reachable at 127.0.0.1:")
    assert study["status"] == "skipped"
    assert "Redis" in study["reason"]


def test_a_users_own_url_is_driven_without_starting_a_server(tmp_path: Path) -> None:
    with launcher.perflab_serve(["--offload", "inline"], log_dir=tmp_path / "own") as own:
        cells = (
            '[[cell]]\nname = "cpu"\nrole = "right"\n'
            '[[cell]]\nname = "missing"\nrole = "naive"\nvars = { path = "/no/such/endpoint" }\n'
        )
        top = f'base_url = "{own.base_url}"\npid = {own.pid}'
        document = run(tmp_path, tiny_study(tmp_path, top=top, cells=cells))
        assert own.process.poll() is None, "the user's server is left running"
    [study] = document["studies"]
    assert study["status"] == "ran"
    assert study["seed"] is None
    assert study["main_request"] is None  # the study names none
    cpu, missing = study["cells"]
    assert cpu["status"] == "ran"
    assert cpu["settings"]["server"] is None
    assert cpu["runs"][0]["recording"]["target"].startswith(own.base_url)
    assert any("cpu_pct" in sample for sample in cpu["runs"][0]["signals"]["series"])
    assert missing["status"] == "skipped"
    assert missing["reason"].startswith("not available: cpu (GET /no/such/endpoint) answered 404")


def test_a_profile_repeat_is_the_default_and_repeat_overrides_it(tmp_path: Path) -> None:
    with launcher.perflab_serve(["--offload", "inline"], log_dir=tmp_path / "own") as own:
        study_file = tiny_study(tmp_path, top=f'base_url = "{own.base_url}"')
        text = study_file.read_text().replace("duration_s = 2.5", "duration_s = 1.0")
        study_file.write_text(text + "[profile.quick]\nrepeat = 2\n")
        by_profile = run(tmp_path / "profile", study_file, max_warmup_s=None)
        by_option = run(tmp_path / "option", study_file, max_warmup_s=None, repeat=1)
    assert len(by_profile["studies"][0]["cells"][0]["runs"]) == 2
    assert by_profile["repeat"] == 2
    assert len(by_option["studies"][0]["cells"][0]["runs"]) == 1
    assert by_option["repeat"] == 1


def test_a_study_whose_endpoints_are_missing_is_not_available(tmp_path: Path) -> None:
    with launcher.perflab_serve([], log_dir=tmp_path / "own") as own:
        top = f'base_url = "{own.base_url}"'
        study_file = tiny_study(tmp_path, top=top)
        study_file.write_text(study_file.read_text().replace("/diag/cpu?work_ms=2", "/nope"))
        document = run(tmp_path, study_file)
    [study] = document["studies"]
    assert study["status"] == "not_available"
    assert "404" in study["reason"]
    json.dumps(document)  # plain JSON all the way down


@pytest.mark.parametrize(
    ("stop", "exit_code"),
    [
        (signal.SIGINT, 130),  # a terminal's Ctrl-C
        (signal.SIGTERM, 143),  # kill, timeout, a CI runner's cancel: left servers running before
    ],
)
def test_ctrl_c_or_sigterm_stops_every_server_and_keeps_the_partial_results(
    tmp_path: Path, stop: signal.Signals, exit_code: int
) -> None:
    study_file = tiny_study(tmp_path, server="server = { workers = 1 }")
    study_file.write_text(study_file.read_text().replace("duration_s = 2.5", "duration_s = 60"))
    out = tmp_path / "out"
    command = [sys.executable, "-m", "perflab", "bench", str(study_file), "--out", str(out)]
    bench = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline_s = time.monotonic() + 120
        while not list(out.glob("logs/*/*/serve-*.log")) and time.monotonic() < deadline_s:
            time.sleep(0.2)
        time.sleep(4)  # the server is up and the load is running
        [log] = out.glob("logs/*/*/serve-*.log")
        port = log.stem.removeprefix("serve-")
        server_pids = [p.pid for p in perflab_processes() if port in p.cmdline()]
        bench.send_signal(stop)
        _, stderr = bench.communicate(timeout=60)
    finally:
        if bench.poll() is None:
            bench.kill()
            bench.wait()
    assert bench.returncode == exit_code, stderr.decode()
    assert "interrupted: partial results in" in stderr.decode()
    [cell] = read_document(out)[1]["studies"][0]["cells"]
    assert cell["status"] == "failed"
    assert cell["reason"].startswith("interrupted")
    assert server_pids, "the server had started"
    assert not [pid for pid in server_pids if psutil.pid_exists(pid)]
