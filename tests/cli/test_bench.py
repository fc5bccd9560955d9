"""`perflab bench` on the command line: listing, and clear errors before anything starts."""

from __future__ import annotations

from typer.testing import CliRunner

from perflab.cli import app


def flat(output: str) -> str:
    """The output with rich's error box and line wrapping taken out."""
    return " ".join(output.replace("│", " ").split())


def test_list_shows_studies_cells_and_what_they_need() -> None:
    result = CliRunner().invoke(app, ["bench", "--list"])
    assert result.exit_code == 0, result.output
    assert "faceblur (seed 000)" in result.output
    assert "async-process" in result.output
    assert "[needs redis]" in result.output
    assert "[needs postgres]" in result.output


def test_an_unknown_study_cell_or_profile_is_refused_before_running() -> None:
    runner = CliRunner()
    unknown_study = runner.invoke(app, ["bench", "facebloor"])
    assert unknown_study.exit_code == 2
    assert "unknown study 'facebloor'" in flat(unknown_study.output)
    unknown_cell = runner.invoke(app, ["bench", "notes", "--cell", "nope"])
    assert unknown_cell.exit_code == 2
    assert "no cell 'nope'" in flat(unknown_cell.output)
    unknown_profile = runner.invoke(app, ["bench", "notes", "--profile", "fast"])
    assert unknown_profile.exit_code == 2
    assert "no profile 'fast'" in flat(unknown_profile.output)
