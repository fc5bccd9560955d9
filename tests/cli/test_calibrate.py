"""`perflab calibrate`: spreads from A/A repeats stored per machine, read back by compare."""

from __future__ import annotations

import math
import statistics
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from perflab.cli.calibrate import DUET_PAIRS, calibrate, spreads_table
from perflab.compare.statistics import critical
from perflab.results.calibration import (
    CALIBRATION_FORMAT,
    CellCalibration,
    calibration_from_run,
    calibration_from_runs,
    default_calibration_path,
    find_calibration,
    merge_calibrations,
    read_calibration,
    write_calibration,
)
from perflab.results.document import write_run
from perflab.results.errors import CalibrationError
from perflab.results.model import RunResults
from tests.bench.test_runner import tiny_study
from tests.compare.synthetic import MACHINE, synthetic_run

app = typer.Typer()
app.command()(calibrate)
runner = CliRunner()

# Four A/A runs of two cells: throughput and latency scale 2% and 5% apart.
AA = {
    ("notes", "async-sqlite"): [(100.0, 1.0), (102.0, 1.05), (98.0, 0.95), (100.0, 1.0)],
    ("notes", "sync-sqlite"): [(50.0, 2.0), (51.0, 2.0), (49.0, 2.1), (50.0, 1.9)],
}


def test_calibration_round_trips_through_its_file(tmp_path: Path) -> None:
    measured = calibration_from_run(synthetic_run(AA))
    path = write_calibration(measured, tmp_path / "cal.json")
    back = read_calibration(path)
    assert back.path == path
    assert back.machine == measured.machine
    assert [c.to_dict() for c in back.cells] == [c.to_dict() for c in measured.cells]
    spread = back.cell("notes", "async-sqlite")
    assert spread is not None
    throughput = spread.spreads["throughput"]
    assert throughput.runs == 4
    logs = [math.log(v) for v in (100.0, 102.0, 98.0, 100.0)]
    mean = sum(logs) / 4
    assert throughput.spread == pytest.approx(math.sqrt(sum((x - mean) ** 2 for x in logs) / 3))
    assert spread.spreads["errors"].spread == 0.0


def test_a_cell_matches_only_with_the_same_settings() -> None:
    measured = calibration_from_run(synthetic_run(AA))
    found = measured.cell("notes", "sync-sqlite")
    assert found is not None
    assert measured.cell("notes", "sync-sqlite", settings=found.settings) is found
    other = {**found.settings, "server": {"workers": 2}}
    assert measured.cell("notes", "sync-sqlite", settings=other) is None


def test_calibrating_more_studies_merges_and_another_machine_replaces() -> None:
    first = calibration_from_run(synthetic_run(AA))
    second = calibration_from_run(synthetic_run({("faceblur", "sync"): [(5.0, 1.0), (5.1, 1.0)]}))
    merged = merge_calibrations(first, second)
    assert {(c.study, c.cell) for c in merged.cells} == {
        ("notes", "async-sqlite"), ("notes", "sync-sqlite"), ("faceblur", "sync"),
    }  # fmt: skip
    elsewhere = calibration_from_run(synthetic_run(AA, machine={**MACHINE, "cpu": "Another CPU"}))
    assert merge_calibrations(first, elsewhere).cells == elsewhere.cells


def test_the_default_place_is_per_machine(tmp_path: Path) -> None:
    path = default_calibration_path(MACHINE, tmp_path)
    assert path == tmp_path / "calibration" / "test-cpu-2-0ghz-2c.json"
    assert find_calibration(MACHINE, tmp_path) is None
    write_calibration(calibration_from_run(synthetic_run(AA)), path)
    assert find_calibration(MACHINE, tmp_path) is not None
    assert find_calibration({**MACHINE, "cores": 4}, tmp_path) is None


