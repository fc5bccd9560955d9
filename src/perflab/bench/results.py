"""The results document (`perflab.bench/1`, docs/results-format.md): build, write, read.

Written after every cell (so a Ctrl-C or a crash still leaves what ran), atomically: a reader
never sees half a file.

Usage::

    document = new_document("perflab bench notes", profile="quick", repeat=1)
    document["studies"].append(study_entry)
    write_results(document, Path("perflab-results/run/results.json"))
    read_results(Path("perflab-results/run"))["studies"]
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import time
from pathlib import Path
from typing import Any

import orjson

from perflab.loadgen.metadata import machine_metadata, package_versions

FORMAT = "perflab.bench/1"
RESULTS_NAME = "results.json"
_PACKAGES = (
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
)


class ResultsError(ValueError):
    """A results file that cannot be read as `perflab.bench/1`; the message names it and why."""


class ResultsNotFoundError(ResultsError, FileNotFoundError):
    """No results at the path given: no such file, or no results.json in the folder."""


def new_run_id(now_unix_s: float | None = None) -> str:
    """UTC time + 4 hex chars, e.g. ``20261204T201500Z-3f2a``. Usage: ``new_run_id()``"""
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(now_unix_s or time.time()))
    return f"{stamp}-{secrets.token_hex(2)}"


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


def _memory_bytes() -> int | None:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError):
        return None


def machine() -> dict[str, Any]:
    """Machine metadata for the document (load average after: set by `finish`)."""
    info = dict(machine_metadata())
    return {
        **info,
        "memory_bytes": _memory_bytes(),
        "packages": {**info.get("packages", {}), **package_versions(_PACKAGES)},
        "git_revision": git_revision(),
        "load_avg_before": list(os.getloadavg()),
        "load_avg_after": None,
    }


def new_document(command: str, *, profile: str, repeat: int) -> dict[str, Any]:
    """An empty results document for a run starting now. Usage: see module."""
    now_unix_s = time.time()
    return {
        "format": FORMAT,
        "run_id": new_run_id(now_unix_s),
        "created_at_unix_s": now_unix_s,
        "command": command,
        "profile": profile,
        "repeat": repeat,
        "machine": machine(),
        "studies": [],
    }


def finish(document: dict[str, Any]) -> None:
    """Record the load average at the end. Usage: ``finish(document)``"""
    document["machine"]["load_avg_after"] = list(os.getloadavg())


def write_results(document: dict[str, Any], path: Path) -> Path:
    """Write atomically (temp file + rename). Usage: ``write_results(doc, out / "results.json")``"""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(".json.tmp")
    temporary.write_bytes(orjson.dumps(document, option=orjson.OPT_INDENT_2))
    os.replace(temporary, path)
    return path


def results_file(path: Path, *, newest_run: bool = False) -> Path:
    """The results.json a path names: the file itself, or the one in a folder; with
    `newest_run`, also the newest run folder's inside a folder of runs (`perflab report`).

    Usage: ``results_file(Path("perflab-results"), newest_run=True)``
    """
    if path.is_file():
        return path
    if not path.is_dir():
        raise ResultsNotFoundError(f"{path}: no such file (neither a file nor a directory)")
    direct = path / RESULTS_NAME
    if direct.is_file():
        return direct
    # Run folders are named by UTC time first, so the largest name is the newest run.
    nested = sorted(path.glob(f"*/{RESULTS_NAME}")) if newest_run else []
    if nested:
        return nested[-1]
    where = " or its run folders" if newest_run else ""
    raise ResultsNotFoundError(f"{path}: no {RESULTS_NAME} in this folder{where}")


def read_results_file(path: Path, *, newest_run: bool = False) -> tuple[Path, dict[str, Any]]:
    """The one reader of results files for bench, report and compare: find the file (see
    `results_file`), parse it and check its format; return the file read and the document.
    Raises ResultsError (ResultsNotFoundError, also a FileNotFoundError, when there is none).

    Usage: ``file, document = read_results_file(Path("perflab-results/20261204T201500Z-3f2a"))``
    """
    file = results_file(path, newest_run=newest_run)
    try:
        # The standard library's parser, not orjson: it also reads NaN and Infinity, which
        # json.dumps writes and the report shows as missing values.
        document = json.loads(file.read_bytes())
    except FileNotFoundError:  # gone since it was found
        raise ResultsNotFoundError(f"{file}: no such file") from None
    except OSError as exc:
        raise ResultsError(f"{file}: cannot read ({exc.strerror or exc})") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ResultsError(f"{file} is not JSON ({exc})") from None
    if not isinstance(document, dict):
        raise ResultsError(
            f"{file}: not a perflab bench results file (it holds no results document, "
            "a JSON object)"
        )
    found = document.get("format")
    if found != FORMAT:
        raise ResultsError(
            f"{file}: not a perflab bench results file (format {found!r}; this perflab reads "
            f"{FORMAT!r}, written by `perflab bench`)"
        )
    return file, document


def read_results(path: Path) -> dict[str, Any]:
    """The document in a results file (or the results.json in a folder), format checked.

    Usage: ``read_results(Path("perflab-results/20261204T201500Z-3f2a"))["studies"]``
    """
    return read_results_file(path)[1]
