"""Fixtures for the load generator tests: a scripted real server on 127.0.0.1."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.loadgen.scripted_server import ScriptedServer


@pytest.fixture
def server() -> Iterator[ScriptedServer]:
    """A fresh scripted server per test (its counters start at zero)."""
    scripted = ScriptedServer().start()
    try:
        yield scripted
    finally:
        scripted.stop()
