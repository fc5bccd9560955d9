"""The studies' goals in the report: the headline's count, and per study a row per goal with
its status, the measured ratio or value beside the threshold, the reason and the source."""

from __future__ import annotations

from pathlib import Path

from perflab.report.render import render_report
from tests.report.samples import (
    first_ran_study,
    ok_rate_per_s,
    sample_document,
    with_goals,
    write,
)


def _cell(study: dict[str, object], name: str) -> dict[str, object]:
    cells = study["cells"]
    assert isinstance(cells, list)
    return next(cell for cell in cells if cell["name"] == name)


def test_the_headline_counts_the_goals_and_names_those_not_met(tmp_path: Path) -> None:
    document = with_goals(sample_document())
    markdown, _, html_path = render_report(write(document, tmp_path / "run"), tmp_path / "out")
    lines = markdown.splitlines()
    first_study = next(i for i, line in enumerate(lines) if line.startswith("## "))
    expected = (
        "Goals: 1 of 3 met, 1 not met, 1 not measured. Not met: faceblur: sub-millisecond blur."
    )
    assert expected in lines[:first_study]
    assert expected in html_path.read_text(encoding="utf-8")


def test_each_goal_shows_its_figures_threshold_reason_and_source(tmp_path: Path) -> None:
    document = with_goals(sample_document())
    markdown, _, html_path = render_report(write(document, tmp_path / "run"), tmp_path / "out")
    study = first_ran_study(document)
    section = markdown[markdown.index("### Goals of faceblur: 1 of 3 met") :]
    rows = [line for line in section.splitlines() if line.startswith("| ")][2:5]
    # Those not met first, then met, then not measured.
    assert [row.split(" | ")[1] for row in rows] == ["not met", "met", "not measured"]
    ratio = ok_rate_per_s(_cell(study, "async-process")) / ok_rate_per_s(
        _cell(study, "async-inline")
    )
    met = rows[1]
    assert met.startswith("| process keeps up with the loop | met | ")
    assert f" | {ratio:.2f}x | >= 0.5x | throughput, async-process / async-inline: " in met
    assert met.endswith(" | a pool of processes beside the loop | a test |")
    missed = rows[0]
    assert " | <= 1 ms | p99, async-process: async-process " in missed
    assert missed.endswith(" | impossible on purpose | a test \\| with a pipe |")
    absent = rows[2]
    assert " | — | >= 1x | throughput, sync / async-inline: needs 4096 cores; this machine " in (
        absent
    )
    page = html_path.read_text(encoding="utf-8")
    assert "<h3>Goals: 1 of 3 met, 1 not met, 1 not measured</h3>" in page
    for status in ("met", "not-met", "not-measured"):
        assert f"<tr class='goal {status}'>" in page


def test_a_run_without_goals_says_nothing_about_them(tmp_path: Path) -> None:
    markdown, _, html_path = render_report(write(sample_document(), tmp_path), tmp_path)
    assert "Goals" not in markdown
    assert "Goals" not in html_path.read_text(encoding="utf-8")
