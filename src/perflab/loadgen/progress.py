"""The live progress line: rich, on stderr, only when stderr is a terminal.

Usage::

    with live_progress(enabled=True) as progress:
        recording = run(specs, model, progress=progress)
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.live import Live
from rich.text import Text

from perflab.loadgen.engine import ProgressCallback


@contextmanager
def live_progress(enabled: bool = True) -> Iterator[ProgressCallback | None]:
    """A progress callback drawing one line, or None when piped. Usage: see module."""
    console = Console(stderr=True)
    if not enabled or not console.is_terminal:
        yield None
        return
    last = [0.0, 0]

    def show(elapsed_s: float, requests: int, failures: int) -> None:
        span_s = max(elapsed_s - last[0], 1e-9)
        rate = (requests - last[1]) / span_s
        last[0], last[1] = elapsed_s, requests
        line = Text.assemble(
            ("perflab load ", "bold"),
            f"{elapsed_s:6.1f} s  {requests:>10,} requests  ",
            (f"{failures:,} failures", "red" if failures else "green"),
            f"  {rate:>9,.0f} req/s",
        )
        live.update(line, refresh=True)

    # auto_refresh off: no drawing thread; the engine's 1 s ticker calls `show`.
    with Live(console=console, auto_refresh=False, transient=True) as live:
        yield show
