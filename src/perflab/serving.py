"""Runs the service under uvicorn or granian with N workers, from settings built at the edge.

Worker processes rebuild the same settings from `PERFLAB_*` variables (the app factory reads
them), and share one Prometheus multiprocess directory so `/metrics` covers every worker.
"""

from __future__ import annotations

import os
import shutil
import signal
import tempfile
from pathlib import Path

from perflab.config import ServerKind, Settings
from perflab.limits import cap_open_files_limit, listen_backlog

APP_FACTORY = "perflab.app.main:create_app_from_env"


def _prepare_environment(settings: Settings) -> Path:
    os.environ.update(settings.to_env())
    # Must be set before any process imports prometheus_client, and empty: files left by an
    # earlier run would be merged into this run's metrics.
    metrics_dir = Path(tempfile.mkdtemp(prefix="perflab-metrics-"))
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(metrics_dir)
    return metrics_dir


def run_server(settings: Settings) -> None:
    """Serve until SIGINT/SIGTERM; in-flight requests get `shutdown_timeout_s` to finish."""
    if settings.open_files_limit is not None:
        cap_open_files_limit(settings.open_files_limit)  # workers inherit it
    metrics_dir = _prepare_environment(settings)
    try:
        if settings.server is ServerKind.GRANIAN:
            _run_granian(settings)
        else:
            _run_uvicorn(settings)
    finally:
        shutil.rmtree(metrics_dir, ignore_errors=True)


def _run_uvicorn(settings: Settings) -> None:
    import uvicorn
    from uvicorn.config import LOGGING_CONFIG

    from perflab.app.observe import logging_config
    from perflab.app.slow_clients import GuardedHttpToolsProtocol

    config = uvicorn.Config(
        APP_FACTORY,
        factory=True,
        host=settings.host,
        port=settings.port,
        workers=settings.workers,
        loop="uvloop",
        # httptools with head and send timeouts and descriptor shedding (slow clients).
        http=GuardedHttpToolsProtocol,
        timeout_keep_alive=settings.keep_alive_timeout_s,
        log_level=settings.log_level,
        log_config=logging_config(settings.log_level, LOGGING_CONFIG),
        access_log=False,
        timeout_graceful_shutdown=int(settings.shutdown_timeout_s),
        # uvicorn's default (2048) overflows when thousands of users connect within a second
        # (seed 004 at 10,000 users): ask for the kernel's longest accept queue.
        backlog=listen_backlog(),
    )
    if settings.workers == 1:
        # uvicorn re-raises the signal it caught once it has shut down, so a graceful SIGTERM
        # would still end the process with "killed by SIGTERM". A no-op handler installed first
        # becomes the one it restores and re-raises into: a graceful stop then exits 0.
        signal.signal(signal.SIGTERM, lambda signum, frame: None)
        uvicorn.Server(config).run()
        return
    from uvicorn.supervisors import Multiprocess

    sock = config.bind_socket()
    Multiprocess(config, sockets=[sock]).run()


def _run_granian(settings: Settings) -> None:
    from granian import Granian
    from granian.constants import Interfaces
    from granian.http import HTTP1Settings
    from granian.log import LOGGING_CONFIG

    from perflab.app.observe import logging_config

    Granian(
        APP_FACTORY,
        factory=True,
        address=settings.host,
        port=settings.port,
        interface=Interfaces.ASGI,
        workers=settings.workers,
        log_level=settings.log_level,  # type: ignore[arg-type]  # granian takes its LogLevels enum
        log_dictconfig=logging_config(settings.log_level, LOGGING_CONFIG),
        workers_kill_timeout=int(settings.shutdown_timeout_s) or None,
        backlog=listen_backlog(),
        # Granian's own guard against slow heads (it also bounds idle keep-alive waits); it has
        # no send timeout or descriptor shedding (docs/hardening.md).
        http1_settings=HTTP1Settings(header_read_timeout=int(settings.header_timeout_s * 1000)),
    ).serve()
