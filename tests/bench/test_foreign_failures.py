"""A foreign server that crashes at start, never gets ready, ignores SIGTERM, finds its port
taken, or is interrupted by Ctrl-C: the cell fails with the exit code and the log's last
lines, and no process is left behind."""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import psutil
import pytest

from perflab.bench import launcher
from perflab.bench.processes import process_tree
from perflab.results.document import read_document
from perflab.results.errors import StartError
from tests.bench.foreign_support import (
    FOREIGN_DIR,
    TOKEN_VAR,
    cells,
    leftovers,
    run_study,
    write_study,
)

UVICORN = 'command = "{python} -m uvicorn shop:app --host {host} --port {port} --workers {workers}"'


def test_a_server_that_crashes_at_start_fails_its_cell_with_its_log(tmp_path: Path) -> None:
    # One worker: the process exits (uvicorn's supervisor of two would respawn them until the
    # ready timeout, which the never-ready test covers).
    study_file, token = write_study(tmp_path, UVICORN, env=', SHOP_CRASH = "1"')
    document = run_study(tmp_path, study_file)
    [cell] = document["studies"][0]["cells"]
    assert cell["status"] == "failed"
    first_line, *rest = cell["reason"].splitlines()
    # The first line (what the terminal shows) has the exit code and the log's last line.
    assert "exited with" in first_line
    assert "RuntimeError: shop: SHOP_CRASH is set" in first_line
    assert any("shop.py" in line for line in rest)  # the traceback's last frames
    assert leftovers(token) == []
    assert launcher._live == {}


def test_a_server_that_never_gets_ready_is_stopped_after_its_timeout(tmp_path: Path) -> None:
    server = UVICORN + "\nready_timeout_s = 3.0"
    study_file, token = write_study(tmp_path, server, env=', SHOP_NEVER_READY = "1"')
    started_s = time.monotonic()
    document = run_study(tmp_path, study_file)
    assert time.monotonic() - started_s < 60
    [cell] = document["studies"][0]["cells"]
    assert cell["status"] == "failed"
    assert "not ready after 3 s" in cell["reason"]
    assert "answered 503" in cell["reason"]  # what the ready path said, last
    assert leftovers(token) == []


def test_a_server_that_ignores_sigterm_is_killed_after_the_grace(tmp_path: Path) -> None:
    server = 'command = "{python} stubborn.py {port}"\nstop_grace_s = 1.0'
    body = '[[base.request]]\nname = "any"\npath = "/"\nexpect = { status = 200 }\n'
    study_file, token = write_study(tmp_path, server, body)
    started_s = time.monotonic()
    document = run_study(tmp_path, study_file)
    assert time.monotonic() - started_s < 60
    [cell] = document["studies"][0]["cells"]
    assert cell["status"] == "ran", cell["reason"]
    # The server and both helpers (one left the process group) were all there, and are gone.
    assert max(s["processes"] for s in cell["runs"][0]["signals"]["series"]) == 3
    assert leftovers(token) == []


class _Squatter(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, format: str, *args: object) -> None:
        pass


def test_a_port_another_program_holds_is_never_measured(tmp_path: Path) -> None:
    squatter = ThreadingHTTPServer(("127.0.0.1", 0), _Squatter)
    port = squatter.server_address[1]
    threading.Thread(target=squatter.serve_forever, daemon=True).start()
    argv = [sys.executable, "-m", "uvicorn", "shop:app", "--port", str(port)]
    env = {"SHOP_DB": str(tmp_path / "shop.db"), TOKEN_VAR: "squatted"}
    try:
        with (
            pytest.raises(StartError, match=r"exited with|another program holds the port"),
            launcher.launch_server(
                argv, port=port, env=env, cwd=FOREIGN_DIR, log_dir=tmp_path, label="shop"
            ),
        ):
            pass  # pragma: no cover
    finally:
        squatter.shutdown()
        squatter.server_close()
    assert leftovers("squatted") == []
    assert launcher._live == {}


def test_ctrl_c_stops_a_foreign_server_and_all_its_workers(tmp_path: Path) -> None:
    study_file, token = write_study(tmp_path, UVICORN + "\nworkers = 2")
    study_file.write_text(study_file.read_text().replace("duration_s = 2.0", "duration_s = 60.0"))
    out = tmp_path / "out"
    command = [sys.executable, "-m", "perflab", "bench", str(study_file), "--out", str(out)]
    bench = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    seen: list[psutil.Process] = []
    try:
        deadline_s = time.monotonic() + 120
        while len(seen) < 3 and time.monotonic() < deadline_s:
            servers = [p for p in process_tree(bench.pid)[1:] if "uvicorn" in p.cmdline()]
            seen = process_tree(servers[0].pid) if servers else []
            time.sleep(0.2)
        time.sleep(2)  # the load is running
        bench.send_signal(signal.SIGINT)
        _, stderr = bench.communicate(timeout=60)
    finally:
        if bench.poll() is None:
            bench.kill()
            bench.wait()
    assert bench.returncode == 130, stderr.decode()
    assert len(seen) >= 3, "the supervisor and its two workers were running"
    assert [p for p in seen if p.is_running() and p.status() != psutil.STATUS_ZOMBIE] == []
    assert cells(read_document(out)[1])["default"]["status"] == "failed"
    assert leftovers(token) == []
