"""Where a bench runs: the CPUs of the service under test and of the load generator.

On a small shared VM the scheduler moving processes between cores, and neighbours landing on
them, is the largest source of run-to-run spread measured here (docs/compare.md: notes'
SQLite cells 11.5% unpinned, 3.8% with the whole bench on one core). `perflab bench
--server-cpus 1 --load-cpus 0` (or `--cpus 0` for both) fixes the placement: every process the
bench starts for a cell (the server, its workers, queue workers, the downstream service,
private Redis/PostgreSQL) inherits the server's CPUs from the moment it starts; the bench
process itself (the load generator and, with --engine locust, the locust processes it starts)
runs on the load CPUs. The machine's shared PostgreSQL and Redis are not moved.

A placement is part of what makes two runs comparable: it is recorded in the run's machine
(`machine["placement"]`), so compare and calibration treat a pinned and an unpinned run as
different machines.

A study may ask for a placement itself: `placement = "split"` in a profile or a cell (notes'
quick profile does) puts the service on the last CPU this process may use and the load
generator on the others, for that cell only, when the command gave no placement and there
are two CPUs or more. It is resolved to CPUs before the cell runs (`resolve_setting`) and
recorded in the cell's settings, so compare and calibration see it per cell.

Usage::

    placement = Placement.parse(server="1", load="0")
    with placed(placement):
        run_bench(...)
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from perflab.results.errors import StudyError

# The CPUs of the processes started for the service while `placed` is in force (the launcher
# and the private services read it through `on_server_cpus`).
_server_cpus: frozenset[int] | None = None


@dataclass(frozen=True)
class Placement:
    """The CPUs of the service under test and of the load generator; None: wherever the
    scheduler puts them."""

    server: frozenset[int] | None = None
    load: frozenset[int] | None = None

    @classmethod
    def parse(cls, server: str | None = None, load: str | None = None) -> Placement:
        """From taskset-style lists ("0", "0-1", "0,2"). Raises StudyError for a malformed
        list or a CPU this process may not use. Usage: ``Placement.parse("1", "0")``"""
        return cls(
            parse_cpus(server) if server is not None else None,
            parse_cpus(load) if load is not None else None,
        )

    def describe(self) -> dict[str, str]:
        """For the run's machine record and the report: {"server": "1", "load": "0"}."""
        shown = {"server": self.server, "load": self.load}
        return {name: format_cpus(cpus) for name, cpus in shown.items() if cpus is not None}

    def __bool__(self) -> bool:
        return self.server is not None or self.load is not None

    @classmethod
    def from_setting(cls, resolved: dict[str, str] | None) -> Placement:
        """From a cell's resolved `placement` setting ({"server": "1", "load": "0"}); an
        empty Placement for None. Usage: ``Placement.from_setting(plan.settings.get("placement"))``
        """
        if not resolved:
            return cls()
        return cls.parse(resolved.get("server"), resolved.get("load"))


# A study's `placement` setting: "split" (below) or "none" (a cell opting out of its profile's).
PLACEMENT_SETTINGS = ("split", "none")


def resolve_setting(setting: str | None, command: Placement) -> dict[str, str] | None:
    """A cell's `placement` setting as CPUs for this machine, or None when the cell runs where
    the command put the bench (the command's own placement wins: it is the run's, recorded in
    its machine) or where the scheduler puts it ("none"; "split" on a single CPU).
    "split": the service on the last usable CPU, the load on the others (the layout of the
    measurements in docs/compare.md, `--server-cpus 1 --load-cpus 0` on two CPUs).
    Usage: ``resolve_setting("split", Placement())  # {"server": "1", "load": "0"}``"""
    if command or setting in (None, "none"):
        return None
    if setting != "split":
        raise StudyError(f"placement {setting!r}: expected one of {list(PLACEMENT_SETTINGS)}")
    usable = frozenset(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None
    if not usable or len(usable) < 2:
        return None
    server = frozenset({max(usable)})
    return Placement(server, usable - server).describe()


def parse_cpus(text: str) -> frozenset[int]:
    """ "0-2,5" -> {0, 1, 2, 5}; each CPU must be one this process may run on.
    Usage: ``parse_cpus("0-1")``"""
    if not hasattr(os, "sched_setaffinity"):
        raise StudyError("placing the bench on CPUs needs Linux (sched_setaffinity)")
    cpus: set[int] = set()
    try:
        for part in text.split(","):
            first, _, last = part.strip().partition("-")
            low = int(first)
            high = int(last) if last else low
            if low < 0 or high < low:
                raise ValueError(part)
            cpus.update(range(low, high + 1))
    except ValueError:
        raise StudyError(
            f"CPU list {text!r}: expected numbers and ranges like 0, 1-3 or 0,2"
        ) from None
    usable = os.sched_getaffinity(0)
    if not cpus <= usable:
        missing = format_cpus(frozenset(cpus - usable))
        raise StudyError(
            f"CPU list {text!r}: CPU {missing} is not one this process may use"
            f" (usable: {format_cpus(frozenset(usable))})"
        )
    return frozenset(cpus)


def format_cpus(cpus: frozenset[int]) -> str:
    """{0, 1, 2, 5} -> "0-2,5". Usage: ``format_cpus(frozenset({0, 1}))``"""
    runs: list[list[int]] = []  # [first, last] of each run of consecutive CPUs
    for cpu in sorted(cpus):
        if runs and cpu == runs[-1][1] + 1:
            runs[-1][1] = cpu
        else:
            runs.append([cpu, cpu])
    ranges = [str(first) if first == last else f"{first}-{last}" for first, last in runs]
    return ",".join(ranges)


@contextlib.contextmanager
def placed(placement: Placement) -> Iterator[None]:
    """Run the block with `placement` in force (module docstring); both are undone at the end."""
    global _server_cpus
    server_before, _server_cpus = _server_cpus, placement.server
    threads_before: dict[int, set[int]] = {}
    try:
        if placement.load is not None:
            threads_before = _pin_this_process(placement.load)
        yield
    finally:
        _server_cpus = server_before
        for thread_id, cpus in threads_before.items():
            with contextlib.suppress(OSError):  # a thread that has ended since
                os.sched_setaffinity(thread_id, cpus)


def on_server_cpus(then: Callable[[], object] | None = None) -> Callable[[], object] | None:
    """A `preexec_fn` for a service process: move to the server's CPUs (when placed), then run
    `then`. None when there is nothing to do. Usage: ``Popen(..., preexec_fn=on_server_cpus())``
    """
    cpus = _server_cpus
    if cpus is None:
        return then

    def in_child() -> None:
        # In the child between fork and exec: one system call, no locks taken.
        os.sched_setaffinity(0, cpus)
        if then is not None:
            then()

    return in_child


def _pin_this_process(cpus: frozenset[int]) -> dict[int, set[int]]:
    """Move every thread of this process to `cpus`; returns each one's CPUs before.
    sched_setaffinity acts on one thread: the threads and processes they start later inherit
    it."""
    before = {}
    for thread_id in _thread_ids():
        with contextlib.suppress(OSError):  # a thread that ended meanwhile
            before[thread_id] = os.sched_getaffinity(thread_id)
            os.sched_setaffinity(thread_id, cpus)
    return before


def _thread_ids() -> list[int]:
    return [int(name) for name in os.listdir("/proc/self/task")]
