"""The OpenAPI document tells the truth: schemathesis, in process, finds no request the service
answers otherwise than the document says.

Every operation, every default check (server errors, status codes, content types, headers,
response schemas, schema-valid requests accepted, invalid ones refused, undeclared methods,
Allow headers, created resources readable), every phase (examples, coverage, fuzzing,
stateful), through schemathesis's own engine: the one `st run` drives.

The notes are one table behind two URL families (`/notes/...` async, `/notes/sync/...` sync).
Schemathesis links a created resource only to paths under the one that created it, so a note
created at `/notes/sync/` and deleted at `/notes/{id}/` reads as "created resource not found".
The stateful phase therefore runs once per family; examples, coverage and fuzzing run once over
everything.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
import schemathesis
from fastapi import FastAPI
from schemathesis.config import SchemathesisConfig
from schemathesis.engine import Status, events, from_schema
from schemathesis.python import asgi

import tests.app.openapi_strategies  # noqa: F401  (registers image media types and format)
from perflab.app.main import create_app
from perflab.config import Settings
from tests.support.servers import TEST_MODEL_DIR

MAX_EXAMPLES = 25  # per operation and phase: ~1,000 cases, well under a minute on 2 cores
SEED = 19  # the number: the same cases on every run, so a failure reproduces
NOTES_ASYNC = r"^/notes/(\{note_id\}/)?$"
NOTES_SYNC = r"^/notes/sync/"


@dataclass
class Tally:
    operations: set[str] = field(default_factory=set)
    cases: int = 0
    failures: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FastAPI]:
    """The whole service in this process: kernels in threads, notes on a throwaway SQLite."""
    data_dir = tmp_path_factory.mktemp("openapi")
    settings = Settings(
        offload="thread",
        data_dir=data_dir,
        database_url=f"sqlite:///{data_dir / 'notes.db'}",
        model_dir=TEST_MODEL_DIR,
        downstream_latency_s=0.01,
        threads=4,
    )
    thresholds = gc.get_threshold()
    yield create_app(settings)
    # Schemathesis started the lifespan on first use; stop it (pools, threads, files) now, and
    # undo the server-worker GC tuning the lifespan applied to this whole test process.
    asgi.shutdown_lifespans()
    gc.unfreeze()
    gc.set_threshold(*thresholds)


def run(app: FastAPI, tally: Tally, phases: dict[str, Any], **include: str) -> None:
    """Run schemathesis's engine over the app's document (its operations limited by `include`)."""
    config = SchemathesisConfig.from_dict(
        {
            "seed": SEED,
            "generation": {"max-examples": MAX_EXAMPLES, "database": "none"},
            "phases": phases,
        }
    )
    schema = schemathesis.openapi.from_asgi("/openapi.json", app, config=config)
    if include:
        schema = schema.include(**include)
    for event in from_schema(schema).execute():
        if isinstance(event, events.NonFatalError | events.FatalError):
            tally.errors.append(str(getattr(event, "info", event)))
        if not isinstance(event, events.ScenarioFinished):
            continue
        recorder = event.recorder
        tally.cases += len(recorder.cases)
        if recorder.label != "Stateful tests":
            tally.operations.add(recorder.label)
        for checks in recorder.checks.values():
            for check in checks:
                if check.status == Status.FAILURE and check.failure_info is not None:
                    failure = check.failure_info
                    tally.failures.append(
                        f"{recorder.label} {check.name}: {failure.failure.title}\n"
                        f"{failure.code_sample}"
                    )


def test_the_service_answers_as_its_openapi_document_says(app: FastAPI) -> None:
    tally = Tally()
    stateless = {"stateful": {"enabled": False}}
    stateful_only = {name: {"enabled": False} for name in ("examples", "coverage", "fuzzing")}
    run(app, tally, stateless)
    run(app, tally, stateful_only, path_regex=NOTES_ASYNC)
    run(app, tally, stateful_only, path_regex=NOTES_SYNC)

    paths = app.openapi()["paths"]
    every = {f"{method.upper()} {path}" for path, ops in paths.items() for method in ops}
    print(f"schemathesis: {len(tally.operations)} operations, {tally.cases} cases")
    assert tally.operations == every
    assert tally.cases >= 10 * len(every)  # every operation got many cases, not a token one
    assert not tally.errors, "\n".join(tally.errors)
    assert not tally.failures, f"{len(tally.failures)} failures:\n" + "\n\n".join(tally.failures)
