"""Ctrl-C during a run is a Ctrl-C, whenever it lands (the bench turns it into exit 130)."""

from __future__ import annotations

import pytest

from perflab.loadgen.runner import _ctrl_c_stays_ctrl_c


def _close_interrupted() -> None:
    # What asyncio.Runner.close does when a Ctrl-C lands in shutdown_asyncgens on uvloop:
    # the loop stays marked running and loop.close() raises in place of the interrupt.
    try:
        raise KeyboardInterrupt
    finally:
        raise RuntimeError("Cannot close a running event loop")


def test_a_ctrl_c_while_the_loop_closes_is_still_a_ctrl_c() -> None:
    with pytest.raises(KeyboardInterrupt), _ctrl_c_stays_ctrl_c():
        _close_interrupted()


def test_other_runtime_errors_pass_unchanged() -> None:
    with pytest.raises(RuntimeError, match="something else"), _ctrl_c_stays_ctrl_c():
        raise RuntimeError("something else")
