"""Fixtures for the load generator tests: real servers on 127.0.0.1 (scripted; logins+items)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.loadgen.flow_server import FlowServer
from tests.loadgen.scripted_server import ScriptedServer


@pytest.fixture
def server() -> Iterator[ScriptedServer]:
    """A fresh scripted server per test (its counters start at zero)."""
    scripted = ScriptedServer().start()
    try:
        yield scripted
    finally:
        scripted.stop()


@pytest.fixture
def flow_server() -> Iterator[FlowServer]:
    """A fresh server with logins and owned items (see `tests.loadgen.flow_server`)."""
    started = FlowServer().start()
    try:
        yield started
    finally:
        started.stop()
