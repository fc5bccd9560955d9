"""The bottom of the lab: the results format, its typed model, machine metadata and the
lab's error tree (drawn in `perflab.results.errors`).

`perflab bench` writes a run through this package; `perflab report` and `perflab compare`
read runs only through it. Imports point down: `cli` -> `bench`, `report`, `compare` ->
`results` -> `loadgen`.

Usage::

    from perflab.results import read_run
    run = read_run(Path("perflab-results/20261204T201500Z-3f2a"))
    run.studies[0].cells[0].repeats[0].throughput_per_s()
"""

from perflab.results.document import (
    FORMAT,
    READABLE_FORMATS,
    RESULTS_NAME,
    new_run,
    new_run_id,
    read_run,
    write_run,
)
from perflab.results.errors import (
    CellNotAvailable,
    LabError,
    MalformedResultsError,
    ResultsError,
    ResultsNotFoundError,
    StartError,
    StudyError,
)
from perflab.results.goals import GoalResult
from perflab.results.model import (
    CellResults,
    NameTotals,
    RepeatResult,
    RunResults,
    Signals,
    StudyResults,
)

__all__ = [
    "FORMAT",
    "READABLE_FORMATS",
    "RESULTS_NAME",
    "CellNotAvailable",
    "CellResults",
    "GoalResult",
    "LabError",
    "MalformedResultsError",
    "NameTotals",
    "RepeatResult",
    "ResultsError",
    "ResultsNotFoundError",
    "RunResults",
    "Signals",
    "StartError",
    "StudyError",
    "StudyResults",
    "new_run",
    "new_run_id",
    "read_run",
    "write_run",
]
