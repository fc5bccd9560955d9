"""`perflab.compare` on pairs derived from the stored sample run.

Every NEW here is the sample with one thing changed by a known factor: latencies scaled by
re-encoding the histograms (per-second windows and percentiles rebuilt from them), throughput
by scaling the answer counts, machine or settings edited. The sample has two repeats a cell:
too few to call anything by themselves (docs/compare.md), so changes are judged with a
calibration of known spread (`calibration_of`). The helpers are shared with
tests/cli/test_compare.py.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import math
import statistics
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hdrh.histogram import HdrHistogram

from perflab.compare import (
    CellComparison,
    Comparison,
    Verdict,
    compare_results,
    spread_line,
)
from perflab.compare.statistics import critical
from perflab.loadgen.histogram import LatencyHistogram
from perflab.results.calibration import Calibration, CellCalibration, MetricSpread
from perflab.results.model import CellResults, RunResults, StudyResults

SAMPLE = Path(__file__).parents[1] / "report" / "data" / "sample-results.json"
NO_VERDICT = {Verdict.WITHIN_NOISE, Verdict.UNRESOLVED}
SPREAD = 0.05  # the calibrated run-to-run spread of every metric in these tests (5% CV)

Doc = dict[str, Any]


def sample() -> Doc:
    """A fresh copy of the stored sample results."""
    data: Doc = json.loads(SAMPLE.read_text(encoding="utf-8"))
    return data


def ran_cells(data: Doc) -> Iterator[tuple[str, Doc]]:
    """(study name, cell) for every cell with runs."""
    for study in data["studies"]:
        for cell in study.get("cells") or []:
            if cell["status"] == "ran" and cell["runs"]:
                yield study["name"], cell


def find_cell(data: Doc, study: str, name: str) -> Doc:
    return next(c for s, c in ran_cells(data) if s == study and c["name"] == name)


def _parts(recording: Doc) -> list[Doc]:
    """The recording's totals and each request name's part: all carry the same fields."""
    return [recording, *recording["names"].values()]


def _scaled_histogram(blob: str, factor: float) -> LatencyHistogram:
    """The histogram's values times `factor`, recorded afresh (each bucket's top value)."""
    source = HdrHistogram.decode(blob)
    counts = np.ctypeslib.as_array(source.counts)[: source.counts_len]
    used = np.flatnonzero(counts)
    values = [
        source.get_highest_equivalent_value(source.get_value_from_index(int(i))) for i in used
    ]
    scaled = np.round(np.array(values, dtype=np.float64) * factor).astype(np.int64)
    return LatencyHistogram.of(np.repeat(scaled, counts[used].astype(np.int64)))


def scale_latency(recording: Doc, factor: float) -> None:
    """Every latency of one run times `factor`: histograms re-encoded, percentiles rebuilt."""
    for part in _parts(recording):
        histogram = _scaled_histogram(part["histogram"], factor)
        part["histogram"] = histogram.encode()
        part["latency_us"]["percentiles"] = histogram.percentiles()
        part["latency_us"]["mean"] = round(histogram.mean_us(), 1)
        for window in part.get("time_series", []):
            scaled = _scaled_histogram(window["histogram"], factor)
            window["histogram"] = scaled.encode()
            window["p50_us"] = scaled.value_at_percentile(50.0)
            window["p99_us"] = scaled.value_at_percentile(99.0)


def scale_throughput(recording: Doc, factor: float) -> None:
    """As many answers (and failures) times `factor` in the same time, per second too."""
    for part in _parts(recording):
        for entry in [part, *part.get("time_series", [])]:
            entry["requests"] = round(entry["requests"] * factor)
            entry["failures"] = round(entry["failures"] * factor)
        part["ok"] = part["requests"] - part["failures"]
        part["requests_per_s"] = part["requests"] / part["duration_s"]


def fail_fraction(recording: Doc, fraction: float) -> None:
    """Turn `fraction` of the answers into failures (timeouts), per second too."""
    for part in _parts(recording):
        for entry in [part, *part.get("time_series", [])]:
            entry["failures"] = round(entry["requests"] * fraction)
        part["ok"] = part["requests"] - part["failures"]
        part["failures_by_kind"] = {"timeout": part["failures"]} if part["failures"] else {}


def each_run(cell: Doc, change: Callable[[Doc, float], None], factors: list[float]) -> None:
    """Apply `change` to the cell's runs, run i with factors[i % len(factors)]."""
    for index, run in enumerate(cell["runs"]):
        change(run["recording"], factors[index % len(factors)])


