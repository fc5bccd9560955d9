"""Start what one cell runs against: `perflab serve` (with `perflab worker`s and `perflab
downstream` when the cell needs them) on free ports, a study's own server command (or app on a
runner: `perflab.bench.server_command`) on a free port, or nothing for a user's own URL.

Every process comes from `perflab.bench.launcher`, in its own process group, and is stopped when
the block ends, whatever happened inside it. A cell on PostgreSQL gets a database of its own
for each run (`perflab.bench.fresh_database`), dropped when the block ends, so every repeat
starts from the same state.

Usage::

    with cell_target(study, plan, log_dir=out / "logs" / "notes-async") as target:
        target.base_url, target.pid
"""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from perflab.bench import launcher
from perflab.bench.availability import postgres_url, redis_url
from perflab.bench.faults.runner import Restartable
from perflab.bench.faults.session import cell_fault_plan, private_services
from perflab.bench.fresh_database import fresh_database
from perflab.bench.server_command import server_command
from perflab.bench.study import CellPlan, Study


@dataclass(frozen=True)
class Target:
    """Where the load goes, the process whose tree the signals watch (None: unknown), and
    what a fault can reach: queue workers, private services, the cell's database."""

    base_url: str
    pid: int | None
    queue_worker_pids: tuple[int, ...] = ()
    services: dict[str, Restartable] = field(default_factory=dict)  # "redis", "postgres"
    database_url: str | None = None


def serve_args(server: dict[str, Any]) -> list[str]:
    """`perflab serve` options from a [server] table. Usage: ``serve_args({"workers": 2})``"""
    args: list[str] = []
    for key, value in sorted(server.items()):
        args += [f"--{key.replace('_', '-')}", str(value)]
    return args


def server_env(plan: CellPlan, data_dir: Path) -> dict[str, str]:
    """PERFLAB_* variables for the cell's server (and its workers): the cell's [env], a fresh
    data folder, and its database. Usage: ``server_env(plan, tmp / "data")``"""
    env = {"PERFLAB_DATA_DIR": str(data_dir)}
    database = plan.settings.get("database")
    if database == "sqlite":
        # Named explicitly, so a PERFLAB_DATABASE_URL in the user's shell cannot leak in.
        env["PERFLAB_DATABASE_URL"] = f"sqlite:///{data_dir / 'notes.db'}"
    elif database == "postgres":
        env["PERFLAB_DATABASE_URL"] = postgres_url()
    if "downstream_latency_s" in plan.settings:
        env["PERFLAB_DOWNSTREAM_LATENCY_S"] = str(plan.settings["downstream_latency_s"])
    if "redis" in plan.needs:
        env["PERFLAB_REDIS_URL"] = redis_url()
        # A namespace per cell: jobs left by an earlier cell never reach this one's workers.
        env["PERFLAB_QUEUE_NAMESPACE"] = f"bench-{plan.name}-{secrets.token_hex(3)}"
    env.update({k: str(v) for k, v in plan.settings.get("env", {}).items()})
    return env


@contextlib.contextmanager
def cell_target(study: Study, plan: CellPlan, *, log_dir: Path) -> Iterator[Target]:
    """The running service for one run of `plan`. Raises launcher.StartError. Usage: see module."""
    if plan.server is None:
        assert study.base_url is not None  # study.py: no [server] means a base_url is given
        yield Target(study.base_url.rstrip("/"), study.pid)
        return
    if plan.foreign:
        with foreign_server(plan, log_dir=log_dir) as server:
            assert server.base_url is not None
            yield Target(server.base_url, server.pid)
        return
    env = server_env(plan, log_dir / "data")
    with contextlib.ExitStack() as stack:
        # A fault cell's private Redis/PostgreSQL first, so they stop after everything else.
        needs = cell_fault_plan(plan.settings, plan.name).private
        services, private_env = stack.enter_context(private_services(needs, log_dir))
        env.update(private_env)
        if plan.settings.get("database") == "postgres" and "postgres" not in services:
            # Entered first, so it is dropped last: after every process using it has stopped.
            env["PERFLAB_DATABASE_URL"] = stack.enter_context(fresh_database(postgres_url()))
        if plan.settings.get("downstream_service"):
            latency_s = float(plan.settings.get("downstream_latency_s", 5.0))
            downstream = stack.enter_context(
                launcher.perflab_downstream(latency_s, log_dir=log_dir)
            )
            assert downstream.base_url is not None
            env["PERFLAB_DOWNSTREAM"] = "http"
            env["PERFLAB_DOWNSTREAM_URL"] = downstream.base_url
        queue_workers = int(plan.settings.get("queue_workers", 0))
        worker_pids: tuple[int, ...] = ()
        if queue_workers:
            worker_args = ["--processes", str(queue_workers)]
            worker = stack.enter_context(launcher.perflab_worker(worker_args, env, log_dir=log_dir))
            worker_pids = (worker.pid,)
        server = stack.enter_context(
            launcher.perflab_serve(serve_args(plan.server), env, log_dir=log_dir)
        )
        assert server.base_url is not None
        database_url = env.get("PERFLAB_DATABASE_URL") if plan.settings.get("database") else None
        yield Target(server.base_url, server.pid, worker_pids, services, database_url)


@contextlib.contextmanager
def foreign_server(plan: CellPlan, *, log_dir: Path) -> Iterator[launcher.Launched]:
    """The cell's own server command (or app on a runner), on a free port, until the block
    ends. Raises StartError with its exit code and log tail. Usage: ``foreign_server(plan, ...)``
    """
    assert plan.server is not None
    port = launcher.free_port()
    variables = plan.settings.get("vars", {})
    command = server_command(
        plan.server, variables, plan.base_dir, port=port, extra_env=plan.settings.get("env")
    )
    with launcher.launch_server(
        command.argv,
        port=port,
        env=command.env,
        cwd=command.cwd,
        log_dir=log_dir,
        label=command.label,
        ready_path=command.ready_path,
        ready_timeout_s=command.ready_timeout_s,
        stop_grace_s=command.stop_grace_s,
    ) as server:
        yield server
