"""The bench's live display: cells done of all, and the current cell's phase, time and req/s.

Drawn with rich on stderr when it is a terminal; otherwise one plain line per event, so a CI
log still shows what ran.

Usage::

    with BenchDisplay(total_cells=12) as display:
        display.start_cell("faceblur", "async-process", repeat=0, expected_s=20.0)
        display.phase("measuring")
        display.load_progress(3.0, 120, 0)     # the loadgen progress callback
        display.end_cell("ran", "12.1 req/s, p99 812 ms")
"""

from __future__ import annotations

import time
from types import TracebackType

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)


class BenchDisplay:
    """Progress for a whole bench run. Usage: see module."""

    def __init__(self, total_cells: int, *, enabled: bool = True) -> None:
        self.console = Console(stderr=True)
        self.live = enabled and self.console.is_terminal
        self.total_cells = total_cells
        self.done = 0
        self.current = ""
        self._last = (0.0, 0)
        self.progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            TextColumn("{task.fields[status]}"),
            console=self.console,
            transient=False,
        )
        self.overall: TaskID | None = None
        self.cell_task: TaskID | None = None

    def __enter__(self) -> BenchDisplay:
        if self.live:
            self.progress.start()
            self.overall = self.progress.add_task("bench", total=self.total_cells, status="")
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self.live:
            self.progress.stop()

    def start_cell(self, study: str, cell: str, *, repeat: int, expected_s: float | None) -> None:
        """A cell begins (server start-up included). Usage: see module."""
        self.current = f"{study}/{cell}" + (f" #{repeat + 1}" if repeat else "")
        self._last = (0.0, 0)
        if not self.live:
            self.console.print(f"[{self.done + 1}/{self.total_cells}] {self.current} ...")
            return
        if self.cell_task is not None:
            self.progress.remove_task(self.cell_task)
        total = max(expected_s, 1.0) if expected_s else None
        self.cell_task = self.progress.add_task(f"  {self.current}", total=total, status="starting")
        self._cell_started = time.monotonic()

    def phase(self, text: str) -> None:
        """What the current cell is doing (starting, warming up, measuring). Usage: see module."""
        if self.live and self.cell_task is not None:
            self.progress.update(self.cell_task, status=text)

    def load_progress(self, elapsed_s: float, requests: int, failures: int) -> None:
        """The loadgen progress callback: live req/s of the measured load."""
        span_s = max(elapsed_s - self._last[0], 1e-9)
        rate = (requests - self._last[1]) / span_s
        self._last = (elapsed_s, requests)
        if self.live and self.cell_task is not None:
            failed = f", {failures:,} failed" if failures else ""
            status = f"measuring: {requests:,} requests{failed}, {rate:,.0f} req/s"
            self.progress.update(self.cell_task, completed=elapsed_s, status=status)

    def end_cell(self, status: str, summary: str) -> None:
        """The cell is over: ran, skipped or failed, with a one-line summary."""
        self.done += 1
        line = f"{self.current}: {status}" + (f" - {summary}" if summary else "")
        if self.live:
            if self.overall is not None:
                self.progress.update(self.overall, completed=self.done)
            if self.cell_task is not None:
                self.progress.remove_task(self.cell_task)
                self.cell_task = None
            self.progress.console.print(f"  {line}")
        else:
            self.console.print(f"  {line}")

    def note(self, text: str) -> None:
        """A line above the bars (a skipped study, an interruption). Usage: ``d.note("...")``"""
        self.console.print(text)
