"""Readiness of the backing services, checked in the background so `/healthz` stays cheap.

A check is an async function returning a short detail string, raising when the service is not
usable. `/healthz` reads the cached results: under load it answers in microseconds and never
piles probes onto a struggling database.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

log = logging.getLogger("perflab.health")

Check = Callable[[], Awaitable[str]]


@dataclass
class CheckResult:
    ok: bool
    detail: str
    checked_at_s: float


class HealthChecks:
    """Named readiness checks, refreshed every `interval_s` by a background task.

    Usage: `checks.add("database", ping_db); await checks.start(); checks.ready()`
    """

    def __init__(self, interval_s: float, timeout_s: float = 2.0) -> None:
        self.interval_s = interval_s
        self.timeout_s = timeout_s
        self._checks: dict[str, Check] = {}
        self.results: dict[str, CheckResult] = {}
        self._task: asyncio.Task[None] | None = None

    def add(self, name: str, check: Check) -> None:
        self._checks[name] = check

    async def refresh(self) -> None:
        names = list(self._checks)
        outcomes = await asyncio.gather(*(self._run_one(n) for n in names))
        self.results = dict(zip(names, outcomes, strict=True))

    async def _run_one(self, name: str) -> CheckResult:
        try:
            detail = await asyncio.wait_for(self._checks[name](), self.timeout_s)
            return CheckResult(True, detail, time.time())
        except Exception as exc:  # any failure means "not ready", and says why
            reason = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
            previous = self.results.get(name)
            if previous is None or previous.ok:
                log.warning("health check %s failed: %s", name, reason)
            return CheckResult(False, reason, time.time())

    def ready(self) -> bool:
        return all(result.ok for result in self.results.values())

    async def start(self) -> None:
        await self.refresh()
        self._task = asyncio.get_running_loop().create_task(self._loop(), name="health-checks")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(self.interval_s)
            await self.refresh()