def results(data: Doc, name: str = "results.json") -> RunResults:
    return RunResults.from_dict(data, Path(name))


def calibration_of(data: Doc, spread: float = SPREAD, runs: int = 10) -> Calibration:
    """A calibration of this machine with the same spread for every cell and metric."""
    cells = []
    for study, cell in ran_cells(data):
        spreads = {
            key: MetricSpread(runs, spread, True, (1.0,) * runs)
            for key in ("throughput", "p50", "p99")
        }
        spreads["errors"] = MetricSpread(runs, 0.002, False, (0.0,) * runs)
        settings = copy.deepcopy(cell["settings"])
        cells.append(CellCalibration(study, cell["name"], None, settings, spreads))
    return Calibration(dict(data["machine"]), 0.0, ["perflab calibrate"], cells)


def compare(
    old: Doc, new: Doc, routes: bool = False, calibration: Calibration | None = None
) -> Comparison:
    return compare_results(
        results(old, "old.json"), results(new, "new.json"), routes=routes, calibration=calibration
    )


def row(comparison: Comparison, study: str, cell: str) -> CellComparison:
    return next(c for c in comparison.cells if (c.study, c.cell, c.route) == (study, cell, None))


def variation(values: list[float]) -> float:
    return statistics.stdev(values) / statistics.mean(values)


def steadiest(data: Doc, metrics: Callable[[Doc], list[float]]) -> tuple[str, str]:
    """The cell whose repeats vary least in the given metrics (its worst one)."""

    def worst(cell: Doc) -> float:
        series = [metrics(run["recording"]) for run in cell["runs"]]
        return max(variation(list(values)) for values in zip(*series, strict=True))

    study, cell = min(ran_cells(data), key=lambda item: worst(item[1]))
    return study, cell["name"]


def latencies(recording: Doc) -> list[float]:
    percentiles = recording["latency_us"]["percentiles"]
    return [float(percentiles["50"]), float(percentiles["99"])]


def throughput(recording: Doc) -> list[float]:
    return [recording["ok"] / recording["duration_s"]]


def test_sample_has_repeats_to_compare() -> None:
    cells = list(ran_cells(sample()))
    assert len(cells) >= 2
    assert all(len(cell["runs"]) >= 2 for _, cell in cells)


def test_same_run_is_within_noise() -> None:
    comparison = compare(sample(), sample())
    compared = [c for c in comparison.cells if c.not_comparable is None]
    assert len(compared) == len(list(ran_cells(sample())))
    for cell in compared:
        for metric in cell.metrics:
            assert metric.verdict is Verdict.WITHIN_NOISE, (cell.cell, metric)
            assert metric.change == pytest.approx(0.0, abs=1e-12)
            assert "smaller than the floor" in metric.reason
    assert not comparison.has_regression
    skipped = [c for c in comparison.cells if c.not_comparable is not None]
    assert all(" in OLD and NEW" in str(c.not_comparable) for c in skipped)


def test_doubled_latency_is_a_regression_on_p50_and_p99() -> None:
    old, new = sample(), sample()
    study, name = steadiest(old, latencies)
    each_run(find_cell(new, study, name), scale_latency, [2.0])
    comparison = compare(old, new, calibration=calibration_of(old))
    changed = row(comparison, study, name)
    for key in ("p50", "p99"):
        metric = changed.metric(key)
        assert metric is not None
        assert metric.verdict is Verdict.REGRESSION, metric
        assert metric.change == pytest.approx(1.0, abs=0.01)  # histogram buckets: 0.1%
        assert metric.interval is not None
        assert metric.interval[0] > 0
    throughput_metric = changed.metric("throughput")
    assert throughput_metric is not None
    assert throughput_metric.verdict is Verdict.WITHIN_NOISE
    others = [c for c in comparison.cells if c is not changed and c.not_comparable is None]
    assert all(set(c.verdicts()) == {Verdict.WITHIN_NOISE} for c in others)
    assert comparison.has_regression


