"""Loading stored results: the format check, finding the file, merging repeats."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hdrh.histogram import HdrHistogram

from perflab.report.load import FORMAT, ResultsFormatError, load_results
from tests.report.samples import SAMPLE, measured_cells, ok_rate_per_s, sample_document, write


def test_the_sample_loads_with_every_study_and_cell() -> None:
    document = sample_document()
    results = load_results(SAMPLE)
    assert results.run_id == document["run_id"]
    assert results.machine["cores"] == document["machine"]["cores"]
    assert [s.name for s in results.studies] == [s["name"] for s in document["studies"]]
    for study, raw in zip(results.studies, document["studies"], strict=True):
        assert study.status == raw["status"]
        assert [c.name for c in study.cells] == [c["name"] for c in raw["cells"]]


def test_a_directory_or_its_parent_finds_results_json(tmp_path: Path) -> None:
    document = sample_document()
    write(document, tmp_path / "20260101T000000Z-aaaa")
    newer = write(document | {"run_id": "newer"}, tmp_path / "20260102T000000Z-bbbb")
    assert load_results(newer.parent).run_id == "newer"
    assert load_results(tmp_path).run_id == "newer"  # the newest run folder
    assert load_results(newer).path == newer


def test_repeats_merge_histograms_and_average_throughput() -> None:
    document = sample_document()
    results = load_results(SAMPLE)
    for study, raw in zip(results.studies, document["studies"], strict=True):
        raw_cells = {c["name"]: c for c in measured_cells(raw)}
        for cell in study.cells:
            if cell.name not in raw_cells:
                assert not cell.measured
                continue
            runs = raw_cells[cell.name]["runs"]
            # HdrHistogram's own decode and add, independent of perflab's histogram class.
            merged = HdrHistogram(1, 3_600_000_000, 3)
            for run in runs:
                merged.add(HdrHistogram.decode(run["recording"]["histogram"]))
            assert cell.total.requests == sum(r["recording"]["requests"] for r in runs)
            assert cell.total.histogram.total_count == merged.get_total_count()
            for percentile in (50.0, 99.0, 99.9):
                assert cell.total.histogram.value_at_percentile(
                    percentile
                ) == merged.get_value_at_percentile(percentile)
            assert cell.throughput_mean_per_s == pytest.approx(ok_rate_per_s(raw_cells[cell.name]))
            rates = [r["recording"]["ok"] / r["recording"]["duration_s"] for r in runs]
            assert cell.throughputs_per_s == pytest.approx(rates)
            assert len(cell.runs) == len(runs)


@pytest.mark.parametrize("found", ["perflab.bench/2", None, "locust"])
def test_another_format_is_refused_clearly(tmp_path: Path, found: str | None) -> None:
    document = sample_document()
    document["format"] = found
    path = write(document, tmp_path)
    with pytest.raises(ResultsFormatError) as error:
        load_results(path)
    assert repr(found) in str(error.value)
    assert FORMAT in str(error.value)
    assert str(path) in str(error.value)


def test_not_json_and_missing_files_are_clear(tmp_path: Path) -> None:
    broken = tmp_path / "results.json"
    broken.write_text("{not json", encoding="utf-8")
    with pytest.raises(ResultsFormatError, match="is not JSON"):
        load_results(broken)
    (tmp_path / "list.json").write_text(json.dumps([1, 2]), encoding="utf-8")
    with pytest.raises(ResultsFormatError, match="no results document"):
        load_results(tmp_path / "list.json")
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(FileNotFoundError, match=r"no results\.json"):
        load_results(empty)
    with pytest.raises(FileNotFoundError, match="neither a file nor a directory"):
        load_results(tmp_path / "nowhere")
