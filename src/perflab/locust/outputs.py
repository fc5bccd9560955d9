"""What the locust master writes at the end: the merged recording and a results document.

The recording is a `perflab.loadgen.Recording` like any other (per-name HdrHistograms and
per-second windows, merged over the workers), with in its metadata ``engine = "locust"`` and
``locust``: the version, every worker's host, pid, users, requests, failures, CPU and fate
(`perflab.locust.ledger`), locust's own per-name statistics (``own_stats``) and those set
beside the exact ones (``exactness``, `perflab.results.exactness`). For a study cell the
master also writes a `perflab.bench` results document (one study, one cell, one run), so
`perflab report` and `perflab compare` read a distributed run like any other.

Usage (by `perflab.locust.master`)::

    write_outputs(cell, ledger, environment, started_at_unix_s=t0, master_cpu_s=0.8,
                  locust_version="2.47.0", reason=None)
"""

from __future__ import annotations

import logging
import os
import socket
from pathlib import Path
from typing import Any

import orjson
from locust.env import Environment

from perflab.bench.cell_run import cell_results, study_results
from perflab.loadgen.metadata import machine_metadata
from perflab.loadgen.recording import TOTAL_NAME, Recording
from perflab.locust.cell_load import CellLoad
from perflab.locust.ledger import FINISHED, Ledger
from perflab.locust.shares import spawn_rate_per_s, users_per_stream
from perflab.results.document import RESULTS_NAME, finish_run, new_run, new_run_id, write_run
from perflab.results.exactness import exactness_rows
from perflab.results.model import RepeatResult

logger = logging.getLogger("perflab.locust")


def _entry(entry: Any) -> dict[str, Any]:
    requests = int(entry.num_requests)
    return {
        "requests": requests,
        "failures": int(entry.num_failures),
        "p50_ms": entry.get_response_time_percentile(0.5) if requests else None,
        "p99_ms": entry.get_response_time_percentile(0.99) if requests else None,
        "max_ms": round(float(entry.max_response_time), 3) if requests else None,
        "mean_ms": round(float(entry.avg_response_time), 3) if requests else None,
    }


def own_stats(environment: Environment) -> dict[str, Any]:
    """Locust's own statistics per name, and "Aggregated". Usage: ``own_stats(environment)``"""
    runner = environment.runner
    assert runner is not None
    stats = runner.stats
    rows = {str(entry.name): _entry(entry) for entry in stats.entries.values()}
    rows[TOTAL_NAME] = _entry(stats.total)
    return rows


def _model(cell: CellLoad) -> dict[str, Any]:
    if len(cell.streams) == 1:
        return cell.streams[0].model.describe()
    return {"streams": [stream.model.describe() for stream in cell.streams]}


def build_recording(
    cell: CellLoad, ledger: Ledger, environment: Environment, *, started_at_unix_s: float,
    master_cpu_s: float, locust_version: str, reason: str | None,
) -> Recording:  # fmt: skip
    """The merged recording with the run's metadata. Usage: see `write_outputs`."""
    origins = sorted({str(s.origin()) for stream in cell.streams for s in stream.requests})
    accounts = ledger.workers.values()
    if reason is None and any(a.index is not None and a.status != FINISHED for a in accounts):
        reason = "not every worker finished its share (see workers)"
    locust = {
        "version": locust_version,
        "master_host": socket.gethostname(),
        "master_cpu_s": round(master_cpu_s, 3),
        "workers_planned": sum(1 for a in accounts if a.index is not None),
        "users_per_stream": users_per_stream(cell.streams),
        "spawn_rate_per_s": spawn_rate_per_s(cell.streams),
        "complete": reason is None,
        "reason": reason,
        "own_stats": own_stats(environment),
    }
    metadata = {**machine_metadata(), "engine": "locust", "locust": locust}
    recording = ledger.recording(
        ", ".join(origins), _model(cell), started_at_unix_s=started_at_unix_s, metadata=metadata
    )
    recording.generator_cpu_s += master_cpu_s  # the master merges: it is part of the generator
    locust["exactness"] = exactness_rows(recording)
    return recording


def _write_json(path: Path, document: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(path.suffix + ".tmp")
    temporary.write_bytes(orjson.dumps(document, option=orjson.OPT_INDENT_2))
    os.replace(temporary, path)


def write_results(cell: CellLoad, recording: Recording, folder: Path) -> Path:
    """A perflab.bench results document for a study cell run on locust. Usage: see module."""
    assert cell.study is not None
    assert cell.plan is not None
    profile = cell.options.profile
    run = new_run(cell.command, profile=profile, repeat=1)
    study = study_results(cell.study)
    results = cell_results(cell.study, cell.plan, profile)
    results.rerun = cell.command
    results.repeats.append(
        RepeatResult(
            repeat=0,
            started_at_unix_s=recording.started_at_unix_s,
            recording=recording,
            generator_cpu_s=round(recording.generator_cpu_s, 3),
        )
    )
    # A lost worker is data (named in the recording); an interrupted run failed, like the
    # bench's, but keeps what it measured.
    reason = recording.metadata["locust"]["reason"]
    if isinstance(reason, str) and reason.startswith("interrupted"):
        results.status, results.reason = "failed", reason
    else:
        results.status = "ran"
    study.cells = [results]
    study.status = "ran"
    run.studies.append(study)
    finish_run(run)
    return write_run(run, folder / RESULTS_NAME)


def write_outputs(
    cell: CellLoad, ledger: Ledger, environment: Environment, *, started_at_unix_s: float,
    master_cpu_s: float, locust_version: str, reason: str | None,
) -> Recording:  # fmt: skip
    """Write the recording (``--perflab-recording``) and, for a study cell, results.json
    (``--perflab-results``, default perflab-results/<run id>/). Usage: see module."""
    recording = build_recording(
        cell, ledger, environment, started_at_unix_s=started_at_unix_s,
        master_cpu_s=master_cpu_s, locust_version=locust_version, reason=reason,
    )  # fmt: skip
    options = cell.options
    if options.recording is not None:
        _write_json(options.recording, recording.to_dict())
        logger.info("perflab: recording written to %s", options.recording)
    if cell.study is not None and (options.results is not None or options.recording is None):
        folder = options.results or Path("perflab-results") / new_run_id()
        path = write_results(cell, recording, folder)
        logger.info("perflab: results written to %s", path)
        print(f"perflab: results {path}", flush=True)
    return recording
