"""The bench starts a foreign app (tests/foreign/shop.py, a FastAPI shop) by command and on
each runner of the server matrix, with one and two workers, samples its whole process tree,
and leaves no process behind."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pytest

from perflab.bench import launcher
from perflab.bench.runners import RUNNERS, runner_problem
from perflab.bench.signals import SignalSampler
from tests.bench.foreign_support import (
    FOREIGN_DIR,
    FRONT,
    cells,
    leftovers,
    run_study,
    write_study,
)

COMMAND = 'command = "{python} -m uvicorn shop:app --host {host} --port {port} --workers {workers}"'

FLOW = """
[base.vars]
user = "ada"

[[base.on_start]]
name = "login"
method = "POST"
path = "/login"
form = { username = "{user}", password = "secret" }
capture = { token = "json:access_token" }
expect = { status = 200 }

[[base.request]]
name = "create"
method = "POST"
path = "/items"
headers = { Authorization = "Bearer {token}" }
json = { name = "teapot of {user}", price = 2.5 }
capture = { item = "json:id" }
expect = { status = 201, json = { owner = "ada" } }

[[base.request]]
name = "read"
path = "/items/{item}"
headers = { Authorization = "Bearer {token}" }
expect = { status = 200, json = { owner = "ada" } }

[[base.request]]
name = "delete"
method = "DELETE"
path = "/items/{item}"
headers = { Authorization = "Bearer {token}" }
expect = { status = 204 }

