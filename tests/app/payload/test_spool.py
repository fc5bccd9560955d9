"""Spooled bodies: a killed server's files are removed by the next start; live ones stay."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from perflab.app.payload.spool import remove_stale_spool_files, spool_dir
from tests.support.servers import perflab_server


def dead_pid() -> int:
    """The pid of a process that has exited (and been reaped)."""
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def test_only_files_of_stopped_processes_are_removed(tmp_path: Path) -> None:
    stale = tmp_path / f"perflab-body-{dead_pid()}-abc123"
    live = tmp_path / f"perflab-body-{os.getpid()}-def456"
    not_ours = [tmp_path / "perflab-body-x-1", tmp_path / "other-123-4"]
    for path in (stale, live, *not_ours):
        path.write_bytes(b"{}")
    assert remove_stale_spool_files(tmp_path) == [stale]
    assert sorted(tmp_path.iterdir()) == sorted([live, *not_ours])


def test_a_starting_server_removes_what_a_killed_one_left(tmp_path: Path) -> None:
    stale = spool_dir() / f"perflab-body-{dead_pid()}-killed"
    live = spool_dir() / f"perflab-body-{os.getpid()}-running"
    try:
        stale.write_bytes(b'{"name": "left behind"')
        live.write_bytes(b'{"name": "still being read"')
        with perflab_server(tmp_path, "--offload", "inline") as server:
            assert not stale.exists()
            assert live.exists()
            assert "body file(s) left by stopped servers" in server.log()
    finally:
        stale.unlink(missing_ok=True)
        live.unlink(missing_ok=True)
