"""Fixtures of the command tests: `perflab load` drives the loadgen's scripted server."""

from tests.loadgen.conftest import server

__all__ = ["server"]
