"""The report's numbers and sentence, checked against values computed from the JSON itself."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
from hdrh.histogram import HdrHistogram

from perflab.report.summary import StudySummary, summarize_study
from perflab.report.units import format_ms, format_pct, format_rate, format_ratio
from perflab.results import read_run as load_results
from tests.report.samples import (
    first_ran_study,
    knee_only,
    measured_cells,
    ok_rate_per_s,
    sample_document,
    with_edge_cases,
    with_failures,
    write,
)


def summaries(document: dict[str, Any], tmp_path: Path) -> dict[str, StudySummary]:
    results = load_results(write(document, tmp_path))
    return {study.name: summarize_study(study) for study in results.studies}


def merged_percentile_ms(cell: dict[str, Any], percentile: float) -> float:
    merged = HdrHistogram(1, 3_600_000_000, 3)
    for run in cell["runs"]:
        merged.add(HdrHistogram.decode(run["recording"]["histogram"]))
    return float(merged.get_value_at_percentile(percentile)) / 1000


def signal_max(cell: dict[str, Any], key: str, summary_key: str | None = None) -> float | None:
    values = [float(s[key]) for run in cell["runs"] for s in run["signals"]["series"] if key in s]
    if summary_key:
        values += [
            float(run["signals"]["summary"][summary_key])
            for run in cell["runs"]
            if run["signals"]["summary"].get(summary_key) is not None
        ]
    return max(values) if values else None


def test_cell_numbers_match_the_json(tmp_path: Path) -> None:
    document = sample_document()
    by_name = summaries(document, tmp_path)
    checked = 0
    for raw_study in document["studies"]:
        study = by_name[raw_study["name"]]
        raw_cells = {c["name"]: c for c in measured_cells(raw_study)}
        for cell in study.cells:
            raw = raw_cells.get(cell.name)
            if raw is None:
                assert not cell.measured
                continue
            requests = sum(r["recording"]["requests"] for r in raw["runs"])
            failures = sum(sum(r["recording"]["failures_by_kind"].values()) for r in raw["runs"])
            assert cell.requests == requests
            assert cell.throughput_per_s == pytest.approx(ok_rate_per_s(raw))
            assert cell.error_pct == pytest.approx(100 * failures / requests)
            assert cell.p50_ms == merged_percentile_ms(raw, 50)
            assert cell.p90_ms == merged_percentile_ms(raw, 90)
            assert cell.p99_ms == merged_percentile_ms(raw, 99)
            assert cell.p999_ms == merged_percentile_ms(raw, 99.9)
            assert cell.cpu_max_pct == signal_max(raw, "cpu_pct")
            assert cell.rss_max_bytes == signal_max(raw, "rss_bytes", "rss_max_bytes")
            assert cell.loop_lag_max_ms == signal_max(raw, "loop_lag_ms", "loop_lag_max_ms")
            checked += 1
    assert checked >= 2


def test_reference_rows_sit_beside_their_cells_with_the_machine(tmp_path: Path) -> None:
    document = sample_document()
    by_name = summaries(document, tmp_path)
    for raw_study in document["studies"]:
        for reference in raw_study["references"]:
            study = by_name[raw_study["name"]]
            cell = next((c for c in study.cells if c.name == reference["cell"]), None)
            if cell is None:
                assert reference in study.unmatched_references
            else:
                assert cell.reference is not None
                assert cell.reference["machine"] == reference["machine"]


def expected_pair(raw_study: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    cells = measured_cells(raw_study)
    right = [c for c in cells if c["role"] == "right"] or [c for c in cells if c["role"] != "naive"]
    naive = [c for c in cells if c["role"] == "naive"]
    return max(right, key=ok_rate_per_s), min(naive, key=ok_rate_per_s)


def test_sentence_names_the_best_right_and_the_naive_cell_with_their_figures(
    tmp_path: Path,
) -> None:
    document = sample_document()
    by_name = summaries(document, tmp_path)
    for raw_study in document["studies"]:
        study = by_name[raw_study["name"]]
        if raw_study["status"] != "ran":
            assert raw_study["reason"] in study.sentence
            assert study.sentence.startswith("Not measured")
            continue
        best, naive = expected_pair(raw_study)
        assert study.best is not None
        assert study.best.name == best["name"]
        assert study.naive is not None
        assert study.naive.name == naive["name"]
        sentence = study.sentence
        assert best["name"] in sentence
        assert naive["name"] in sentence
        assert format_rate(ok_rate_per_s(best)) in sentence
        assert format_rate(ok_rate_per_s(naive)) in sentence
        assert format_ms(merged_percentile_ms(best, 99)) in sentence
        ratio = ok_rate_per_s(best) / ok_rate_per_s(naive)
        if ratio >= 1.1:
            assert f"{format_ratio(ratio)} the throughput of the naive {naive['name']}" in sentence
        elif ratio <= 1 / 1.1:
            assert sentence.startswith(f"The naive {naive['name']} won")
        else:
            assert "about the same" in sentence
        lag_best = signal_max(best, "loop_lag_ms", "loop_lag_max_ms") or 0.0
        lag_naive = signal_max(naive, "loop_lag_ms", "loop_lag_max_ms") or 0.0
        if lag_naive >= 100 and lag_naive >= 2 * lag_best:
            assert f"{naive['name']}'s event loop lagged up to {format_ms(lag_naive)}" in sentence
        slo = raw_study["slo_p99_ms"]
        assert f"the {format_ms(slo)} p99 SLO" in sentence


def test_a_naive_cell_that_wins_is_said_plainly(tmp_path: Path) -> None:
    document = sample_document()
    raw_study = first_ran_study(document)
    cells = sorted(measured_cells(raw_study), key=ok_rate_per_s)
    for cell in raw_study["cells"]:
        cell["role"] = "variant"
    cells[0]["role"], cells[-1]["role"] = "right", "naive"  # the fastest is now the naive one
    study = summaries(document, tmp_path)[raw_study["name"]]
    assert study.sentence.startswith(f"The naive {cells[-1]['name']} won")
    assert format_rate(ok_rate_per_s(cells[-1])) in study.sentence
    assert f"best right cell {cells[0]['name']}" in study.sentence
    assert study.speedup is not None
    assert study.speedup < 1


def test_dominating_errors_are_said(tmp_path: Path) -> None:
    document = sample_document()
    raw_study = first_ran_study(document)
    _, naive = expected_pair(raw_study)
    document = with_failures(document, naive["name"], 0.8, "timeout")
    study = summaries(document, tmp_path)[raw_study["name"]]
    assert study.naive is not None
    assert study.naive.failures_by_kind == {"timeout": study.naive.failures}
    expected = f"errors dominate: {format_pct(study.naive.error_pct)} of {naive['name']}'s"
    assert expected in study.sentence
    assert "mostly timeout" in study.sentence
    # Throughput counts correct answers only.
    failed = with_failures(sample_document(), naive["name"], 0.8, "timeout")
    raw_naive = next(c for c in first_ran_study(failed)["cells"] if c["name"] == naive["name"])
    assert study.naive.throughput_per_s == pytest.approx(ok_rate_per_s(raw_naive))


def test_knee_skipped_cells_and_missing_studies(tmp_path: Path) -> None:
    document = with_edge_cases(sample_document())
    by_name = summaries(document, tmp_path)
    raw_study = first_ran_study(document)
    study = by_name[raw_study["name"]]
    knee_cell = next(c for c in raw_study["cells"] if c["knee"])
    knee = knee_cell["knee"]
    assert f"{knee_cell['name']} held {format_rate(knee['rate_per_s'])} req/s" in study.sentence
    assert "cpu saturated first" in study.sentence
    assert knee["evidence"] in study.sentence
    skipped = next(c for c in study.cells if c.name == "queue-redis")
    assert not skipped.measured
    assert skipped.reason == "Redis not reachable at 127.0.0.1:6379"
    assert skipped.p99_ms is None
    assert skipped.cpu_max_pct is None
    assert [r["label"] for r in study.unmatched_references] == ["seed sync variant"]
    missing = by_name["fanout"]
    assert missing.best is None
    assert missing.speedup is None
    assert missing.sentence == (
        "Not measured (not available): the fanout endpoints have not landed."
    )


def test_without_a_naive_cell_the_fastest_and_slowest_are_compared(tmp_path: Path) -> None:
    document = sample_document()
    raw_study = first_ran_study(document)
    for cell in raw_study["cells"]:
        cell["role"] = "variant"
    cells = sorted(measured_cells(raw_study), key=ok_rate_per_s)
    study = summaries(document, tmp_path)[raw_study["name"]]
    assert study.naive is None
    assert cells[-1]["name"] in study.sentence
    assert cells[0]["name"] in study.sentence
    assert "naive" not in study.sentence


def test_a_single_cell_is_described(tmp_path: Path) -> None:
    document = sample_document()
    raw_study = first_ran_study(document)
    only = copy.deepcopy(measured_cells(raw_study)[0])
    raw_study["cells"] = [only]
    study = summaries(document, tmp_path)[raw_study["name"]]
    assert study.sentence.startswith(
        f"{only['name']} served {format_rate(ok_rate_per_s(only))} req/s with p50 "
    )


def test_no_measured_cell_gives_their_reasons(tmp_path: Path) -> None:
    document = with_edge_cases(sample_document())
    raw_study = first_ran_study(document)
    raw_study["cells"] = [c for c in raw_study["cells"] if not c["runs"]]
    study = summaries(document, tmp_path)[raw_study["name"]]
    assert study.sentence.startswith("No cell produced a measurement")
    assert "Redis not reachable" in study.sentence
    assert "port in use" in study.sentence


def test_a_knee_only_run_compares_knee_rates(tmp_path: Path) -> None:
    document = knee_only(sample_document())
    raw_study = first_ran_study(sample_document())
    study = summaries(document, tmp_path)[raw_study["name"]]
    right = next(c for c in raw_study["cells"] if c["role"] == "right")
    naive = next(c for c in raw_study["cells"] if c["role"] == "naive")
    assert study.by_knee
    assert study.best is not None
    assert study.best.name == right["name"]
    assert study.speedup == pytest.approx(2.0)
    assert study.sentence.startswith(
        f"{right['name']} held 2.0x the rate of the naive {naive['name']} within the "
        f"{format_ms(raw_study['slo_p99_ms'])} p99 SLO (20.0 vs 10.0 req/s)"
    )
    assert f"in {right['name']} cpu saturated first ({right['name']} evidence)" in study.sentence
    assert f"in {naive['name']} loop saturated first" in study.sentence
    assert study.best.knee_p99_ms == 700.0
