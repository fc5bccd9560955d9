"""A study goal's outcome as stored with the results: what was asked, what was measured.

A goal (a `[[goal]]` table of a study, see docs/bench.md) compares one metric of one cell to
a threshold, or to the same metric of another cell measured in the same run (a ratio: what
holds on a noisy machine). `perflab bench` evaluates it after the study ran and stores this
record; the report shows it, `--strict` fails on a goal not met.

Usage::

    goal = GoalResult.from_dict(stored)
    goal.status, goal.value, goal.describe()
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

MET, NOT_MET, NOT_MEASURED = "met", "not met", "not measured"


@dataclass(frozen=True)
class GoalResult:
    """One goal and its outcome. Usage: ``goal.status == MET``"""

    name: str
    metric: str  # throughput | p50 | p90 | p99 | p999 | errors | cpu_us_per_request ...
    cell: str
    baseline: str | None  # another cell: the value is cell / baseline; None: absolute
    request: str | None  # a request name; None: the study's main request (or all)
    at_least: float | None
    at_most: float | None
    reason: str
    source: str
    value: float | None  # the measured ratio (or absolute value in the metric's unit)
    status: str  # met | not met | not measured
    detail: str  # the figures behind the value, or why nothing was measured

    @property
    def met(self) -> bool:
        """True when the goal was measured and met. Usage: ``goal.met``"""
        return self.status == MET

    def threshold_text(self) -> str:
        """``">= 1.6x"`` or ``"<= 50 ms"``. Usage: ``goal.threshold_text()``"""
        unit = "x" if self.baseline else f" {metric_unit(self.metric)}".rstrip()
        parts = []
        if self.at_least is not None:
            parts.append(f">= {self.at_least:g}{unit}")
        if self.at_most is not None:
            parts.append(f"<= {self.at_most:g}{unit}")
        return " and ".join(parts)

    def describe(self) -> str:
        """What is compared, in words. Usage: ``goal.describe()``"""
        what = f"{self.metric} of {self.cell}"
        if self.request:
            what = f"{self.metric} ({self.request}) of {self.cell}"
        if self.baseline:
            what += f" / {self.baseline}"
        return f"{what} {self.threshold_text()}"

    def to_dict(self) -> dict[str, Any]:
        """As stored. Usage: ``goal.to_dict()``"""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> GoalResult:
        """Inverse of `to_dict`. Usage: ``GoalResult.from_dict(stored)``"""
        return cls(
            name=str(data["name"]),
            metric=str(data["metric"]),
            cell=str(data["cell"]),
            baseline=_text(data.get("baseline")),
            request=_text(data.get("request")),
            at_least=_number(data.get("at_least")),
            at_most=_number(data.get("at_most")),
            reason=str(data.get("reason") or ""),
            source=str(data.get("source") or ""),
            value=_number(data.get("value")),
            status=str(data.get("status") or NOT_MEASURED),
            detail=str(data.get("detail") or ""),
        )


def metric_unit(metric: str) -> str:
    """The unit a goal's absolute value is in. Usage: ``metric_unit("p99")  # "ms"``"""
    if metric.startswith("p") and metric[1:].isdigit():
        return "ms"
    return {
        "throughput": "req/s",
        "errors": "%",
        "shed": "%",
        "lost": "%",
        "wrong": "%",
        "cpu_us_per_request": "us",
        "loop_lag_max": "ms",
        "rss_max": "MB",
        "recovery_s": "s",
        "p99_recovery_s": "s",
        "unreconciled": "writes",
    }.get(metric, "")


def _text(value: Any) -> str | None:
    return str(value) if value is not None else None


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) else None
