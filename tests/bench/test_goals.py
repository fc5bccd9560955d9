"""Goals as data: the built-in studies' goals are well formed and measurable in some profile,
quick cells measure by time, and a goal is met, not met or not measured by its figures."""

from __future__ import annotations

import copy
import re
from typing import Any

import pytest

from perflab.bench.goals import METRICS, evaluate_goals, parse_goals
from perflab.bench.study import PROFILES, builtin_names, load_study
from perflab.bench.study.loader import on_demand_names
from perflab.bench.workload import cell_requests, cell_streams
from perflab.loadgen import Closed
from perflab.results.errors import StudyError
from perflab.results.goals import MET, NOT_MEASURED, NOT_MET
from perflab.results.model import StudyResults
from tests.report.samples import first_ran_study, ok_rate_per_s, sample_document, with_failures

BASE_URL = "http://127.0.0.1:8000"
STUDIES = ["faceblur", "classify", "notes", "payload", "fanout", "offload", "overload"]
QUICK_WINDOW_S = 10.0  # issue 16: a quick cell measures at least this long


def test_overload_runs_on_demand_only() -> None:
    assert "overload" not in builtin_names()
    assert {"offload", "overload"} <= set(on_demand_names())
    assert load_study("overload", "quick").seed is None


@pytest.mark.parametrize("name", STUDIES)
def test_every_goal_is_explained_and_measurable_in_a_profile(name: str) -> None:
    goals = load_study(name, "quick").goals
    assert goals, f"{name} states its goals"
    for goal in goals:
        assert goal.reason, goal.name
        assert goal.source, goal.name
        assert goal.metric in METRICS
        measured_in = []
        for profile in goal.profiles or PROFILES:
            study = load_study(name, profile)
            cells = [goal.cell] + ([goal.baseline] if goal.baseline else [])
            if all(cell in study.selected for cell in cells):
                measured_in.append(profile)
            for cell in cells:
                sent = {r.label for s in cell_streams(study.cell(cell), BASE_URL, materialise=False)
                        for r in s.requests}  # fmt: skip
                request = goal.request or study.main_request
                assert request is None or request in sent or goal.request is None, (
                    f"{goal.name}: {cell} sends no {request} requests in {profile}"
                )
        assert measured_in, f"{goal.name}: its cells run together in no profile it names"


@pytest.mark.parametrize("name", STUDIES)
def test_quick_cells_measure_by_time(name: str) -> None:
    study = load_study(name, "quick")
    for cell in study.selected_cells():
        for stream in cell_streams(cell, BASE_URL, materialise=False):
            assert not isinstance(stream.model, Closed), f"{cell.name}: a count, not a time"
            assert stream.model.duration_s >= QUICK_WINDOW_S, cell.name


def test_the_probe_requests_exist_where_goals_read_them() -> None:
    overload = load_study("overload", "quick")
    requests = cell_requests(overload.cell("payload-over"), BASE_URL)
    assert requests["large-shed"].expect.status == (503,)
    assert requests["large-shed"].headers["X-Queue-Budget-S"] == "0"
    assert requests["large"].expect.json_fields["count"] == 1_250_000


def _study(document: dict[str, Any]) -> StudyResults:
    return StudyResults.from_dict(first_ran_study(document))


def _goal(**table: Any) -> dict[str, Any]:
    return {"name": "g", "cell": "async-process", "reason": "r", "source": "s", **table}


CELLS = ["async-inline", "sync", "async-thread", "async-process"]


def test_a_ratio_is_met_or_not_by_its_threshold() -> None:
    document = sample_document()
    raw = first_ran_study(document)
    ratio = ok_rate_per_s(raw["cells"][3]) / ok_rate_per_s(raw["cells"][0])
    tables = [
        _goal(name="low", baseline="async-inline", metric="throughput", at_least=ratio * 0.99),
        _goal(name="high", baseline="async-inline", metric="throughput", at_least=ratio * 1.01),
        _goal(name="full only", metric="p99", at_most=1e9, profiles=["full"]),
    ]
    low, high = evaluate_goals(parse_goals(tables, CELLS), _study(document), "quick", cores=2)
    assert (low.status, high.status) == (MET, NOT_MET)
    assert low.value == pytest.approx(ratio)
    assert low.detail.startswith("async-process ")
    assert " / async-inline " in low.detail


