"""Helpers for the bench's tests of foreign servers (tests/foreign/): study files that start
them, a run of the bench, and the processes a run might have left behind.

Every study written here tags its servers' environment with a token of its own, so a test can
find anything of its run still alive: children of the test process, and any process, orphan
included, whose environment holds the token.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from pathlib import Path
from typing import Any

import psutil

from perflab.bench.runner import BenchOptions, run_bench
from perflab.bench.study import load_study
from perflab.results.document import read_document

FOREIGN_DIR = Path(__file__).resolve().parent.parent / "foreign"
TOKEN_VAR = "PERFLAB_TEST_RUN_TOKEN"

HEAD = """
title = "Foreign shop"
question = "Does the bench run a server nobody on the project wrote?"
slo_p99_ms = 1000.0

[base]
warmup_s = 0.2
timeout_s = 20.0
load = {{ model = "open", rate_per_s = 50.0, duration_s = 2.0, connections = 4 }}

[base.server]
{server}
cwd = "{cwd}"
env = {{ SHOP_DB = "{db}", {token_var} = "{token}"{env} }}
"""

FRONT = """
[[base.request]]
name = "front"
path = "/"
expect = { status = 200, json = { shop = "open" } }
"""


def write_study(
    tmp_path: Path, server: str, body: str = FRONT, env: str = "", name: str = "shop"
) -> tuple[Path, str]:
    """A study file in `tmp_path` whose [base.server] holds `server` (TOML lines), and the
    token its servers carry. Usage: ``path, token = write_study(tmp_path, 'app = "shop:app"')``
    """
    token = secrets.token_hex(6)
    head = HEAD.format(
        server=server,
        cwd=FOREIGN_DIR,
        db=tmp_path / "shop.db",
        token_var=TOKEN_VAR,
        token=token,
        env=env,
    )
    path = tmp_path / f"{name}.toml"
    path.write_text(head + body)
    return path, token


def run_study(
    tmp_path: Path, study_file: Path, profile: str = "quick", **options: Any
) -> dict[str, Any]:
    """Run the study with the bench's runner; its results document. Usage: see tests."""
    out = tmp_path / "out"
    study = load_study(str(study_file), profile)
    run_bench([study], BenchOptions(out_dir=out, show_progress=False, **options))
    return read_document(out)[1]


def cells(document: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The first study's cells by name. Usage: ``cells(document)["one"]["status"]``"""
    return {cell["name"]: cell for cell in document["studies"][0]["cells"]}


def leftovers(token: str) -> list[psutil.Process]:
    """Processes of this test's run still alive: children of the test process, and any
    process whose environment carries `token` (orphans of a killed server included)."""
    me = psutil.Process()
    found = {
        p.pid: p
        for p in me.children(recursive=True)
        if _running(p) and not _own_multiprocessing_helper(p, me)
    }
    for process in psutil.process_iter():
        if process.pid == me.pid or process.pid in found:
            continue
        with contextlib.suppress(psutil.Error):
            if process.environ().get(TOKEN_VAR) == token and _running(process):
                found[process.pid] = process
    return list(found.values())


# The test process's own multiprocessing helpers: an earlier test in the same session that
# ran a process pool in-process (the offloaders) leaves them for the session's life. Never
# started by a server under test: those would be its grandchildren, not the test's children.
_HELPERS = ("multiprocessing.resource_tracker", "multiprocessing.forkserver")


def _own_multiprocessing_helper(process: psutil.Process, me: psutil.Process) -> bool:
    with contextlib.suppress(psutil.Error):
        if process.ppid() == me.pid:
            command = " ".join(process.cmdline())
            return any(helper in command for helper in _HELPERS)
    return False


def _running(process: psutil.Process) -> bool:
    with contextlib.suppress(psutil.Error):
        return process.status() != psutil.STATUS_ZOMBIE
    return False


def tagged_env(token: str) -> dict[str, str]:
    """The environment of a server started by hand in a test, tagged with `token`."""
    return {**os.environ, TOKEN_VAR: token}
