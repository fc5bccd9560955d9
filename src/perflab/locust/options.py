"""The perflab locustfile's own options: locust arguments, each also an environment variable.

On the master they name the load (a study cell, or a workload file the bench wrote) and
where the results go; workers need none (the master sends them the load), except
``PERFLAB_LOCUST_RAW_LATENCIES``, a debugging aid that makes each worker also write every
latency it recorded to a file (the tests compare them with the merged histograms).

Usage::

    locust -f $(python -m perflab.locust) --master --headless --expect-workers 2 \\
        --perflab-study notes --perflab-cell async-sqlite --host http://10.0.0.5:8000
"""

from __future__ import annotations

from argparse import Namespace
from dataclasses import dataclass
from pathlib import Path
from typing import Any

DEFAULT_READY_TIMEOUT_S = 300.0  # building a 26 MB body on a slow worker takes a while

# (option, environment variable, help)
OPTIONS = (
    ("--perflab-study", "PERFLAB_LOCUST_STUDY", "study to run: a built-in name or a TOML file"),
    ("--perflab-cell", "PERFLAB_LOCUST_CELL", "the study's cell (default: its first)"),
    ("--perflab-profile", "PERFLAB_LOCUST_PROFILE", "the study's profile (default: quick)"),
    ("--perflab-base-url", "PERFLAB_LOCUST_BASE_URL", "service URL (default: --host)"),
    (
        "--perflab-workload",
        "PERFLAB_LOCUST_WORKLOAD",
        "a workload JSON file (what the bench writes)",
    ),
    ("--perflab-results", "PERFLAB_LOCUST_RESULTS", "folder for results.json (perflab.bench)"),
    ("--perflab-recording", "PERFLAB_LOCUST_RECORDING", "file for the merged recording (JSON)"),
    ("--perflab-progress", "PERFLAB_LOCUST_PROGRESS", "file the master rewrites with progress"),
    (
        "--perflab-ready-timeout",
        "PERFLAB_LOCUST_READY_TIMEOUT",
        "seconds workers may take to build their requests (default 300)",
    ),
    (
        "--perflab-raw-latencies",
        "PERFLAB_LOCUST_RAW_LATENCIES",
        "folder where each worker also writes every latency it recorded (debugging, tests)",
    ),
)


def add_arguments(parser: Any) -> None:
    """Register the options on locust's parser (its init_command_line_parser event).

    Usage: ``events.init_command_line_parser.add_listener(add_arguments)``
    """
    group = parser.add_argument_group("perflab", "perflab studies on locust (docs/locust.md)")
    for option, env_var, help_text in OPTIONS:
        group.add_argument(option, env_var=env_var, default=None, help=help_text)


@dataclass(frozen=True)
class PerflabOptions:
    """The parsed options. Usage: ``PerflabOptions.of(environment.parsed_options)``"""

    study: str | None = None
    cell: str | None = None
    profile: str = "quick"
    base_url: str | None = None
    workload: Path | None = None
    results: Path | None = None
    recording: Path | None = None
    progress: Path | None = None
    ready_timeout_s: float = DEFAULT_READY_TIMEOUT_S
    raw_latencies: Path | None = None

    @classmethod
    def of(cls, parsed: Namespace | None) -> PerflabOptions:
        """From locust's parsed options (None: all defaults). Usage: see class."""

        def text(name: str) -> str | None:
            value = getattr(parsed, name, None) if parsed is not None else None
            return str(value) if value not in (None, "") else None

        def path(name: str) -> Path | None:
            value = text(name)
            return Path(value) if value is not None else None

        timeout = text("perflab_ready_timeout")
        return cls(
            study=text("perflab_study"),
            cell=text("perflab_cell"),
            profile=text("perflab_profile") or "quick",
            base_url=text("perflab_base_url") or text("host"),
            workload=path("perflab_workload"),
            results=path("perflab_results"),
            recording=path("perflab_recording"),
            progress=path("perflab_progress"),
            ready_timeout_s=float(timeout) if timeout else DEFAULT_READY_TIMEOUT_S,
            raw_latencies=path("perflab_raw_latencies"),
        )