def test_throughput_up_by_half_is_an_improvement() -> None:
    old, new = sample(), sample()
    study, name = steadiest(old, throughput)
    each_run(find_cell(new, study, name), scale_throughput, [1.5])
    comparison = compare(old, new, calibration=calibration_of(old))
    metric = row(comparison, study, name).metric("throughput")
    assert metric is not None
    assert metric.verdict is Verdict.IMPROVED, metric
    assert metric.change == pytest.approx(0.5, abs=0.02)  # counts are rounded
    assert not comparison.has_regression


def test_fewer_answers_is_a_regression_not_an_improvement() -> None:
    old, new = sample(), sample()
    study, name = steadiest(old, throughput)
    each_run(find_cell(new, study, name), scale_throughput, [0.5])
    metric = row(compare(old, new, calibration=calibration_of(old)), study, name).metric(
        "throughput"
    )
    assert metric is not None
    assert metric.verdict is Verdict.REGRESSION  # higher is better for throughput


def test_new_errors_are_a_regression() -> None:
    old, new = sample(), sample()
    study, cell = next(ran_cells(new))
    each_run(cell, fail_fraction, [0.2])
    metric = row(compare(old, new, calibration=calibration_of(old)), study, cell["name"]).metric(
        "errors"
    )
    assert metric is not None
    assert metric.change == pytest.approx(0.2, abs=0.02)
    assert metric.verdict is Verdict.REGRESSION


def _noisy(data: Doc, change: float) -> Doc:
    """Every cell's repeats pushed +-30% further apart (throughput and latency), times `change`.

    The slower repeat gets the -30%, so the added noise widens what the sample's repeats
    already vary by instead of (by chance) cancelling it."""
    for _, cell in ran_cells(data):
        slow_first = sorted(cell["runs"], key=lambda run: run["recording"]["requests_per_s"])
        ordered = {**cell, "runs": slow_first}
        each_run(ordered, scale_throughput, [0.7 * change, 1.3 * change])
        each_run(ordered, scale_latency, [1.3 * change, 0.7 * change])
    return data


def test_noisy_repeats_with_a_small_change_get_no_verdict() -> None:
    comparison = compare(_noisy(sample(), 1.0), _noisy(sample(), 1.05))
    for cell in comparison.cells:
        if cell.not_comparable is None:
            assert set(cell.verdicts()) <= NO_VERDICT, cell
    assert not comparison.has_regression


def test_noisy_repeats_with_a_large_change_are_not_called_on_their_own() -> None:
    # Tripled throughput (and latency), but two repeats varying +-30% a side and no
    # calibration: 2 degrees of freedom cannot call it; the reason says what would.
    comparison = compare(_noisy(sample(), 1.0), _noisy(sample(), 3.0))
    for cell in comparison.cells:
        if cell.not_comparable is None:
            metric = cell.metric("throughput")
            assert metric is not None
            assert metric.verdict in NO_VERDICT, metric
            assert "repeats a side" in metric.reason
            assert metric.spread is not None
            assert metric.spread.source == "own repeats (2+2)"


def test_different_cpu_is_not_comparable() -> None:
    new = sample()
    new["machine"]["cpu"] = "Some Other CPU @ 3.0GHz"
    comparison = compare(sample(), new)
    assert comparison.machine_difference is not None
    assert "cpu" in comparison.machine_difference
    assert {v for c in comparison.cells for v in c.verdicts()} == {Verdict.NOT_COMPARABLE}
    assert not comparison.has_regression
    assert comparison.geometric_means == []


def test_different_core_count_is_not_comparable() -> None:
    new = sample()
    new["machine"]["cores"] = new["machine"]["cores"] * 2
    assert "cores" in str(compare(sample(), new).machine_difference)


def test_different_cell_settings_name_the_key() -> None:
    new = sample()
    study, cell = next(ran_cells(new))
    cell["settings"]["server"]["workers"] += 1
    for run in cell["runs"]:  # would be a regression, were it comparable
        scale_latency(run["recording"], 3.0)
    comparison = compare(sample(), new)
    changed = row(comparison, study, cell["name"])
    assert changed.verdicts() == [Verdict.NOT_COMPARABLE]
    assert "server.workers" in str(changed.not_comparable)
    assert not comparison.has_regression
    assert sum(c.not_comparable is None for c in comparison.cells) == len(list(ran_cells(new))) - 1


