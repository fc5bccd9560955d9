"""`python -m perflab` runs the CLI, so tests and scripts need no console-script on PATH."""

from perflab.cli import app

app(prog_name="perflab")
