"""`perflab history`: stored runs in a folder, read oldest first, charted, change found."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import typer
from typer.testing import CliRunner

from perflab.cli.history import history
from perflab.history.series import cell_series, read_runs
from perflab.results.document import write_run
from tests.compare.synthetic import synthetic_run

app = typer.Typer()
app.command()(history)
runner = CliRunner()


def _store(root: Path, factors: list[float]) -> None:
    """One run per factor (a commit each, an hour apart): throughput divided by it,
    latency times it, 2% noise."""
    rng = np.random.default_rng(21)
    for number, factor in enumerate(factors):
        noise = float(np.exp(rng.normal(0, 0.02)))
        run = synthetic_run(
            {("notes", "async-sqlite"): [(1000.0 / (factor * noise), factor * noise)]},
            created_at_unix_s=1_800_000_000.0 + 3600 * number,
            revision=f"rev{number:02d}",
        )
        # folders named so that their name order is not their time order
        write_run(run, root / f"{(number * 5) % len(factors):02d}-run" / "results.json")


def test_runs_are_read_oldest_first_and_a_slowdown_is_found(tmp_path: Path) -> None:
    _store(tmp_path, [1.0] * 10 + [1.3] * 8)
    runs = read_runs([tmp_path])
    assert [run.machine["git_revision"] for run in runs] == [f"rev{n:02d}" for n in range(18)]
    series = {item.metric: item for item in cell_series(runs)}
    (p50_change,) = series["p50"].changes
    assert p50_change.index == 10
    assert p50_change.worse
    assert series["throughput"].changes[0].worse
    assert series["errors"].changes == []


def test_the_command_prints_tables_and_writes_html_and_markdown(tmp_path: Path) -> None:
    _store(tmp_path / "runs", [1.0] * 8 + [1.5] * 6)
    html, markdown = tmp_path / "history.html", tmp_path / "history.md"
    result = runner.invoke(
        app,
        [str(tmp_path / "runs"), "--html", str(html), "--markdown", str(markdown)],
        env={"COLUMNS": "200"},
    )
    assert result.exit_code == 0, result.output
    assert "worse from rev08" in result.stdout
    page = html.read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>")
    assert "uPlot" in page  # inlined, nothing fetched
    assert "src=" not in page
    assert "worse from rev08" in page
    assert "|  | p50 | 14 |" in markdown.read_text(encoding="utf-8")


def test_a_flat_history_shows_no_change(tmp_path: Path) -> None:
    _store(tmp_path, [1.0] * 12)
    assert all(not item.changes for item in cell_series(read_runs([tmp_path])))


@pytest.mark.parametrize("make", ["missing", "empty"])
def test_a_path_without_results_exits_2(tmp_path: Path, make: str) -> None:
    path = tmp_path / "nothing"
    if make == "empty":
        path.mkdir()
    result = runner.invoke(app, [str(path)])
    assert result.exit_code == 2
    assert str(path) in result.stderr