[[base.flow]]
name = "buy"
steps = ["create", "read", "delete"]
"""


def test_a_server_command_runs_with_one_and_two_workers(tmp_path: Path) -> None:
    cell_tables = '[[cell]]\nname = "one"\n[[cell]]\nname = "two"\nserver = { workers = 2 }\n'
    study_file, token = write_study(
        tmp_path, COMMAND + '\nready = "/openapi.json"', FRONT + cell_tables
    )
    document = run_study(tmp_path, study_file)
    one, two = cells(document)["one"], cells(document)["two"]
    for cell in (one, two):
        assert cell["status"] == "ran", cell["reason"]
        recording = cell["runs"][0]["recording"]
        assert recording["requests"] == 100
        assert recording["failures"] == 0
        series = cell["runs"][0]["signals"]["series"]
        assert series, "the server's tree was sampled"
        assert all({"cpu_pct", "rss_bytes", "threads", "open_fds"} <= set(s) for s in series)
        assert all("loop_lag_ms" not in s for s in series)  # no perflab /metrics there
        assert cell["runs"][0]["workload_cpu"]["server_cpu_s"] > 0
        assert "{port}" in cell["settings"]["server"]["command_line"]
    # Two uvicorn workers: the supervisor, its two children (and multiprocessing's tracker).
    assert max(s["processes"] for s in two["runs"][0]["signals"]["series"]) >= 3
    assert max(s["processes"] for s in one["runs"][0]["signals"]["series"]) == 1
    assert "--workers 2" in two["settings"]["server"]["command_line"]
    assert leftovers(token) == []
    assert launcher._live == {}


def test_a_flow_with_captures_has_no_failures_on_one_worker(tmp_path: Path) -> None:
    body = FLOW.replace(
        "[base.vars]",
        '[base.load]\nmodel = "users"\nusers = 4\nspawn_rate_per_s = 100.0\n'
        "duration_s = 2.0\n\n[base.vars]",
    )
    study_file, token = write_study(tmp_path, COMMAND, body)
    study_file.write_text(
        study_file.read_text().replace(
            'load = { model = "open", rate_per_s = 50.0, duration_s = 2.0, connections = 4 }\n', ""
        )
    )
    document = run_study(tmp_path, study_file)
    [cell] = document["studies"][0]["cells"]
    assert cell["status"] == "ran", cell["reason"]
    names = cell["runs"][0]["recording"]["names"]
    assert names["login"]["requests"] == 4  # once per user
    for step in ("create", "read", "delete"):
        assert names[step]["requests"] > 10, names[step]
        assert names[step]["failures"] == 0, names[step]
        assert names[step]["skipped"] == 0
    assert names["create"]["requests"] - names["delete"]["requests"] in range(0, 5)
    assert leftovers(token) == []


def test_a_capture_that_fails_skips_the_steps_that_need_it(tmp_path: Path) -> None:
    body = FLOW.replace('capture = { item = "json:id" }', 'capture = { item = "json:no_such" }')
    study_file, token = write_study(tmp_path, COMMAND, body)
    document = run_study(tmp_path, study_file)
    [cell] = document["studies"][0]["cells"]
    assert cell["status"] == "ran", cell["reason"]
    names = cell["runs"][0]["recording"]["names"]
    assert names["create"]["failures_by_kind"] == {"capture_failed": names["create"]["requests"]}
    assert names["read"]["requests"] == names["delete"]["requests"] == 0
    assert names["read"]["skipped"] > 0
    assert names["delete"]["skipped"] > 0
    assert leftovers(token) == []


def test_the_app_on_every_installed_runner_with_one_and_two_workers(tmp_path: Path) -> None:
    cell_tables = "".join(
        f'[[cell]]\nname = "{runner}-{workers}w"\n'
        f'server = {{ runner = "{runner}", workers = {workers} }}\n'
        for runner in RUNNERS
        for workers in (1, 2)
    )
    study_file, token = write_study(
        tmp_path, 'app = "shop:app"\nready_timeout_s = 90.0', FRONT + cell_tables
    )
    document = run_study(tmp_path, study_file)
    ran = []
    for name, cell in cells(document).items():
        runner = name.rsplit("-", 1)[0]
        problem = runner_problem(runner, "asgi", sys.executable)
        if problem:
            assert cell["status"] == "skipped"
            assert cell["reason"] == problem
            continue
        assert cell["status"] == "ran", f"{name}: {cell['reason']}"
        assert cell["runs"][0]["recording"]["failures"] == 0, name
        processes = max(s["processes"] for s in cell["runs"][0]["signals"]["series"])
        assert processes >= (2 if name.endswith("2w") else 1), name
        ran.append(name)
    assert "uvicorn-2w" in ran  # uvicorn and granian are perflab dependencies
    assert "granian-2w" in ran
    assert leftovers(token) == []


def test_a_wsgi_app_on_gunicorn_and_granian(tmp_path: Path) -> None:
    for runner in ("gunicorn", "granian"):
        if runner_problem(runner, "wsgi", sys.executable):
            pytest.skip(f"{runner} is not installed")
    cell_tables = (
        '[[cell]]\nname = "gunicorn"\nserver = { runner = "gunicorn", workers = 2 }\n'
        '[[cell]]\nname = "granian"\nserver = { runner = "granian" }\n'
        '[[base.request]]\nname = "echo"\nmethod = "POST"\npath = "/echo"\n'
        "json = { a = 1 }\nexpect = { status = 200, json = { a = 1 } }\n"
    )
    study_file, token = write_study(
        tmp_path, 'app = "wsgi_shop:app"\ninterface = "wsgi"', FRONT + cell_tables
    )
    study_file.write_text(study_file.read_text().replace('shop = "open"', 'interface = "wsgi"'))
    document = run_study(tmp_path, study_file)
    for name, cell in cells(document).items():
        assert cell["status"] == "ran", f"{name}: {cell['reason']}"
        assert cell["runs"][0]["recording"]["failures"] == 0, name
        assert "--interface wsgi" in cell["settings"]["server"]["command_line"] or (
            "--worker-class" not in cell["settings"]["server"]["command_line"]
        )
    assert leftovers(token) == []


@pytest.mark.parametrize("metrics", [True, False])
def test_a_foreign_metrics_page_is_read_and_a_missing_one_left_alone(
    tmp_path: Path, metrics: bool
) -> None:
    port = launcher.free_port()
    argv = [sys.executable, "-m", "uvicorn", "shop:app", "--port", str(port)]
    env = {"SHOP_DB": str(tmp_path / "shop.db"), **({"SHOP_METRICS": "1"} if metrics else {})}
    with launcher.launch_server(
        argv, port=port, env=env, cwd=FOREIGN_DIR, log_dir=tmp_path, label="shop"
    ) as server:
        sampler = SignalSampler(server.base_url, server.pid, interval_s=0.1)
        sampler.start(time.time())
        deadline_s = time.monotonic() + 30
        while len(sampler.series) < 3 and time.monotonic() < deadline_s:
            time.sleep(0.05)
        signals = sampler.stop()
    series = signals["series"]
    assert len(series) >= 3
    assert all("threads" in sample and "open_fds" in sample for sample in series)
    if metrics:
        assert all(sample.get("in_progress") == 1 for sample in series)  # the scrape itself
    else:
        assert all("in_progress" not in sample for sample in series)
        metrics_hits = server.log().count("GET /metrics")
        assert metrics_hits == 1, "a server without /metrics is asked once"
