"""Machine metadata stored with every bench run (house rule 7: results are data).

`machine()` is the loadgen's `machine_metadata()` (CPU model, cores, Python, its packages)
plus what the lab needs to judge a run: memory, the service's package versions, the git
revision of the code measured and the load average before (and, via `finish`, after).

Usage: ``machine()["cpu"], machine()["git_revision"]``
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

from perflab.loadgen.metadata import machine_metadata, package_versions

PACKAGES = (
    "perflab",
    "fastapi",
    "starlette",
    "pydantic",
    "uvicorn",
    "granian",
    "uvloop",
    "httptools",
    "anyio",
    "sqlalchemy",
    "asyncpg",
    "psycopg",
    "redis",
    "onnxruntime",
    "opencv-python-headless",
    "orjson",
    "numpy",
    "hdrhistogram",
    "locust",
)


def git_revision(where: Path | None = None) -> str | None:
    """The checkout's short revision (+ "-dirty"), or None outside git. Usage: ``git_revision()``"""
    cwd = where or Path(__file__).resolve().parent
    try:
        revision = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=cwd, capture_output=True, text=True,
            timeout=5, check=True,
        ).stdout.strip()  # fmt: skip
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"], cwd=cwd,
            capture_output=True, text=True, timeout=5, check=True,
        ).stdout.strip()  # fmt: skip
    except (OSError, subprocess.SubprocessError):
        return None
    return f"{revision}-dirty" if dirty else revision or None


def memory_bytes() -> int | None:
    """Physical memory, or None where the OS does not say. Usage: ``memory_bytes()``"""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError):
        return None


def machine() -> dict[str, Any]:
    """Machine metadata for a run starting now (load average after: `finish`). Usage: above."""
    info = dict(machine_metadata())
    return {
        **info,
        "memory_bytes": memory_bytes(),
        "packages": {**info.get("packages", {}), **package_versions(PACKAGES)},
        "git_revision": git_revision(),
        "load_avg_before": list(os.getloadavg()),
        "load_avg_after": None,
    }


def finish(machine_info: dict[str, Any]) -> None:
    """Record the load average at the end of the run. Usage: ``finish(run.machine)``"""
    machine_info["load_avg_after"] = list(os.getloadavg())