def test_a_cell_missing_on_one_side_is_not_comparable() -> None:
    new = sample()
    study, cell = next(ran_cells(new))
    next(s for s in new["studies"] if s["name"] == study)["cells"].remove(cell)
    assert row(compare(sample(), new), study, cell["name"]).not_comparable == "missing in NEW"


def _geomean(values: list[float]) -> float:
    return math.exp(sum(math.log(v) for v in values) / len(values))


def _ratio(old: Doc, new: Doc, value: Callable[[Doc], float]) -> float:
    old_values = [value(run["recording"]) for run in old["runs"]]
    new_values = [value(run["recording"]) for run in new["runs"]]
    return _geomean(new_values) / _geomean(old_values)


def test_geometric_means_per_study_and_overall() -> None:
    old, new = sample(), sample()
    cells = list(ran_cells(new))
    each_run(cells[0][1], scale_throughput, [1.5])
    each_run(cells[-1][1], scale_latency, [2.0, 1.6])
    comparison = compare(old, new)

    def ok_per_s(recording: Doc) -> float:
        return float(recording["ok"] / recording["duration_s"])

    def p99(recording: Doc) -> float:
        return float(recording["latency_us"]["percentiles"]["99"])

    expected: dict[str, dict[str, list[float]]] = {}
    for study, cell in cells:
        before = find_cell(old, study, cell["name"])
        ratios = expected.setdefault(study, {"throughput": [], "p99": []})
        ratios["throughput"].append(_ratio(before, cell, ok_per_s))
        ratios["p99"].append(_ratio(before, cell, p99))
    every = {key: [r for s in expected.values() for r in s[key]] for key in ("throughput", "p99")}
    means = {g.study: g for g in comparison.geometric_means}
    assert list(means) == [*expected, "all"]
    for study, ratios in [*expected.items(), ("all", every)]:
        assert means[study].cells == len(ratios["p99"])
        assert means[study].throughput_ratio == pytest.approx(_geomean(ratios["throughput"]))
        assert means[study].p99_ratio == pytest.approx(_geomean(ratios["p99"]))
    assert means["all"].throughput_ratio == pytest.approx(1.5 ** (1 / len(cells)), rel=0.02)


def test_one_repeat_a_side_needs_a_calibration_to_call_anything() -> None:
    old, new = sample(), sample()
    for data in (old, new):
        for _, cell in ran_cells(data):
            del cell["runs"][1:]
    study, name = steadiest(sample(), latencies)
    # 45% slower: past the floor, short of the gross change one repeat a side still calls.
    each_run(find_cell(new, study, name), scale_latency, [1.45])
    alone = row(compare(old, new), study, name).metric("p50")
    assert alone is not None
    assert alone.verdict is Verdict.UNRESOLVED  # requests are never pooled as samples
    assert alone.interval is None
    assert "perflab calibrate" in alone.reason
    calibrated = row(compare(old, new, calibration=calibration_of(old)), study, name)
    metric = calibrated.metric("p50")
    assert metric is not None
    assert metric.verdict is Verdict.REGRESSION
    assert metric.spread is not None
    assert metric.spread.source == "calibration (10 runs)"
    assert not compare(old, old, calibration=calibration_of(old)).has_regression


def test_the_spread_line_says_when_one_repeat_a_side_needs_a_calibration() -> None:
    own = spread_line(compare(sample(), sample()))  # the sample has 2+ repeats a cell
    assert own.startswith("OLD and NEW are two separate runs: each side's run level (throughput")
    assert own.endswith("; spread: the repeats' own (no calibration of this machine).")
    old, new = sample(), sample()
    for data in (old, new):
        for _, cell in ran_cells(data):
            del cell["runs"][1:]
    alone = spread_line(compare(old, new))
    assert "with one repeat a side only a gross change can be called" in alone
    assert "perflab calibrate STUDY" in alone
    calibrated = spread_line(compare(old, new, calibration=calibration_of(old)))
    assert "; spread: this machine's calibration given (" in calibrated


