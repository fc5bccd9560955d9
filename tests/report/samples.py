"""The stored sample results and variants of it that exercise what the sample lacks.

The sample (tests/report/data/sample-results.json) is a real `perflab bench` output; the
variants edit a copy of its JSON (a skipped cell, a failed cell, a knee, errors), so every
number the tests check still comes from real recorded histograms.
"""

from __future__ import annotations

import copy
import json
import math
from pathlib import Path
from typing import Any

SAMPLE = Path(__file__).parent / "data" / "sample-results.json"

SIGNAL_KEYS = {  # the report's signal charts and the sample keys that feed each
    "loop_lag_ms": ("loop_lag_ms",),
    "waiting_jobs": ("offload_queued", "queue_backlog"),
    "threadpool_in_use": ("threadpool_in_use",),
    "cpu_pct": ("cpu_pct",),
}


def sample_document() -> dict[str, Any]:
    """A fresh copy of the stored sample's JSON."""
    document: dict[str, Any] = json.loads(SAMPLE.read_text(encoding="utf-8"))
    return document


def write(document: dict[str, Any], folder: Path) -> Path:
    """Store a document as folder/results.json, as `perflab bench` does."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "results.json"
    path.write_text(json.dumps(document), encoding="utf-8")
    return path


def measured_cells(study: dict[str, Any]) -> list[dict[str, Any]]:
    """Cells with at least one recorded request."""
    return [
        cell
        for cell in study["cells"]
        if cell["runs"] and sum(run["recording"]["requests"] for run in cell["runs"]) > 0
    ]


def ok_rate_per_s(cell: dict[str, Any]) -> float:
    """Mean over repeats of correct answers per second, straight from the JSON."""
    rates: list[float] = []
    for run in cell["runs"]:
        recording = run["recording"]
        failures = sum(recording["failures_by_kind"].values())
        rates.append((recording["requests"] - failures) / recording["duration_s"])
    return sum(rates) / len(rates)


def first_ran_study(document: dict[str, Any], cells: int = 2) -> dict[str, Any]:
    """The first study that measured at least `cells` cells."""
    return next(s for s in document["studies"] if len(measured_cells(s)) >= cells)


def with_edge_cases(document: dict[str, Any]) -> dict[str, Any]:
    """The sample plus: a skipped and a failed cell, one that failed after a repeat, a
    knee, a seed row for no cell, a study that is not available, and holes: a repeat without
    server signals or per-second series, a signal sample with NaN and one without a time, a
    study without an SLO."""
    document = copy.deepcopy(document)
    study = first_ran_study(document)
    template = study["cells"][0]
    skipped = copy.deepcopy(template) | {
        "name": "queue-redis",
        "role": "right",
        "status": "skipped",
        "reason": "Redis not reachable at 127.0.0.1:6379",
        "runs": [],
        "knee": None,
    }
    failed = copy.deepcopy(template) | {
        "name": "broken",
        "role": "variant",
        "status": "failed",
        "reason": "server did not start: port in use",
        "runs": [],
        "knee": None,
    }
    partial = copy.deepcopy(template) | {
        "name": "partial",
        "role": "variant",
        "status": "failed",
        "reason": "server exited with status 1 during repeat 2",
        "runs": copy.deepcopy(template["runs"][:1]),
        "knee": None,
    }
    study["cells"] += [skipped, failed, partial]
    best = max(measured_cells(study), key=ok_rate_per_s)
    rate = ok_rate_per_s(best)
    best["knee"] = {
        "slo_p99_ms": study["slo_p99_ms"],
        "rate_per_s": round(rate * 1.5, 1),
        "points": [
            {"rate_per_s": rate, "throughput_per_s": rate, "p50_ms": 100.0, "p99_ms": 200.0,
             "errors": 0, "ok": True},
            {"rate_per_s": rate * 2, "throughput_per_s": rate * 1.6, "p50_ms": 900.0,
             "p99_ms": 9000.0, "errors": 3, "ok": False},
            {"rate_per_s": rate * 1.5, "throughput_per_s": rate * 1.45, "p50_ms": 300.0,
             "p99_ms": 800.0, "errors": 0, "ok": True},
        ],
        "saturated": "cpu",
        "evidence": "server CPU reached 198% of 2 cores while the loop lag stayed under 5 ms",
    }  # fmt: skip
    study["references"].append(
        {"cell": None, "label": "seed sync variant", "requests_per_s": 2.41, "p50_ms": None,
         "p99_ms": None, "mean_ms": None, "failure_pct": 2.4,
         "machine": "a laptop of 2019", "source": "seed README"}
    )  # fmt: skip
    holes = measured_cells(study)[0]
    holes["runs"][0].pop("signals")
    holes["runs"][0]["recording"].pop("time_series")
    for run in measured_cells(study)[-1]["runs"]:
        run["signals"]["series"][0]["cpu_pct"] = float("nan")
        run["signals"]["series"].append({"rss_bytes": 1})  # no t_s: not on the time axis
    others = [s for s in document["studies"] if s is not study and measured_cells(s)]
    for other in others[:1]:
        other["slo_p99_ms"] = None
        multi = next((c for c in measured_cells(other) if len(names_of(c)) > 1), None)
        if multi is not None:  # a seed row for one request of the cell (as seed 003 has)
            other["references"].append(
                {"cell": multi["name"], "request": names_of(multi)[-1],
                 "label": "seed row for one request", "requests_per_s": 3.5, "p50_ms": 40.0,
                 "p99_ms": 90.0, "mean_ms": None, "failure_pct": None,
                 "machine": "a desktop", "source": "seed README"}
            )  # fmt: skip
    document["studies"].append(
        {"name": "fanout", "seed": "004", "title": "Slow downstream calls",
         "question": "How many slow calls can one worker wait on?", "slo_p99_ms": 6000.0,
         "status": "not_available", "reason": "the fanout endpoints have not landed",
         "references": [], "cells": []}
    )  # fmt: skip
    return document


def names_of(cell: dict[str, Any]) -> list[str]:
    """The request names a cell's first repeat recorded."""
    return sorted(cell["runs"][0]["recording"].get("names", {}))