def test_shed_lost_and_wrong_split_the_failures() -> None:
    document = with_failures(sample_document(), "async-process", 0.25, "shed")
    document = with_failures(document, "sync", 0.1, "timeout")
    document = with_failures(document, "async-thread", 0.2, "wrong_content")
    tables = [
        _goal(name="shed", metric="shed", at_least=20.0),
        _goal(name="none lost", metric="lost", at_most=0.0),
        _goal(name="sync lost", cell="sync", metric="lost", at_most=0.0),
        _goal(name="errors", metric="errors", at_most=0.0),
        _goal(name="thread wrong", cell="async-thread", metric="wrong", at_most=0.0),
        _goal(name="thread lost", cell="async-thread", metric="lost", at_most=0.0),
        _goal(name="sync wrong", cell="sync", metric="wrong", at_most=0.0),
    ]
    shed, kept, lost, errors, wrong, not_lost, timeouts_not_wrong = evaluate_goals(
        parse_goals(tables, CELLS), _study(document), "quick", cores=2
    )
    assert shed.status == MET
    assert shed.value == pytest.approx(25.0, abs=0.5)
    assert (kept.status, kept.value) == (MET, 0.0)
    assert lost.status == NOT_MET
    assert lost.value == pytest.approx(10.0, abs=0.5)
    assert errors.status == NOT_MET  # a shed request is still a failed one
    assert wrong.status == NOT_MET
    assert wrong.value == pytest.approx(20.0, abs=0.5)
    assert (not_lost.status, timeouts_not_wrong.status) == (MET, MET)


def test_a_goal_needing_more_cores_is_not_measured() -> None:
    tables = [_goal(metric="throughput", at_least=0.0, min_cores=3)]
    (on_two,) = evaluate_goals(parse_goals(tables, CELLS), _study(sample_document()), "q", 2)
    (on_four,) = evaluate_goals(parse_goals(tables, CELLS), _study(sample_document()), "q", 4)
    assert (on_two.status, on_two.value) == (NOT_MEASURED, None)
    assert on_two.detail == "needs 3 cores; this machine has 2"
    assert on_four.status == MET


def test_a_cell_that_did_not_run_leaves_its_goal_not_measured() -> None:
    document = copy.deepcopy(sample_document())
    first_ran_study(document)["cells"][0] |= {"status": "skipped", "reason": "no Redis", "runs": []}
    tables = [_goal(baseline="async-inline", metric="throughput", at_least=1.0)]
    (goal,) = evaluate_goals(parse_goals(tables, CELLS), _study(document), "quick", cores=2)
    assert goal.status == NOT_MEASURED
    assert goal.detail == "async-inline: skipped (no Redis)"


@pytest.mark.parametrize("missing", [0, 3])
def test_a_cell_left_out_of_the_run_is_the_one_named(missing: int) -> None:
    """`perflab bench --cell` may run one side of a goal only: the detail names the absent
    cell, whichever side it is."""
    document = copy.deepcopy(sample_document())
    cells = first_ran_study(document)["cells"]
    name = cells[missing]["name"]
    del cells[missing]
    tables = [_goal(baseline="async-inline", metric="throughput", at_least=1.0)]
    (goal,) = evaluate_goals(parse_goals(tables, CELLS), _study(document), "quick", cores=2)
    assert goal.status == NOT_MEASURED
    assert goal.detail == f"{name}: not in this run"


