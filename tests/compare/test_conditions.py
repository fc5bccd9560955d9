"""What compare prints under a cell about the conditions its repeats ran under."""

from __future__ import annotations

from perflab.compare import comparison_markdown
from perflab.compare.conditions import conditions_notes
from perflab.results.model import CellResults
from tests.compare.test_comparison import Doc, compare, find_cell, ran_cells, sample


def _cell(data: Doc, study: str, name: str) -> CellResults:
    return CellResults.from_dict(find_cell(data, study, name))


def _first_ran_cell(data: Doc) -> tuple[str, str]:
    study, cell = next(ran_cells(data))
    return study, cell["name"]


def _set_conditions(data: Doc, study: str, name: str, run: int, **conditions: object) -> None:
    find_cell(data, study, name)["runs"][run]["conditions"] = {
        "warmup_s": 5.0, "warmup_steady": True, "busy_pct_before": 2.0,
        "generator_cpu_share": 0.3, "steal_pct": 0.1, **conditions,
    }  # fmt: skip


def test_quiet_repeats_say_nothing() -> None:
    old, new = sample(), sample()
    study, name = _first_ran_cell(old)
    for data in (old, new):
        _set_conditions(data, study, name, 0)
    assert conditions_notes(_cell(old, study, name), _cell(new, study, name)) == ()


def test_a_repeat_the_host_withheld_cpu_from_is_named() -> None:
    old, new = sample(), sample()
    study, name = _first_ran_cell(old)
    _set_conditions(old, study, name, 0, steal_pct=1.5)  # below a few percent: not worth a line
    _set_conditions(new, study, name, 0, steal_pct=7.4)
    [note] = conditions_notes(_cell(old, study, name), _cell(new, study, name))
    repeat = find_cell(new, study, name)["runs"][0]["repeat"]
    assert note.startswith(f"NEW repeat {repeat} (7%): the host withheld")
    assert "(steal)" in note
    assert "(steal)" in comparison_markdown(compare(old, new))  # under the cell's verdicts


def test_older_files_without_steal_say_nothing_of_it() -> None:
    old, new = sample(), sample()
    study, name = _first_ran_cell(old)
    _set_conditions(new, study, name, 0, steal_pct=None, busy_pct_before=60.0)
    [note] = conditions_notes(_cell(old, study, name), _cell(new, study, name))
    assert note.endswith("the machine was busy before it started")
