"""perflab.bench.launcher: real perflab processes start, answer, and leave nothing behind."""

from __future__ import annotations

import _thread
import secrets
import threading
import time
import urllib.request
from pathlib import Path

import psutil
import pytest
import redis

from perflab.bench import launcher
from perflab.bench.launcher import (
    StartError,
    perflab_downstream,
    perflab_serve,
    perflab_worker,
    process_tree,
    stop_all,
    tree_cpu_s,
    tree_rss_bytes,
)


def still_running(processes: list[psutil.Process]) -> list[psutil.Process]:
    """Those still running (a zombie waiting to be reaped has stopped running)."""
    running = []
    for process in processes:
        try:
            if process.is_running() and process.status() != psutil.STATUS_ZOMBIE:
                running.append(process)
        except psutil.NoSuchProcess:
            pass
    return running


def get_status(url: str) -> int:
    with urllib.request.urlopen(url, timeout=30) as response:
        status: int = response.status
        return status


def test_serve_answers_and_its_whole_tree_stops(tmp_path: Path) -> None:
    args = ["--workers", "2", "--offload", "process"]
    with perflab_serve(args, {"PERFLAB_OFFLOAD_WORKERS": "2"}, log_dir=tmp_path) as server:
        assert get_status(server.url("/healthz")) == 200
        tree = process_tree(server.pid)
        assert len(tree) > 2  # the supervisor, its server workers and their offload pools
        assert tree_rss_bytes(server.pid) > 0
        assert tree_cpu_s(server.pid) > 0
        assert server.pid in launcher._live
        assert server.terminate() == 0, server.log()  # a graceful stop
    assert still_running(tree) == []
    assert server.pid not in launcher._live
    assert server.log_path.parent == tmp_path


def test_a_server_that_cannot_start_raises_with_its_log(tmp_path: Path) -> None:
    with (
        pytest.raises(StartError, match="exited with 2") as raised,
        perflab_serve(["--server", "no-such-server"], log_dir=tmp_path),
    ):
        pass  # pragma: no cover
    assert "no-such-server" in str(raised.value)  # typer's complaint, from the log tail
    assert launcher._live == {}


def test_a_server_never_ready_is_stopped_after_the_timeout(tmp_path: Path) -> None:
    with (
        pytest.raises(StartError, match="not ready after"),
        perflab_serve(log_dir=tmp_path, ready_path="/no-such-path", ready_timeout_s=3),
    ):
        pass  # pragma: no cover
    assert launcher._live == {}


def test_stop_all_stops_what_is_still_running(tmp_path: Path) -> None:
    with (
        perflab_serve(["--workers", "2"], log_dir=tmp_path) as server,
        perflab_downstream(0.1, log_dir=tmp_path) as downstream,
    ):
        assert get_status(downstream.url("/healthz")) == 200
        trees = process_tree(server.pid) + process_tree(downstream.pid)
        stop_all()
        assert still_running(trees) == []
        assert launcher._live == {}
        assert server.process.poll() is not None
    # Leaving the blocks stops them again: harmless once they are gone.


def test_ctrl_c_while_waiting_for_readiness_leaves_nothing(tmp_path: Path) -> None:
    seen: list[psutil.Process] = []

    def interrupt_once_it_has_workers() -> None:
        deadline_s = time.monotonic() + 120
        while time.monotonic() < deadline_s:
            for launched in list(launcher._live.values()):
                tree = process_tree(launched.pid)
                if len(tree) > 1:  # its server workers are up: there is a tree to leave behind
                    seen.extend(tree)
                    _thread.interrupt_main()
                    return
            time.sleep(0.05)

    interrupter = threading.Thread(target=interrupt_once_it_has_workers)
    interrupter.start()
    try:
        with (
            pytest.raises(KeyboardInterrupt),
            perflab_serve(["--workers", "2"], log_dir=tmp_path, ready_path="/never"),
        ):
            pass  # pragma: no cover
    finally:
        interrupter.join()
    assert seen
    assert still_running(seen) == []
    assert launcher._live == {}


def test_worker_is_ready_once_its_consumers_are_live_in_redis(
    tmp_path: Path, redis_url: str
) -> None:
    namespace = f"test-servers-{secrets.token_hex(4)}"
    args = ["--redis", redis_url, "--namespace", namespace, "--processes", "2", "--kernels", "cpu"]
    with perflab_worker(args, log_dir=tmp_path) as worker:
        assert worker.base_url is None
        tree = process_tree(worker.pid)
        client = redis.Redis.from_url(redis_url)
        try:
            live = [m.decode() for m in client.zrange("{" + namespace + "}:workers", 0, -1)]
        finally:
            client.close()
        live_pids = {int(name.split(":")[-2]) for name in live}
        assert len(live_pids & {p.pid for p in tree}) == 2
        assert worker.terminate() == 0, worker.log()
    assert still_running(tree) == []
