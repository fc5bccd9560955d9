"""The results file: finding it, the version check (v1 still read), clear errors, atomic write."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from perflab.results import (
    FORMAT,
    MalformedResultsError,
    ResultsError,
    ResultsNotFoundError,
    new_run,
    read_run,
    write_run,
)
from tests.report.samples import sample_document, write

V1_SMOKE = Path(__file__).parents[1] / "bench" / "data" / "smoke-results.json"


def test_a_directory_or_its_parent_finds_results_json(tmp_path: Path) -> None:
    document = sample_document()
    write(document, tmp_path / "20260101T000000Z-aaaa")
    newer = write(document | {"run_id": "newer"}, tmp_path / "20260102T000000Z-bbbb")
    assert read_run(newer.parent).run_id == "newer"
    assert read_run(tmp_path, newest_run=True).run_id == "newer"  # the newest run folder
    assert read_run(newer).path == newer
    with pytest.raises(ResultsNotFoundError):
        read_run(tmp_path)  # a folder of runs is read only when asked for the newest


def test_files_written_before_v2_still_read() -> None:
    """Both stored samples were written by perflab.bench/1 code (before goals were stored)."""
    for path in (V1_SMOKE, Path(__file__).parents[1] / "report" / "data" / "sample-results.json"):
        assert json.loads(path.read_text(encoding="utf-8"))["format"] == "perflab.bench/1"
        run = read_run(path)
        assert run.studies
        assert all(study.goals == [] for study in run.studies)
        assert any(cell.measured for study in run.studies for cell in study.cells)


def test_written_runs_read_back_as_v2(tmp_path: Path) -> None:
    run = read_run(V1_SMOKE)
    path = write_run(run, tmp_path / "run" / "results.json")
    assert json.loads(path.read_text(encoding="utf-8"))["format"] == FORMAT
    again = read_run(path)
    assert [s.name for s in again.studies] == [s.name for s in run.studies]
    assert not list(path.parent.glob("*.tmp"))  # written whole, then renamed


def test_a_new_run_records_the_machine() -> None:
    run = new_run("perflab bench notes", profile="quick", repeat=2)
    assert run.machine["cores"]
    assert run.machine["cpu"]
    assert run.machine["load_avg_before"] is not None
    assert run.to_dict(FORMAT)["repeat"] == 2


@pytest.mark.parametrize("found", ["perflab.bench/3", None, "locust"])
def test_another_format_is_refused_clearly(tmp_path: Path, found: str | None) -> None:
    document = sample_document()
    document["format"] = found
    path = write(document, tmp_path)
    with pytest.raises(ResultsError) as error:
        read_run(path)
    assert repr(found) in str(error.value)
    assert FORMAT in str(error.value)
    assert str(path) in str(error.value)


def test_not_json_and_missing_files_are_clear(tmp_path: Path) -> None:
    broken = tmp_path / "results.json"
    broken.write_text("{not json", encoding="utf-8")
    with pytest.raises(ResultsError, match="is not JSON"):
        read_run(broken)
    (tmp_path / "list.json").write_text(json.dumps([1, 2]), encoding="utf-8")
    with pytest.raises(ResultsError, match="no results document"):
        read_run(tmp_path / "list.json")
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(FileNotFoundError, match=r"no results\.json"):
        read_run(empty)
    with pytest.raises(FileNotFoundError, match="neither a file nor a directory"):
        read_run(tmp_path / "nowhere")


def test_a_malformed_part_is_named(tmp_path: Path) -> None:
    document = sample_document()
    del document["studies"][0]["cells"][0]["runs"][0]["recording"]["names"]
    with pytest.raises(MalformedResultsError, match="names") as error:
        read_run(write(document, tmp_path))
    assert "malformed results" in str(error.value)
