"""The report states each cell's run-to-run spread: from its own repeats, or from this
machine's calibration when a cell ran once."""

from __future__ import annotations

import math

from perflab.report.markdown import report_markdown
from perflab.report.spread import spread_notes
from perflab.report.summary import summarize_study
from perflab.report.tables import repeats_text
from perflab.results.calibration import calibration_from_run
from perflab.results.model import RunResults
from tests.report.samples import SAMPLE, sample_document


def test_repeats_give_their_own_spread() -> None:
    run = RunResults.from_dict(sample_document(), SAMPLE)
    study = next(s for s in run.studies if any(len(c.repeats) >= 2 for c in s.cells))
    lines = spread_notes(study, None)
    cell = next(c for c in study.cells if len(c.repeats) >= 2 and c.measured)
    line = next(line for line in lines if f" {cell.name}," in line)
    assert f"from its {len(cell.repeats)} repeats" in line
    rates = cell.throughputs_per_s()
    logs = [math.log(r) for r in rates]
    mean = sum(logs) / len(logs)
    sd = math.sqrt(sum((x - mean) ** 2 for x in logs) / (len(logs) - 1))
    assert f"throughput ±{sd:.1%}" in line


def test_a_single_repeat_takes_the_calibration() -> None:
    run = RunResults.from_dict(sample_document(), SAMPLE)
    calibration = calibration_from_run(run)
    for study in run.studies:
        for cell in study.cells:
            del cell.repeats[1:]
            cell.__dict__.pop("_cache", None)
    study = next(s for s in run.studies if any(c.measured for c in s.cells))
    assert not any("calibration" in line for line in spread_notes(study, None))
    lines = spread_notes(study, calibration)
    assert lines
    assert all("this machine's calibration" in line for line in lines)


def test_the_repeats_per_cell_are_counted_not_copied() -> None:
    """A study's profile may set its own repeats, so the command line's figure is not the
    whole story: the report counts each cell's runs."""
    run = RunResults.from_dict(sample_document(), SAMPLE)
    counts = {len(c.repeats) for s in run.studies for c in s.cells if c.repeats}
    assert counts == {2}, "the sample runs every cell twice"
    assert repeats_text(run) == "2 repeats per cell"
    cell = next(c for s in run.studies for c in s.cells if c.repeats)
    del cell.repeats[1:]
    assert repeats_text(run) == "1-2 repeats per cell"
    assert "1-2 repeats per cell" in report_markdown(run, [summarize_study(s) for s in run.studies])


def test_cells_the_study_placed_are_said_once_with_their_cpus() -> None:
    run = RunResults.from_dict(sample_document(), SAMPLE)
    study = next(s for s in run.studies if sum(c.measured for c in s.cells) >= 2)
    assert not any(line.startswith("Placed") for line in spread_notes(study, None))
    placed = [c for c in study.cells if c.measured][:2]
    for cell in placed:
        cell.settings["placement"] = {"server": "1", "load": "0"}
    [line] = [line for line in spread_notes(study, None) if line.startswith("Placed")]
    names = ", ".join(cell.name for cell in placed)
    where = "the service on CPU 1, the load generator on CPU 0"
    assert line == f"Placed by the study ({names}): {where}."
    markdown = report_markdown(run, [summarize_study(s) for s in run.studies])
    assert line in markdown