def test_a_file_of_another_format_is_refused(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text('{"format": "perflab.bench/2"}', encoding="utf-8")
    with pytest.raises(CalibrationError, match="not a perflab calibration"):
        read_calibration(bad)


def test_calibrate_from_a_stored_run_writes_the_machine_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    run_dir = tmp_path / "aa"
    write_run(synthetic_run(AA), run_dir / "results.json")
    result = runner.invoke(app, ["--from", str(run_dir)])
    assert result.exit_code == 0, result.output
    stored = tmp_path / "perflab-results" / "calibration" / "test-cpu-2-0ghz-2c.json"
    assert read_calibration(stored).to_dict()["format"] == CALIBRATION_FORMAT
    assert "resolves @1" in result.stdout
    assert "between two separate runs" in result.stdout  # run levels counted (compare.md)
    assert "async-sqlite" in result.stdout


def test_the_table_says_what_a_duet_resolves_beside_two_separate_runs() -> None:
    measured = calibration_from_run(synthetic_run(AA))
    lines = spreads_table(measured).splitlines()
    assert lines[0].rstrip().endswith(f"duet @{DUET_PAIRS}")
    row = next(line.split() for line in lines if "async-sqlite" in line and "throughput" in line)
    separate_at_3, duet_at_3 = (float(v.removeprefix("+-").removesuffix("%")) for v in row[-3::2])
    cell = measured.cell("notes", "async-sqlite")
    assert cell is not None
    sigma = cell.spreads["throughput"].spread
    # 4 calibration runs (3 degrees of freedom) pooled with the duet's 3 pairs (2 more), no
    # run level: k(5) standard errors of a difference of two means of 3.
    expected = math.expm1(critical(3 + DUET_PAIRS - 1) * sigma * math.sqrt(2 / DUET_PAIRS))
    assert duet_at_3 == pytest.approx(100 * expected, abs=0.05)
    assert duet_at_3 < separate_at_3  # two separate runs also carry their run levels


def test_calibrate_refuses_a_run_without_repeats(tmp_path: Path) -> None:
    write_run(synthetic_run({("notes", "x"): [(1.0, 1.0)]}), tmp_path / "one" / "results.json")
    result = runner.invoke(
        app, ["--from", str(tmp_path / "one"), "--into", str(tmp_path / "c.json")]
    )
    assert result.exit_code == 2
    assert "2 or more repeats" in result.stderr


def _sessions(levels: list[float], scatter: list[float]) -> list[RunResults]:
    """A/A runs of one cell: run i's repeats at levels[i] times each scatter factor."""
    return [
        synthetic_run({("notes", "async-sqlite"): [(100.0 * level * f, 1.0) for f in scatter]},
                      created_at_unix_s=1_800_000_000.0 + 600 * i)
        for i, level in enumerate(levels)
    ]  # fmt: skip


def test_several_runs_give_the_repeats_scatter_and_each_runs_own_level() -> None:
    levels, scatter = [1.0, 1.06, 0.95, 1.02], [0.99, 1.0, 1.01]
    measured = calibration_from_runs(_sessions(levels, scatter))
    [cell] = measured.cells
    throughput = cell.spreads["throughput"]
    assert (throughput.runs, throughput.sessions) == (12, 4)
    assert throughput.freedom == 8  # 12 repeats, 4 run means
    assert throughput.run_level_freedom == 3
    inside = statistics.stdev(math.log(f) for f in scatter)
    assert throughput.spread == pytest.approx(inside)  # the same scatter in every run
    between = statistics.variance(math.log(level) for level in levels)
    assert throughput.run_level == pytest.approx(math.sqrt(between), rel=0.02)
    assert cell.spreads["p50"].run_level == 0.0  # latencies did not move between runs
    back = CellCalibration.from_dict(cell.to_dict())
    assert back.spreads["throughput"] == throughput


def test_too_few_runs_or_one_repeat_a_run_measure_no_separate_level() -> None:
    two = calibration_from_runs(_sessions([1.0, 1.1], [0.99, 1.01]))
    assert two.cells[0].spreads["throughput"].run_level is None  # one degree of freedom: no
    assert two.cells[0].spreads["throughput"].sessions == 1
    single = calibration_from_runs(_sessions([1.0, 1.1, 0.9], [1.0]))
    throughput = single.cells[0].spreads["throughput"]
    assert throughput.run_level == 0.0  # each run's one value holds its level: in the spread
    assert throughput.spread == pytest.approx(
        statistics.stdev(math.log(v) for v in (1.0, 1.1, 0.9))
    )


def test_runs_of_different_machines_are_refused() -> None:
    here = synthetic_run(AA)
    there = synthetic_run(AA, machine={**MACHINE, "cpu": "Another CPU"})
    with pytest.raises(CalibrationError, match="another machine"):
        calibration_from_runs([here, there])


def test_calibrate_from_several_stored_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    arguments = []
    for index, run in enumerate(_sessions([1.0, 1.2, 0.85, 1.1], [0.99, 1.0, 1.01])):
        write_run(run, tmp_path / f"run-{index}" / "results.json")
        arguments += ["--from", str(tmp_path / f"run-{index}")]
    result = runner.invoke(app, arguments)
    assert result.exit_code == 0, result.output
    assert "12 in 4" in result.stdout  # 12 repeats in 4 runs
    stored = read_calibration(
        tmp_path / "perflab-results" / "calibration" / "test-cpu-2-0ghz-2c.json"
    )
    cell = stored.cell("notes", "async-sqlite")
    assert cell is not None
    assert cell.spreads["throughput"].run_level is not None
    assert cell.spreads["throughput"].run_level > 0.1  # these runs wander by 10-20%


def test_calibrate_runs_separate_bench_runs_and_measures_their_level(tmp_path: Path) -> None:
    study = tiny_study(tmp_path, server='server = { workers = 1, offload = "inline" }')
    out, into = tmp_path / "aa", tmp_path / "cal.json"
    arguments = [str(study), "--repeat", "3", "--runs", "3", "--max-warmup-s", "0"]
    arguments += ["--no-progress", "--out", str(out), "--into", str(into)]
    result = runner.invoke(app, arguments)
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in out.iterdir()) == ["run-1", "run-2", "run-3"]
    cell = read_calibration(into).cell("tiny", "default")
    assert cell is not None
    p50 = cell.spreads["p50"]
    assert (p50.runs, p50.sessions) == (9, 3)
    assert p50.run_level is not None
    assert "9 in 3" in result.stdout
