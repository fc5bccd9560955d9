"""The studies' goals as the report shows them: a count for the headline, a table per study.

A goal (a `[[goal]]` table of the study, checked by `perflab bench` after the study ran and
stored with the results) is met, not met or not measured; each row shows the measured ratio or
value beside its threshold, the figures behind it (or why nothing was measured), the reason
and the source. Shared by the Markdown and the HTML page.

Usage::

    goals_line(summaries)           # "Goals: 7 of 9 met, 1 not met, 1 not measured." or None
    header, rows, kinds = goals_table(summary.goals)
"""

from __future__ import annotations

from perflab.report.figures import StudySummary
from perflab.report.units import MISSING
from perflab.results.goals import MET, NOT_MEASURED, NOT_MET, GoalResult, metric_unit

GOALS_HEADER = ("Goal", "Status", "Measured", "Threshold", "Compared", "Reason", "Source")
GOAL_TEXT_COLUMNS = frozenset({"Goal", "Status", "Compared", "Reason", "Source"})
STATUS_ORDER = (NOT_MET, MET, NOT_MEASURED)  # the table lists what failed first


def goal_counts(goals: list[GoalResult]) -> dict[str, int]:
    """How many goals are met, not met, not measured. Usage: ``goal_counts(study.goals)``"""
    counts = dict.fromkeys(STATUS_ORDER, 0)
    for goal in goals:
        counts[goal.status if goal.status in counts else NOT_MEASURED] += 1
    return counts


def counts_text(goals: list[GoalResult]) -> str:
    """``"2 of 3 met, 1 not measured"``. Usage: ``counts_text(study.goals)``"""
    counts = goal_counts(goals)
    parts = [f"{counts[MET]} of {len(goals)} met"]
    parts += [f"{counts[s]} {s}" for s in (NOT_MET, NOT_MEASURED) if counts[s]]
    return ", ".join(parts)


def goals_line(studies: list[StudySummary]) -> str | None:
    """The headline's count over every study, naming the goals not met; None without goals.
    Usage: ``goals_line(summaries)``"""
    goals = [goal for study in studies for goal in study.goals]
    if not goals:
        return None
    line = f"Goals: {counts_text(goals)}."
    missed = [f"{s.name}: {g.name}" for s in studies for g in s.goals if g.status == NOT_MET]
    if missed:
        line += " Not met: " + "; ".join(missed) + "."
    return line


def format_goal_value(goal: GoalResult) -> str:
    """The measured ratio (``"1.83x"``) or value in the metric's unit (``"7.1 ms"``), or —.
    Usage: ``format_goal_value(goal)``"""
    if goal.value is None:
        return MISSING
    if goal.baseline:
        return f"{goal.value:.2f}x"
    unit = metric_unit(goal.metric)
    number = f"{goal.value:,.3g}" if abs(goal.value) < 1000 else f"{goal.value:,.0f}"
    return f"{number} {unit}".rstrip() if unit != "%" else f"{number}%"


def compared_text(goal: GoalResult) -> str:
    """What is compared, with the figures behind it or why nothing was measured."""
    what = goal.metric + (f" of {goal.request}" if goal.request else "")
    cells = f"{goal.cell} / {goal.baseline}" if goal.baseline else goal.cell
    return f"{what}, {cells}: {goal.detail}" if goal.detail else f"{what}, {cells}"


def goals_table(goals: list[GoalResult]) -> tuple[tuple[str, ...], list[list[str]], list[str]]:
    """One row per goal, those not met first; kinds are CSS classes (``goal not-met``).
    Usage: ``header, rows, kinds = goals_table(summary.goals)``"""
    ordered = sorted(goals, key=lambda g: _rank(g.status))
    rows = [
        [
            goal.name,
            goal.status,
            format_goal_value(goal),
            goal.threshold_text() or MISSING,
            compared_text(goal),
            goal.reason or MISSING,
            goal.source or MISSING,
        ]
        for goal in ordered
    ]
    kinds = [f"goal {goal.status.replace(' ', '-')}" for goal in ordered]
    return GOALS_HEADER, rows, kinds


def _rank(status: str) -> int:
    return STATUS_ORDER.index(status) if status in STATUS_ORDER else len(STATUS_ORDER)
