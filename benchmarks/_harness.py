"""What every benchmark script needs: a `perflab serve` on a free port, and its memory.

Thin over perflab.bench.launcher (the one way to start perflab processes, shared with the
bench and the tests), keeping the benchmarks' own call shape: a log file named by the caller.

Usage:
    with perflab_serve(["--offload", "process"], {"PERFLAB_WORKERS": "1"}, log_path) as server:
        rss = tree_rss_bytes(server.pid)
        cpu = tree_cpu_s(server.pid)
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

from perflab.bench import launcher
from perflab.bench.launcher import Launched, free_port, process_tree, tree_cpu_s, tree_rss_bytes

__all__ = ["Launched", "free_port", "perflab_serve", "process_tree", "tree_cpu_s", "tree_rss_bytes"]


@contextlib.contextmanager
def perflab_serve(args: list[str], env: dict[str, str], log_path: Path) -> Iterator[Launched]:
    """Run `perflab serve ARGS` with extra environment until the block ends; its log ends up
    at `log_path` (a StartError carries its tail when it does not start)."""
    launched: Launched | None = None
    try:
        with servers.perflab_serve(args, env, log_dir=log_path.parent) as launched:
            yield launched
    finally:
        if launched is not None and launched.log_path.exists():
            launched.log_path.replace(log_path)
