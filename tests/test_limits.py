"""perflab.limits: each connection is a file, and a process started with the common soft limit
of 1,024 (here: 256) open files must lift it before it can hold seed 004's connections."""

from __future__ import annotations

import json
import resource
import subprocess
import sys
from pathlib import Path

import pytest

from perflab import limits
from perflab.bench.launcher import perflab_downstream, perflab_serve
from tests.support.servers import get_json

LOW_SOFT_LIMIT = 256
_, HARD_LIMIT = resource.getrlimit(resource.RLIMIT_NOFILE)

needs_headroom = pytest.mark.skipif(
    HARD_LIMIT != resource.RLIM_INFINITY and HARD_LIMIT < 4096,
    reason=f"the hard open-files limit ({HARD_LIMIT}) leaves nothing to raise",
)


def low_soft_limit() -> None:
    """preexec_fn: start the child as most systems start a process (a low soft limit)."""
    resource.setrlimit(resource.RLIMIT_NOFILE, (LOW_SOFT_LIMIT, HARD_LIMIT))


def perflab_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "perflab", *args]


@needs_headroom
def test_raises_the_soft_limit_to_the_hard_limit() -> None:
    code = (
        "import resource; from perflab.limits import raise_open_files_limit as r; "
        "before = resource.getrlimit(resource.RLIMIT_NOFILE)[0]; "
        "print(before, r(), resource.getrlimit(resource.RLIMIT_NOFILE)[0])"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        check=True,
        capture_output=True,
        text=True,
        preexec_fn=low_soft_limit,
    ).stdout
    before, returned, after = (int(word) for word in out.split())
    assert before == LOW_SOFT_LIMIT
    assert returned == after == HARD_LIMIT


def test_never_lowers_the_limit() -> None:
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    assert (limits.raise_open_files_limit() or resource.RLIM_INFINITY) >= soft
    assert resource.getrlimit(resource.RLIMIT_NOFILE)[0] >= soft


def test_listen_backlog_is_the_kernels_longest() -> None:
    somaxconn = Path("/proc/sys/net/core/somaxconn")
    if somaxconn.exists():
        assert limits.listen_backlog() == int(somaxconn.read_text())
    assert limits.listen_backlog() > 128  # aiohttp's default, which drops a pool's burst


@needs_headroom
def test_every_process_of_the_study_lifts_its_own_limit(tmp_path: Path) -> None:
    # 400 users x 3 calls, every process started with 256 open files: the loader needs 400
    # sockets, the service 400 + 1,200, the downstream 1,200. Without the raise, accept()
    # and connect() fail with EMFILE, and so do requests.
    users = 400
    data = {"PERFLAB_DATA_DIR": str(tmp_path / "data")}
    with perflab_downstream(
        0.5, log_dir=tmp_path, env=data, preexec_fn=low_soft_limit
    ) as downstream:
        _, health = get_json(downstream.url("/healthz"))
        assert health["open_files_limit"] == HARD_LIMIT
        env = {**data, "PERFLAB_DOWNSTREAM_URL": downstream.url("")}
        with perflab_serve(
            ["--downstream", "http"], env, log_dir=tmp_path, preexec_fn=low_soft_limit
        ) as service:
            url = service.url("/async_concurrent")
            load = ["load", url, "-u", str(users), "-r", str(users), "-t", "2s", "--format", "json"]
            out = subprocess.run(
                perflab_command(*load),
                check=True,
                capture_output=True,
                text=True,
                preexec_fn=low_soft_limit,
                timeout=60,
            ).stdout
    recording = json.loads(out)
    assert recording["failures_by_kind"] == {}
    assert recording["requests"] >= users
