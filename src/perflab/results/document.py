"""The results file: `perflab.bench/2` JSON (docs/results-format.md), written and read here only.

Written after every cell (so a Ctrl-C or a crash still leaves what ran), atomically: a reader
never sees half a file. Read with the version checked: this perflab writes `perflab.bench/2`
and still reads `perflab.bench/1` (written before goals were stored; it reads as a run whose
studies have no goals).

Usage::

    run = new_run("perflab bench notes", profile="quick", repeat=1)
    write_run(run, Path("perflab-results/run/results.json"))
    read_run(Path("perflab-results/run")).studies
"""

from __future__ import annotations

import json
import os
import secrets
import time
from pathlib import Path
from typing import Any

import orjson

from perflab.results.errors import MalformedResultsError, ResultsError, ResultsNotFoundError
from perflab.results.machine import finish, machine
from perflab.results.model import RunResults

FORMAT = "perflab.bench/2"
READABLE_FORMATS = ("perflab.bench/1", FORMAT)
RESULTS_NAME = "results.json"


def new_run_id(now_unix_s: float | None = None) -> str:
    """UTC time + 4 hex chars, e.g. ``20261204T201500Z-3f2a``. Usage: ``new_run_id()``"""
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(now_unix_s or time.time()))
    return f"{stamp}-{secrets.token_hex(2)}"


def new_run(command: str, *, profile: str, repeat: int) -> RunResults:
    """An empty run starting now, with this machine's metadata. Usage: see module."""
    now_unix_s = time.time()
    return RunResults(
        run_id=new_run_id(now_unix_s),
        created_at_unix_s=now_unix_s,
        command=command,
        profile=profile,
        repeat=repeat,
        machine=machine(),
    )


def finish_run(run: RunResults) -> None:
    """Record the load average at the end. Usage: ``finish_run(run)``"""
    finish(run.machine)


def write_run(run: RunResults, path: Path) -> Path:
    """Write atomically (temp file + rename). Usage: ``write_run(run, out / RESULTS_NAME)``"""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(".json.tmp")
    temporary.write_bytes(orjson.dumps(run.to_dict(FORMAT), option=orjson.OPT_INDENT_2))
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


def read_document(path: Path, *, newest_run: bool = False) -> tuple[Path, dict[str, Any]]:
    """The raw JSON document of a results file, format checked: (file read, document).
    Raises ResultsError (ResultsNotFoundError, also a FileNotFoundError, when there is none).

    Usage: ``file, document = read_document(Path("perflab-results/20261204T201500Z-3f2a"))``
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
    if found not in READABLE_FORMATS:
        raise ResultsError(
            f"{file}: not a perflab bench results file (format {found!r}; this perflab reads "
            f"{' and '.join(map(repr, READABLE_FORMATS))}, written by `perflab bench`)"
        )
    return file, document


def read_run(path: Path, *, newest_run: bool = False) -> RunResults:
    """The one reader of results for bench, report and compare: a results file, a run
    folder, or (with `newest_run`) a folder of runs; typed, with every part checked.
    Raises ResultsError (MalformedResultsError names the part that is wrong).

    Usage: ``read_run(Path("perflab-results/20261204T201500Z-3f2a")).studies``
    """
    file, document = read_document(path, newest_run=newest_run)
    try:
        return RunResults.from_dict(document, file)
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        what = f"lacks {exc}" if isinstance(exc, KeyError) else str(exc)
        raise MalformedResultsError(f"{file}: malformed results ({what})") from None
