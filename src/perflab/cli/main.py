"""The `perflab` command: one module per subcommand, registered here.

Usage: ``perflab --help``; in Python, ``from perflab.cli import app``.
"""

from __future__ import annotations

import typer

from perflab.cli.bench import bench
from perflab.cli.calibrate import calibrate
from perflab.cli.compare import compare
from perflab.cli.downstream import downstream
from perflab.cli.history import history
from perflab.cli.init import init
from perflab.cli.load import load, load_large_body
from perflab.cli.locust import locust_worker
from perflab.cli.report import report
from perflab.cli.serve import serve
from perflab.cli.worker import worker

app = typer.Typer(
    name="perflab",
    help="A FastAPI service and a load lab: run CPU, database, big-body and slow-downstream "
    "work under load, and prove how it behaves.",
    no_args_is_help=True,
    add_completion=False,
)

# The service and its helpers.
app.command("serve")(serve)
app.command("downstream")(downstream)
app.command("worker")(worker)
# The lab.
app.command("load")(load)
app.command("load-large-body")(load_large_body)
app.command("bench")(bench)
app.command("init")(init)
app.command("report")(report)
app.command("compare")(compare)
app.command("locust-worker")(locust_worker)
app.command("calibrate")(calibrate)
app.command("history")(history)
