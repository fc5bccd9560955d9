"""The load generator's errors, one tree.

    LoadgenError            anything the user asked for that cannot be run
    ├── RequestSpecError    a request that cannot be built (bad URL, missing file, mixed origins)
    ├── ScenarioError       a scenario file that does not parse or validate
    └── RunError            a run that could not start or finish (a process died, no answer)

Failures of *requests* (timeouts, resets, wrong answers) are not exceptions: they are data,
counted in the recording by kind (see `perflab.loadgen.expectation`).
"""


class LoadgenError(Exception):
    """Base of every error the load generator raises on purpose.

    Usage: ``except LoadgenError as exc: print(exc)``
    """


class RequestSpecError(LoadgenError):
    """A request cannot be built from what was given."""


class ScenarioError(LoadgenError):
    """A scenario file is invalid; the message names the file and the field."""


class RunError(LoadgenError):
    """A run could not be started or completed."""
