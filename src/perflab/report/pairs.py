"""Which two cells a study's headline compares: the best "right" one and the worst "naive" one.

Cells are ranked by measured throughput (correct answers per second); a study run only with
`--find-knee` has no throughput, and its cells are ranked by their knee rate instead (the
highest rate within the SLO, 0 when no rate met it). Without a "right" cell the fastest
non-naive cell stands in.

Usage::

    best, naive, by_knee = headline_pair(cells)
"""

from __future__ import annotations

from perflab.report.figures import CellSummary, rank_value


def headline_pair(
    cells: list[CellSummary],
) -> tuple[CellSummary | None, CellSummary | None, bool]:
    """(best right cell, slowest naive cell, ranked by knee rate). Usage: see module."""
    measured = [c for c in cells if c.measured]
    by_knee = not measured
    ranked = measured or [c for c in cells if c.knee]

    def score(cell: CellSummary) -> float:
        return rank_value(cell, by_knee)

    naive_cells = [c for c in ranked if c.role == "naive"]
    others = [c for c in ranked if c.role == "right"] or [c for c in ranked if c.role != "naive"]
    best = max(others, key=score) if others else None
    naive = min(naive_cells, key=score) if naive_cells else None
    return best, naive, by_knee
