"""perflab's part in locust's start-up: its options, and the master's or a worker's handlers.

At init, the master builds the cell (`perflab.locust.cell_load`), tells locust how many users
of each stream's class to run (``fixed_count``; the users total and spawn rate follow from the
load models, `perflab.locust.shares`) and installs `MasterRun`; a worker installs `WorkerRun`.
A cell that cannot be loaded stops the master with the reason. Locust's local (single
process) runner is refused: perflab's own `perflab load` is that, and better.

Usage (the locustfile)::

    from perflab.locust.hooks import register
    register()
"""

from __future__ import annotations

import logging
import sys
from typing import Any

from locust import events
from locust.env import Environment
from locust.runners import MasterRunner, WorkerRunner

from perflab.loadgen.errors import LoadgenError
from perflab.locust import protocol
from perflab.locust.cell_load import CellLoad, load_cell
from perflab.locust.master import MasterRun
from perflab.locust.options import PerflabOptions, add_arguments
from perflab.locust.shares import spawn_rate_per_s, users_per_stream
from perflab.locust.users import STREAM_USERS
from perflab.locust.worker import WorkerRun
from perflab.results.errors import LabError

logger = logging.getLogger("perflab.locust")
_registered = False


def configure_users(environment: Environment, cell: CellLoad) -> None:
    """One user class per stream, with its user count; the users total and spawn rate.

    Usage: ``configure_users(environment, load_cell(options))``
    """
    counts = users_per_stream(cell.streams)
    classes = []
    for user_class, count in zip(STREAM_USERS, counts, strict=False):
        user_class.fixed_count = count
        classes.append(user_class)
    environment.user_classes = list(classes)
    parsed = environment.parsed_options
    if parsed is None:
        return
    parsed.num_users = sum(counts)
    parsed.spawn_rate = spawn_rate_per_s(cell.streams)
    if getattr(parsed, "run_time", None):
        logger.warning("perflab: ignoring --run-time: the study's load model says how long")
        parsed.run_time = None


def _on_init(environment: Environment, runner: Any = None, **_: Any) -> None:
    options = PerflabOptions.of(environment.parsed_options)
    if isinstance(runner, MasterRunner):
        try:
            cell = load_cell(options)
        except (LabError, LoadgenError) as exc:
            logger.error("perflab: %s", exc)
            sys.exit(2)
        configure_users(environment, cell)
        MasterRun(environment, cell).install()
    elif isinstance(runner, WorkerRunner):
        WorkerRun(environment, options).install()
    else:
        logger.error(
            "perflab: run this locustfile as a --master with --worker processes "
            "(one process: use `perflab load` or `perflab bench`); see docs/locust.md"
        )
        sys.exit(2)


def register() -> None:
    """Add perflab's options and init handler to locust's events (once). Usage: see module."""
    global _registered
    if _registered:
        return
    _registered = True
    protocol.listen(events.init_command_line_parser, add_arguments)
    protocol.listen(events.init, _on_init)
