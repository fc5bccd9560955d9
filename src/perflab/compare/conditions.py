"""What may have bent a cell's measurement, from what each repeat recorded: a load generator
that used all of its core (the client set the pace, not the server), a warm-up that never
reached a steady throughput, a machine already busy before the repeat started, a host that
withheld CPU time from this virtual machine while the repeat ran (steal, perflab.bench.steal).
These do not change a verdict; they are printed under it, so a reader knows what to distrust.

Usage: ``conditions_notes(old_cell, new_cell)  # ("NEW repeat 1: the load generator ...",)``
"""

from __future__ import annotations

from typing import Any

from perflab.results.model import CellResults, RepeatResult
from perflab.results.run_values import (
    GENERATOR_SATURATED,
    STEAL_NOTICEABLE_PCT,
    generator_cpu_share,
    steal_pct,
)

# Another process this busy before a repeat started (% of the whole machine) competes with it.
BUSY_PCT = 25.0


def conditions_notes(old: CellResults, new: CellResults) -> tuple[str, ...]:
    """One line per side and kind of problem. Usage: see module."""
    notes = []
    for side, cell in (("OLD", old), ("NEW", new)):
        saturated, unsteady, busy, stolen = [], [], [], []
        for repeat in cell.repeats:
            share = generator_cpu_share(repeat)
            if share is not None and share >= GENERATOR_SATURATED:
                saturated.append(f"{repeat.repeat} ({share:.0%})")
            conditions = _conditions(repeat)
            if conditions.get("warmup_steady") is False:
                unsteady.append(f"{repeat.repeat} ({conditions.get('warmup_s', '?')} s)")
            busy_pct = conditions.get("busy_pct_before")
            if isinstance(busy_pct, int | float) and busy_pct >= BUSY_PCT:
                busy.append(f"{repeat.repeat} ({busy_pct:.0f}%)")
            stolen_pct = steal_pct(repeat)
            if stolen_pct is not None and stolen_pct >= STEAL_NOTICEABLE_PCT:
                stolen.append(f"{repeat.repeat} ({stolen_pct:.0f}%)")
        if saturated:
            notes.append(
                f"{side} repeat {', '.join(saturated)}: the load generator used a full core; "
                "the client may have set the pace, not the server"
            )
        if unsteady:
            notes.append(
                f"{side} repeat {', '.join(unsteady)}: throughput still drifting at the end of "
                "the warm-up"
            )
        if busy:
            notes.append(f"{side} repeat {', '.join(busy)}: the machine was busy before it started")
        if stolen:
            notes.append(
                f"{side} repeat {', '.join(stolen)}: the host withheld that share of the CPU time "
                "(steal) while it ran"
            )
    return tuple(notes)


def _conditions(repeat: RepeatResult) -> dict[str, Any]:
    found = repeat.extra.get("conditions")
    return found if isinstance(found, dict) else {}
