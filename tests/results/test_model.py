"""The typed results model on the stored sample: every study and cell, repeats merged with
exact histograms, the one throughput rule, and a lossless round trip."""

from __future__ import annotations

import pytest
from hdrh.histogram import HdrHistogram

from perflab.results import read_run
from perflab.results.document import FORMAT
from perflab.results.model import RunResults
from tests.report.samples import SAMPLE, measured_cells, ok_rate_per_s, sample_document


def test_the_sample_loads_with_every_study_and_cell() -> None:
    document = sample_document()
    results = read_run(SAMPLE)
    assert results.run_id == document["run_id"]
    assert results.machine["cores"] == document["machine"]["cores"]
    assert [s.name for s in results.studies] == [s["name"] for s in document["studies"]]
    for study, raw in zip(results.studies, document["studies"], strict=True):
        assert study.status == raw["status"]
        assert [c.name for c in study.cells] == [c["name"] for c in raw["cells"]]
        assert study.goals == []  # a perflab.bench/1 file stored none


def test_repeats_merge_histograms_and_average_throughput() -> None:
    document = sample_document()
    results = read_run(SAMPLE)
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
            assert cell.total.rate_mean_per_s == pytest.approx(ok_rate_per_s(raw_cells[cell.name]))
            rates = [r["recording"]["ok"] / r["recording"]["duration_s"] for r in runs]
            assert cell.throughputs_per_s() == pytest.approx(rates)
            assert len(cell.repeats) == len(runs)


def test_per_name_throughput_uses_the_same_rule() -> None:
    results = read_run(SAMPLE)
    for study in results.studies:
        for cell in study.cells:
            for repeat in cell.repeats:
                for name, stats in repeat.recording.names.items():
                    ok = stats.requests - stats.failure_count
                    expected = ok / repeat.duration_s
                    assert repeat.throughput_per_s(name) == pytest.approx(expected)


def test_a_round_trip_through_the_model_keeps_every_figure() -> None:
    document = sample_document()
    again = RunResults.from_dict(read_run(SAMPLE).to_dict(FORMAT))
    written = again.to_dict(FORMAT)
    assert written["format"] == FORMAT
    for study, raw in zip(written["studies"], document["studies"], strict=True):
        for cell, raw_cell in zip(study["cells"], raw["cells"], strict=True):
            assert cell["settings"] == raw_cell["settings"]
            for run, raw_run in zip(cell["runs"], raw_cell["runs"], strict=True):
                for key in ("requests", "failures", "ok", "duration_s", "histogram"):
                    assert run["recording"][key] == raw_run["recording"][key], key
                assert run["signals"]["series"] == raw_run["signals"]["series"]
                assert run["workload_cpu"] == raw_run["workload_cpu"]