@pytest.mark.parametrize(
    ("table", "message"),
    [
        (_goal(metric="p99", at_most=1, colour="red"), "unknown key(s) ['colour']"),
        (_goal(metric="p42", at_most=1), "metric must be one of"),
        (_goal(metric="p99"), "give `at_least` or `at_most`"),
        (_goal(metric="p99", at_most=1, min_cores=0), "`min_cores` must be a whole number"),
        (_goal(metric="p99", at_most=1, min_cores=True), "`min_cores` must be a whole number"),
        (_goal(metric="p99", at_most=1, baseline="nope"), "unknown baseline 'nope'"),
    ],
)
def test_a_broken_goal_says_what_is_wrong(table: dict[str, Any], message: str) -> None:
    with pytest.raises(StudyError, match=re.escape(message)):
        parse_goals([table], CELLS)


def test_cells_makes_one_goal_per_cell() -> None:
    every = parse_goals([_cells_goal(cells="*", metric="p99", at_most=1e9)], CELLS)
    assert [goal.cell for goal in every] == CELLS
    assert every[1].name == "g (sync)"
    two = parse_goals([_cells_goal(cells=["sync", "async-thread"], metric="p99", at_most=1)], CELLS)
    assert [goal.cell for goal in two] == ["sync", "async-thread"]
    with pytest.raises(StudyError, match="not both"):
        parse_goals([_goal(cells="*", metric="p99", at_most=1)], CELLS)
    with pytest.raises(StudyError, match="unknown cell 'nope'"):
        parse_goals([_cells_goal(cells=["nope"], metric="p99", at_most=1)], CELLS)


def _cells_goal(**table: Any) -> dict[str, Any]:
    return {key: value for key, value in _goal(**table).items() if key != "cell"}


def _with_faults(
    faults: list[dict[str, Any]], reconciliation: dict[str, Any] | None
) -> StudyResults:
    study = _study(sample_document())
    for cell in study.cells:
        for repeat in cell.repeats:
            repeat.faults = copy.deepcopy(faults)
            repeat.reconciliation = reconciliation
    return study


def test_fault_metrics_read_the_accounting() -> None:
    faults = [
        {
            "name": "a",
            "error": None,
            "first_success_after_back_s": 0.2,
            "p99_under_slo_after_back_s": 1.0,
        },
        {
            "name": "b",
            "error": None,
            "first_success_after_back_s": 0.7,
            "p99_under_slo_after_back_s": 6.0,
        },
    ]
    outcome = {"missing": 0, "wrong_content": 0, "unacknowledged": 3, "maybe": 2}
    tables = [
        _goal(name="back", metric="recovery_s", at_most=1.0),
        _goal(name="p99 back", metric="p99_recovery_s", at_most=5.0),
        _goal(name="stored", metric="unreconciled", at_most=0),
    ]
    study = _with_faults(faults, outcome)
    back, p99_back, stored = evaluate_goals(parse_goals(tables, CELLS), study, "quick", cores=2)
    assert (back.status, back.value) == (MET, 0.7)
    assert (p99_back.status, p99_back.value) == (NOT_MET, 6.0)
    # One row beyond the "maybe"s in each repeat.
    repeats = len(next(c for c in study.cells if c.name == "async-process").repeats)
    assert (stored.status, stored.value) == (NOT_MET, float(repeats))


def test_a_fault_that_never_recovered_or_never_happened() -> None:
    never = [{"name": "a", "error": None, "first_success_after_back_s": None,
              "p99_under_slo_after_back_s": None}]  # fmt: skip
    (back,) = evaluate_goals(
        parse_goals([_goal(metric="recovery_s", at_most=1.0)], CELLS),
        _with_faults(never, None), "quick", cores=2,
    )  # fmt: skip
    assert back.status == NOT_MET
    undone = [{"name": "a", "error": "no offload_worker process found to kill"}]
    (back, stored) = evaluate_goals(
        parse_goals([_goal(metric="recovery_s", at_most=1.0),
                     _goal(name="s", metric="unreconciled", at_most=0)], CELLS),
        _with_faults(undone, None), "quick", cores=2,
    )  # fmt: skip
    assert (back.status, stored.status) == (NOT_MEASURED, NOT_MEASURED)
