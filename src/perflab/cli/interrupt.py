"""SIGTERM is handled like Ctrl-C while the lab runs: every server it started is stopped and
the partial results are kept.

Python's default for SIGTERM ends the process at once, without running `finally` blocks or
context exits, so a bench killed by `kill`, `timeout` or a CI runner's cancel left its servers,
workers and downstreams running (one kept a core busy after its bench was gone, until killed
by hand).

Usage::

    with interruptible(f"in {options.results_path}"):
        run = run_bench(studies, options)  # Ctrl-C or SIGTERM: exit 130 / 143, servers stopped
"""

from __future__ import annotations

import signal
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

import typer

SIGINT_EXIT = 130  # 128 + SIGINT, what shells report for Ctrl-C
SIGTERM_EXIT = 143  # 128 + SIGTERM


class Terminated(KeyboardInterrupt):
    """SIGTERM arrived: unwinds like Ctrl-C, so every `with` that started a process stops it."""


def _raise_terminated(signum: int, frame: FrameType | None) -> None:
    raise Terminated


@contextmanager
def interruptible(partial: str) -> Iterator[None]:
    """Run a lab command's work so that Ctrl-C and SIGTERM both unwind it (every server it
    started is stopped on the way out), then say where the partial results are and exit with
    the shell's status for the signal. Main thread only (as `signal.signal` is); the previous
    SIGTERM handler is restored after. Usage: see module."""
    previous = signal.signal(signal.SIGTERM, _raise_terminated)
    try:
        yield
    except KeyboardInterrupt as exc:
        typer.echo(f"interrupted: partial results {partial}", err=True)
        code = SIGTERM_EXIT if isinstance(exc, Terminated) else SIGINT_EXIT
        raise typer.Exit(code) from None
    finally:
        signal.signal(signal.SIGTERM, previous)
