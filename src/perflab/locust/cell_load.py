"""What the locust master runs: a study cell (named by options) or the bench's workload file.

With ``--perflab-study``, the study is loaded for ``--perflab-profile``, its cell (by default
the profile's first) turned into loadgen streams by the bench's own code
(`perflab.bench.workload.cell_streams`: the same requests, generated bodies and ``expect``
checks as `perflab bench`), against ``--perflab-base-url`` (or locust's ``--host``, or the
study's own ``base_url``). With ``--perflab-workload``, the streams come from the JSON file
`perflab.locust.driver` wrote for one of the bench's cells.

Usage::

    cell = load_cell(PerflabOptions(study="notes", cell="async-sqlite",
                                    base_url="http://127.0.0.1:8000"))
    cell.streams, cell.study.name
"""

from __future__ import annotations

import json
import os
import shlex
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from perflab.bench.study import CellPlan, Study, load_study
from perflab.bench.workload import cell_streams
from perflab.loadgen import Stream
from perflab.locust.errors import WorkloadError
from perflab.locust.ledger import Ledger
from perflab.locust.options import PerflabOptions
from perflab.locust.protocol import MAX_STREAMS
from perflab.locust.wire import streams_from_wire


@dataclass
class CellLoad:
    """The streams to run, and the study cell they come from (None: a workload file)."""

    streams: list[Stream]
    options: PerflabOptions
    study: Study | None = None
    plan: CellPlan | None = None
    command: str = ""

    @property
    def ready_timeout_s(self) -> float:
        """How long workers may take to build their requests. Usage: ``cell.ready_timeout_s``"""
        return self.options.ready_timeout_s

    def write_progress(self, ledger: Ledger, start_at_unix_s: float | None) -> None:
        """Rewrite the progress file (the bench's display reads it). Usage: see MasterRun."""
        path = self.options.progress
        if path is None or start_at_unix_s is None:
            return
        requests, failures = ledger.totals()
        elapsed_s = max(0.0, time.time() - start_at_unix_s)
        temporary = path.with_suffix(".tmp")
        temporary.write_text(json.dumps([elapsed_s, requests, failures]), encoding="utf-8")
        os.replace(temporary, path)


def _plan(study: Study, cell: str | None) -> CellPlan:
    plans = study.selected_cells([cell] if cell else None)
    if not plans:
        raise WorkloadError(f"study {study.name} has no cell in profile {study.profile}")
    return plans[0]


def load_cell(options: PerflabOptions) -> CellLoad:
    """The cell the options name. Raises WorkloadError, StudyError. Usage: see module."""
    command = " ".join(shlex.quote(arg) for arg in ["locust", *sys.argv[1:]])
    if options.workload is not None:
        try:
            document = json.loads(Path(options.workload).read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise WorkloadError(f"cannot read workload {options.workload}: {exc}") from None
        streams = streams_from_wire(document)
        return _checked(CellLoad(streams, options, command=command))
    if options.study is None:
        raise WorkloadError(
            "the perflab locustfile needs --perflab-study (and --perflab-cell, --host) or "
            "--perflab-workload on the master; see docs/locust.md"
        )
    study = load_study(options.study, options.profile)
    plan = _plan(study, options.cell)
    base_url = options.base_url or study.base_url
    if base_url is None:
        raise WorkloadError(
            f"study {study.name} starts its own server under `perflab bench`; on locust, name "
            "the running service with --host URL (or --perflab-base-url)"
        )
    streams = cell_streams(plan, base_url.rstrip("/"))
    return _checked(CellLoad(streams, options, study, plan, command))


def _checked(cell: CellLoad) -> CellLoad:
    if not cell.streams:
        raise WorkloadError("the cell has no load to run")
    if len(cell.streams) > MAX_STREAMS:
        raise WorkloadError(
            f"the cell has {len(cell.streams)} streams; perflab's locustfile runs at most "
            f"{MAX_STREAMS}"
        )
    return cell
