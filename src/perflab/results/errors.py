"""The lab's errors: one tree for everything `bench`, `report` and `compare` raise.

::

    Exception
     ├── LoadgenError            perflab.loadgen.errors: the load generator's own tree, the
     │    ├── RequestSpecError   layer below (RequestSpecError, ScenarioError, RunError); the
     │    ├── ScenarioError      lab lets it through where a request or a run is at fault
     │    └── RunError
     └── LabError                here: what the lab's own layers raise
          ├── StudyError         a study file that cannot be used: what is wrong and where
          ├── StartError         a server (or worker) that exited or never got ready
          ├── CellNotAvailable   the cell's endpoints answered 404: this service lacks them
          ├── ResultsError       a results file that cannot be read
          │    ├── ResultsNotFoundError   no results at that path (also a FileNotFoundError)
          │    ├── MalformedResultsError  the right format, but a part the reader needs is
          │    │                          missing or of the wrong type
          │    └── CalibrationError       a calibration file (perflab calibrate) that cannot
          │                               be read
          └── DuetError          `perflab bench --against/--baseline`: the other version
                                 cannot be prepared (git, its tree, its dependencies)

A command catches `LabError` (and `LoadgenError`) and prints the message; anything else is a
bug and keeps its traceback. The runner records a cell failed on `LabError`, `LoadgenError`
or `OSError` (a port, a file, a process) and goes on to the next cell.

Usage::

    try:
        study = load_study("notes", "quick")
    except StudyError as exc:
        print(f"perflab bench: {exc}")
"""

from __future__ import annotations


class LabError(Exception):
    """Base of every error the lab's layers raise. Usage: ``except LabError as exc: ...``"""


class StudyError(LabError):
    """A study file that cannot be used, with what is wrong and where."""


class StartError(LabError):
    """A server or worker process exited, or never got ready; the message holds its log tail."""


class CellNotAvailable(LabError):
    """The cell's endpoints answered 404: the service has no such endpoint (never faked)."""


class ResultsError(LabError):
    """A results file that cannot be read; the message names it and why."""


class ResultsNotFoundError(ResultsError, FileNotFoundError):
    """No results at the path given: no such file, or no results.json in the folder."""


class MalformedResultsError(ResultsError):
    """A results document of a known format with a part missing or of the wrong type."""


class CalibrationError(ResultsError):
    """A calibration document (`perflab calibrate`) that cannot be read: names it and why."""


class DuetError(LabError):
    """The other version of a duet cannot be prepared: a revision git does not know, a tree
    without perflab's source, or dependencies this virtualenv does not satisfy."""
