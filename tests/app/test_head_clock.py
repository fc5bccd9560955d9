"""The head clock (perflab.app.head_clock): one timer per loop for every awaited head."""

from __future__ import annotations

import asyncio

from perflab.app.head_clock import LAST_CALL_S, SWEEP_BATCH, HeadClock, head_clock


class Log(list[str]):
    """What fell due, in order; `reached(n)` waits until n entries are in."""

    def __init__(self) -> None:
        super().__init__()
        self.grew = asyncio.Event()

    def append(self, name: str) -> None:
        super().append(name)
        self.grew.set()

    async def reached(self, count: int, limit_s: float = 10.0) -> None:
        async with asyncio.timeout(limit_s):
            while len(self) < count:
                self.grew.clear()
                await self.grew.wait()


class Watcher:
    def __init__(self, name: str, log: Log) -> None:
        self.name, self.log = name, log

    def head_late(self) -> None:
        self.log.append(self.name)


def test_heads_fall_due_oldest_first_and_a_removed_one_never() -> None:
    async def main() -> Log:
        loop = asyncio.get_running_loop()
        clock: HeadClock[Watcher] = HeadClock(loop, timeout_s=0.2)
        log = Log()
        watchers = [Watcher(name, log) for name in "abc"]
        for watcher in watchers:
            clock.add(watcher, loop.time())
            await asyncio.sleep(0.02)
        clock.remove(watchers[1])
        await log.reached(2)
        await asyncio.sleep(0.3)  # time for a wrongly kept "b" to fall due too
        assert not clock.waiting
        return log

    assert asyncio.run(main()) == ["a", "c"]


def test_a_last_call_falls_due_after_its_pause() -> None:
    async def main() -> float:
        loop = asyncio.get_running_loop()
        clock: HeadClock[Watcher] = HeadClock(loop, timeout_s=60.0)
        log = Log()
        started = loop.time()
        clock.last_call(Watcher("late", log))
        await log.reached(1)
        return loop.time() - started

    assert asyncio.run(main()) >= LAST_CALL_S


def test_a_sweep_hands_over_a_batch_then_lets_the_loop_run() -> None:
    """Many heads due at once are handed over SWEEP_BATCH at a time, with the loop's other
    ready callbacks run in between: a callback scheduled by the first late head runs before
    the heads past the first batch."""

    async def main() -> Log:
        loop = asyncio.get_running_loop()
        clock: HeadClock[Watcher] = HeadClock(loop, timeout_s=0.05)
        log = Log()

        class First(Watcher):
            def head_late(self) -> None:
                super().head_late()
                loop.call_soon(log.append, "other")

        now = loop.time()
        clock.add(First("0", log), now)
        for index in range(1, 2 * SWEEP_BATCH + 50):
            clock.add(Watcher(str(index), log), now)
        await log.reached(2 * SWEEP_BATCH + 51)
        return log

    log = asyncio.run(main())
    assert log.index("other") == SWEEP_BATCH
    heads = [name for name in log if name != "other"]
    assert heads == [str(index) for index in range(2 * SWEEP_BATCH + 50)]


def test_each_loop_has_its_own_clock() -> None:
    async def clock_of_this_loop() -> HeadClock[Watcher]:
        clock = head_clock(asyncio.get_running_loop(), 1.0)
        assert head_clock(asyncio.get_running_loop(), 1.0) is clock
        return clock

    assert asyncio.run(clock_of_this_loop()) is not asyncio.run(clock_of_this_loop())