def test_the_spread_line_of_a_duet_without_a_calibration_says_what_one_would_buy() -> None:
    old, new = sample(), sample()
    old["machine"]["duet"] = {"id": "d1", "side": "A"}
    new["machine"]["duet"] = {"id": "d1", "side": "B"}
    pairs = min(len(cell["runs"]) for _, cell in ran_cells(old))
    alone = spread_line(compare(old, new))
    assert alone.startswith("OLD and NEW are one duet")
    assert f"{pairs} pairs know it with {pairs - 1} degrees of freedom" in alone
    assert f"must pass {critical(pairs - 1):.3g} standard errors" in alone
    assert "perflab calibrate STUDY`, then `perflab bench --calibration FILE`) " in alone
    calibrated = spread_line(compare(old, new, calibration=calibration_of(old)))
    assert "pairs know it" not in calibrated


def test_separate_runs_hours_apart_are_told_where_the_default_run_level_comes_from() -> None:
    old, new = sample(), sample()
    assert "h apart" not in spread_line(compare(old, new))  # the same time: no word
    new["created_at_unix_s"] = old["created_at_unix_s"] + 3 * 3600
    apart = spread_line(compare(old, new))
    assert "they ran 3 h apart" in apart
    assert "perflab calibrate --runs K" in apart
    measured = calibration_of(old)
    for cell in measured.cells:  # this machine's own run level, from 5 separate runs
        cell.spreads["throughput"] = dataclasses.replace(
            cell.spreads["throughput"], sessions=5, run_level=0.03
        )
    assert "h apart" not in spread_line(compare(old, new, calibration=measured))
    old["machine"]["duet"] = {"id": "d1", "side": "A"}
    new["machine"]["duet"] = {"id": "d1", "side": "B"}
    assert "h apart" not in spread_line(compare(old, new))  # a duet cancels the run level


def test_a_calibration_of_another_machine_is_not_used() -> None:
    calibration = calibration_of(sample())
    calibration.machine["cpu"] = "Another CPU"
    comparison = compare(sample(), sample(), calibration=calibration)
    assert comparison.calibration is None


def test_a_calibration_of_other_settings_is_not_used() -> None:
    old, new = sample(), sample()
    study, name = steadiest(old, latencies)
    calibration = calibration_of(old)
    for cell in calibration.cells:
        cell.settings["warmup_s"] = 99.0
    each_run(find_cell(new, study, name), scale_latency, [2.0])
    metric = row(compare(old, new, calibration=calibration), study, name).metric("p50")
    assert metric is not None
    assert metric.spread is not None
    assert metric.spread.source == "own repeats (2+2)"


def test_routes_add_a_row_per_request_name() -> None:
    comparison = compare(sample(), sample(), routes=True)
    multi = [
        (study, cell["name"], set(cell["runs"][0]["recording"]["names"]))
        for study, cell in ran_cells(sample())
        if len(cell["runs"][0]["recording"]["names"]) > 1
    ]
    if not multi:
        pytest.skip("the sample has no cell with several request names")
    study, name, routes = multi[0]
    found = {c.route for c in comparison.cells if (c.study, c.cell) == (study, name) and c.route}
    assert found == routes
    assert not comparison.has_regression
    # routes never count in the geometric means: the cell's own row does
    assert comparison.geometric_means[-1].cells == len(list(ran_cells(sample())))


def test_the_cell_row_judges_the_main_request_beside_a_probe() -> None:
    """A cell whose repeats also send a /healthz probe is judged on its main request, as the
    report's headline is: the probe's own latencies never swing the cell's p50."""
    from tests.compare.synthetic import repeat_result

    def run(blur_scale: float) -> RunResults:
        repeats = []
        for index in range(3):
            blur = repeat_result(index, 30.0, blur_scale)
            probe = repeat_result(index, 20.0, 0.01)  # a fast probe, many more requests
            blur.recording.names = {
                "blur": blur.recording.names["req"],
                "healthz": probe.recording.names["req"],
            }
            blur.__dict__.pop("total", None)
            repeats.append(blur)
        cell = CellResults("async-process", "x", "right", {"load": {}}, repeats=repeats)
        study = StudyResults("faceblur", "t", "q", main_request="blur", cells=[cell])
        return RunResults("r", 0.0, "c", "quick", 3, {"cpu": "x", "cores": 2}, [study])

    comparison = compare_results(run(1.0), run(2.0))
    [row] = comparison.cells
    assert row.figures_of == "blur"
    p50 = row.metric("p50")
    assert p50 is not None
    assert p50.change == pytest.approx(1.0, rel=0.05)  # the blurs' latency doubled
