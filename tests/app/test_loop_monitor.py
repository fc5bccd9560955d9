"""The loop monitor keeps running its samplers (gauges, the request tally) when one fails."""

from __future__ import annotations

import asyncio

import pytest

from perflab.app.observe import LoopLagMonitor

pytestmark = pytest.mark.anyio


async def test_a_failing_sampler_does_not_stop_the_others(
    caplog: pytest.LogCaptureFixture,
) -> None:
    calls = 0

    def failing() -> None:
        raise RuntimeError("sampler broke")

    def counting() -> None:
        nonlocal calls
        calls += 1

    monitor = LoopLagMonitor(0.01, [failing, counting])
    monitor.start()
    try:
        for _ in range(100):
            if calls >= 3:
                break
            await asyncio.sleep(0.02)
    finally:
        await monitor.stop()
    assert calls >= 3
    assert "sampler broke" in caplog.text
