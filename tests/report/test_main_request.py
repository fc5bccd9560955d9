"""A study's main request: the headline, sentence, SLO verdict and charts use that request's
figures (computed here straight from the JSON), the cell table keeps all requests, and a
study without one (null, absent, or not recorded) is judged on all requests as before."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from hdrh.histogram import HdrHistogram

from perflab.report.render import render_report
from perflab.report.summary import StudySummary, summarize_study
from perflab.report.units import format_ms, format_pct, format_rate, format_ratio
from perflab.results import read_run as load_results
from tests.report.samples import (
    measured_cells,
    multi_name_study,
    ok_rate_per_s,
    sample_document,
    with_main_request,
    write,
)

MAIN = "predict"  # classify's main request; the sample's classify cells also send "index"


def summaries(document: dict[str, Any], tmp_path: Path) -> dict[str, StudySummary]:
    results = load_results(write(document, tmp_path / "run"))
    return {study.name: summarize_study(study) for study in results.studies}


def focused_document() -> dict[str, Any]:
    """The sample as bench writes it now: faceblur names "blur" (its only request), the
    multi-request study names "predict"."""
    document = sample_document()
    study = multi_name_study(document)
    return with_main_request(document, {"faceblur": "blur", study["name"]: MAIN})


def name_rate_per_s(cell: dict[str, Any], name: str) -> float:
    rates: list[float] = []
    for run in cell["runs"]:
        stats = run["recording"]["names"][name]
        ok = stats["requests"] - sum(stats["failures_by_kind"].values())
        rates.append(ok / run["recording"]["duration_s"])
    return sum(rates) / len(rates)


def name_percentile_ms(cell: dict[str, Any], name: str | None, percentile: float) -> float:
    """Merged over repeats; `name` None: the whole recording."""
    merged = HdrHistogram(1, 3_600_000_000, 3)
    for run in cell["runs"]:
        stats = run["recording"] if name is None else run["recording"]["names"][name]
        merged.add(HdrHistogram.decode(stats["histogram"]))
    return float(merged.get_value_at_percentile(percentile)) / 1000


def expected_pair(raw_study: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    cells = measured_cells(raw_study)
    right = [c for c in cells if c["role"] == "right"] or [c for c in cells if c["role"] != "naive"]
    naive = [c for c in cells if c["role"] == "naive"]

    def rate(cell: dict[str, Any]) -> float:
        return name_rate_per_s(cell, MAIN)

    return max(right, key=rate), min(naive, key=rate)


def test_the_headline_sentence_and_slo_use_the_main_request(tmp_path: Path) -> None:
    document = focused_document()
    raw_study = multi_name_study(document)
    study = summaries(document, tmp_path)[raw_study["name"]]
    best, naive = expected_pair(raw_study)
    assert study.focus == MAIN
    assert study.best is not None
    assert study.naive is not None
    assert (study.best.name, study.naive.name) == (best["name"], naive["name"])
    for judged, raw in ((study.best, best), (study.naive, naive)):
        assert judged.figures_of == MAIN
        assert judged.throughput_per_s == pytest.approx(name_rate_per_s(raw, MAIN))
        assert judged.p99_ms == name_percentile_ms(raw, MAIN, 99)
    best_rate, naive_rate = name_rate_per_s(best, MAIN), name_rate_per_s(naive, MAIN)
    assert study.speedup == pytest.approx(best_rate / naive_rate)
    sentence = study.sentence
    assert sentence.startswith(f"On the {MAIN} requests: ")
    assert f"({format_rate(best_rate)} vs {format_rate(naive_rate)} req/s)" in sentence
    best_p99, naive_p99 = name_percentile_ms(best, MAIN, 99), name_percentile_ms(naive, MAIN, 99)
    assert f"p99 {format_ms(best_p99)} vs {format_ms(naive_p99)}" in sentence
    ratio = best_rate / naive_rate
    if ratio >= 1.1:
        assert f"{format_ratio(ratio)} the throughput of the naive {naive['name']}" in sentence
    elif ratio > 1 / 1.1:
        assert "about the same" in sentence
    slo = raw_study["slo_p99_ms"]
    within = [c["name"] for c, p99 in ((best, best_p99), (naive, naive_p99)) if p99 <= slo]
    verdict = {2: "both within", 0: "neither within", 1: f"only {within[0]} within"}
    assert f"{verdict[len(within)]} the {format_ms(slo)} p99 SLO" in sentence


def test_the_cell_table_still_counts_all_requests(tmp_path: Path) -> None:
    document = focused_document()
    raw_study = multi_name_study(document)
    study = summaries(document, tmp_path)[raw_study["name"]]
    raw_cells = {c["name"]: c for c in measured_cells(raw_study)}
    differs = 0
    for cell, judged in zip(study.cells, study.judged, strict=True):
        raw = raw_cells[cell.name]
        assert cell.figures_of is None
        assert cell.throughput_per_s == pytest.approx(ok_rate_per_s(raw))
        assert cell.p99_ms == name_percentile_ms(raw, None, 99)
        assert [n.name for n in cell.names] == sorted(raw["runs"][0]["recording"]["names"])
        differs += judged.throughput_per_s != pytest.approx(cell.throughput_per_s)
    assert differs == len(study.cells), "the main request's figures are not the totals"


def test_null_unknown_or_absent_main_request_falls_back_to_totals(tmp_path: Path) -> None:
    plain = summaries(sample_document(), tmp_path / "absent")  # the stored file has no key
    name = multi_name_study(sample_document())["name"]
    for request in (None, "no-such-request"):
        document = with_main_request(sample_document(), {name: request})
        study = summaries(document, tmp_path / str(request))[name]
        assert study.focus is None
        assert [c.figures_of for c in study.judged] == [None] * len(study.judged)
        assert study.sentence == plain[name].sentence
        assert not study.sentence.startswith("On the")
    assert plain[name].main_request is None


def test_a_study_whose_cells_send_only_the_main_request_reads_as_before(tmp_path: Path) -> None:
    plain = summaries(sample_document(), tmp_path / "absent")
    study = summaries(focused_document(), tmp_path)["faceblur"]
    assert study.main_request == "blur"
    assert study.focus is None
    assert study.sentence == plain["faceblur"].sentence


def test_a_cell_that_missed_the_main_request_is_judged_on_all_requests(tmp_path: Path) -> None:
    document = focused_document()
    raw_study = multi_name_study(document)
    _, naive = expected_pair(raw_study)
    del naive["runs"][0]["recording"]["names"][MAIN]
    study = summaries(document, tmp_path)[raw_study["name"]]
    assert study.naive is not None
    assert study.naive.figures_of is None
    # A cell's totals are its names' sum (one source of truth), so the repeat that lost the
    # main request counts what it still recorded.
    rates = []
    for run in naive["runs"]:
        names = run["recording"]["names"].values()
        ok = sum(n["requests"] - sum(n["failures_by_kind"].values()) for n in names)
        rates.append(ok / run["recording"]["duration_s"])
    assert study.naive.throughput_per_s == pytest.approx(sum(rates) / len(rates))
    assert [c.name for c in study.unfocused] == [naive["name"]]
    assert f"{naive['name']} did not record {MAIN} requests: all its requests count" in (
        study.sentence
    )
    markdown, _, _ = render_report(write(document, tmp_path / "md"), tmp_path / "out")
    assert f"Not recorded in every repeat of {naive['name']}: judged on all" in markdown
    assert f"| {MAIN} requests (not in every cell) |" in markdown


def test_errors_of_the_main_request_are_said_as_such(tmp_path: Path) -> None:
    document = focused_document()
    raw_study = multi_name_study(document)
    _, naive = expected_pair(raw_study)
    failed = requests = 0
    for run in naive["runs"]:
        stats = run["recording"]["names"][MAIN]
        stats["failures"] = round(stats["requests"] * 0.8)
        stats["failures_by_kind"] = {"timeout": stats["failures"]}
        stats["ok"] = stats["requests"] - stats["failures"]
        failed += stats["failures"]
        requests += stats["requests"]
    study = summaries(document, tmp_path)[raw_study["name"]]
    share = format_pct(100 * failed / requests)
    assert f"errors dominate: {share} of {naive['name']}'s {MAIN} requests failed" in (
        study.sentence
    )
    assert study.naive is not None
    assert study.naive.throughput_per_s == pytest.approx(name_rate_per_s(naive, MAIN))


def test_the_report_says_which_requests_it_counts(tmp_path: Path) -> None:
    document = focused_document()
    raw_study = multi_name_study(document)
    best, _ = expected_pair(raw_study)
    markdown, _, html_path = render_report(write(document, tmp_path / "run"), tmp_path / "out")
    lines = markdown.splitlines()
    headline = next(line for line in lines if line.startswith(f"| {raw_study['name']} "))
    rate, p99 = name_rate_per_s(best, MAIN), name_percentile_ms(best, MAIN, 99)
    assert f" | {MAIN} requests | {best['name']} | {format_rate(rate)} | {format_ms(p99)} |" in (
        headline
    )
    other = next(line for line in lines if line.startswith("| faceblur "))
    assert " | all requests | " in other
    section = markdown[markdown.index(f"## {raw_study['name']}: ") :]
    assert f"use the figures of the {MAIN} requests" in section
    # A whole-cell seed figure beside one request's figures is marked as such.
    if any(not r.get("request") for r in raw_study["references"]):
        assert "req/s (all requests) |" in headline
    page = html_path.read_text(encoding="utf-8")
    data = json.loads(page.split("id='perflab-data'>", 1)[1].split("</script>", 1)[0])
    charts = next(s for s in data["studies"] if s["name"] == raw_study["name"])
    assert charts["figures_of"] == MAIN
    throughput = charts["charts"]["throughput"]
    spectrum = {s["name"]: s["values"] for s in charts["charts"]["spectrum"]["series"]}
    for cell in measured_cells(raw_study):
        at = throughput["labels"].index(cell["name"])
        assert throughput["measured"][at] == pytest.approx(name_rate_per_s(cell, MAIN), abs=1e-3)
        last = spectrum[cell["name"]][-1]  # p99.99
        assert last == pytest.approx(name_percentile_ms(cell, MAIN, 99.99), rel=1e-3)


def test_the_stored_sample_without_the_key_still_loads(tmp_path: Path) -> None:
    document = copy.deepcopy(sample_document())
    assert all("main_request" not in s for s in document["studies"])
    for study in summaries(document, tmp_path).values():
        assert study.main_request is None
        assert study.focus is None