def knee_only(document: dict[str, Any]) -> dict[str, Any]:
    """The first measured study as a `--find-knee` run: no runs, a knee per cell, the right
    cell's knee twice the naive one's."""
    document = copy.deepcopy(document)
    study = first_ran_study(document)
    for cell in study["cells"]:
        rate = 20.0 if cell["role"] == "right" else 10.0
        cell["runs"] = []
        cell["knee"] = {
            "slo_p99_ms": study["slo_p99_ms"],
            "rate_per_s": rate,
            "points": [
                {"rate_per_s": rate / 2, "throughput_per_s": rate / 2, "p50_ms": 50.0,
                 "p99_ms": 120.0, "errors": 0, "ok": True},
                {"rate_per_s": rate * 2, "throughput_per_s": rate * 1.2, "p50_ms": 2000.0,
                 "p99_ms": 9000.0, "errors": 4, "ok": False},
                {"rate_per_s": rate, "throughput_per_s": rate, "p50_ms": 300.0,
                 "p99_ms": 700.0, "errors": 0, "ok": True},
            ],
            "saturated": "loop" if cell["role"] == "naive" else "cpu",
            "evidence": f"{cell['name']} evidence",
        }  # fmt: skip
    return document


def with_failures(
    document: dict[str, Any], cell_name: str, share: float, kind: str
) -> dict[str, Any]:
    """The cell's every repeat records `share` of its requests as failures of `kind`."""
    document = copy.deepcopy(document)
    for study in document["studies"]:
        for cell in study["cells"]:
            if cell["name"] != cell_name:
                continue
            for run in cell["runs"]:
                # The totals are the names' sum: each name fails its share, totals follow.
                recording = run["recording"]
                parts = list(recording["names"].values())
                for part in parts:
                    failed = round(part["requests"] * share)
                    part["failures_by_kind"] = {kind: failed} if failed else {}
                    part["failures"] = failed
                    part["ok"] = part["requests"] - failed
                failed = sum(part["failures"] for part in parts)
                recording["failures_by_kind"] = {kind: failed} if failed else {}
                recording["failures"] = failed
                recording["ok"] = recording["requests"] - failed
    return document


def expected_charts(document: dict[str, Any]) -> int:
    """Charts the page should draw, counted from the JSON: per study that measured something,
    throughput + spectrum + latency/throughput/errors over time + one per server signal some
    measured cell exposed + the knee when a cell has one."""
    total = 0
    for study in document["studies"]:
        cells = measured_cells(study)
        knee = any(cell.get("knee") and cell["knee"].get("points") for cell in study["cells"])
        if study["status"] != "ran" or not cells:
            total += 1 if study["status"] == "ran" and knee else 0
            continue
        samples = [
            sample
            for cell in cells
            for run in cell["runs"]
            for sample in (run.get("signals") or {}).get("series", [])
            if "t_s" in sample
        ]
        signals = sum(
            any(
                isinstance(s.get(k), int | float) and math.isfinite(s[k])
                for s in samples
                for k in keys
            )
            for keys in SIGNAL_KEYS.values()
        )
        total += 2 + 3 + signals + (1 if knee else 0)
    return total


def with_main_request(document: dict[str, Any], requests: dict[str, str | None]) -> dict[str, Any]:
    """The sample with `main_request` set per study name, as bench now writes it (the stored
    sample predates the key: there it reads as null)."""
    document = copy.deepcopy(document)
    for study in document["studies"]:
        if study["name"] in requests:
            study["main_request"] = requests[study["name"]]
    return document


def multi_name_study(document: dict[str, Any]) -> dict[str, Any]:
    """The first study whose measured cells recorded several request names."""
    return next(
        s
        for s in document["studies"]
        if measured_cells(s) and all(len(names_of(c)) > 1 for c in measured_cells(s))
    )


# Goals as a study file writes them, checked on the sample the way `perflab bench` checks them
# after a study: one met (a ratio), one not met (an absolute bound) and one not measured.
SAMPLE_GOALS: list[dict[str, Any]] = [
    {
        "name": "process keeps up with the loop",
        "cell": "async-process",
        "baseline": "async-inline",
        "metric": "throughput",
        "at_least": 0.5,
        "reason": "a pool of processes beside the loop",
        "source": "a test",
    },
    {
        "name": "sub-millisecond blur",
        "cell": "async-process",
        "metric": "p99",
        "at_most": 1.0,
        "reason": "impossible on purpose",
        "source": "a test | with a pipe",
    },
    {
        "name": "a machine of many cores",
        "cell": "sync",
        "baseline": "async-inline",
        "metric": "throughput",
        "at_least": 1.0,
        "min_cores": 4096,
        "reason": "needs more cores than any test machine",
        "source": "a test",
    },
]


def with_goals(
    document: dict[str, Any], tables: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    """The sample with the first study's goals checked and stored, as bench stores them."""
    from perflab.bench.goals import evaluate_goals, parse_goals
    from perflab.results.model import StudyResults

    document = copy.deepcopy(document)
    study = first_ran_study(document)
    goals = parse_goals(tables or SAMPLE_GOALS, [cell["name"] for cell in study["cells"]])
    results = evaluate_goals(goals, StudyResults.from_dict(study), profile="quick", cores=2)
    study["goals"] = [goal.to_dict() for goal in results]
    return document
