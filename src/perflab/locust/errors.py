"""What `perflab.locust` raises: the lab's own tree (`perflab.results.errors`), one branch.

::

    LabError                   perflab.results.errors
     └── LocustError           a study cannot run on locust's distributed runner
          ├── WorkloadError    a cell that cannot travel to locust workers (a body factory that
          │                    is not a perflab module-level function, too many streams)
          └── LocustRunError   locust is not installed, or its master or workers failed: exited
                               before writing a recording, never got their workers, ...

A worker that dies mid-run is not an error: it is data, named in the recording's metadata
with what it had reported (docs/locust.md).

Usage::

    try:
        recording = LocustDriver(workers=2, work_dir=out)(streams)
    except LocustError as exc:
        print(f"perflab bench: {exc}")
"""

from __future__ import annotations

from perflab.results.errors import LabError


class LocustError(LabError):
    """Base of what perflab.locust raises. Usage: ``except LocustError as exc: ...``"""


class WorkloadError(LocustError):
    """A cell whose load cannot be shipped to locust workers; the message says why."""


class LocustRunError(LocustError):
    """The locust master or its workers failed; the message holds the log tail."""
