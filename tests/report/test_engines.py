"""A run on locust's runner: the report sets locust's own figures beside the exact ones."""

from __future__ import annotations

from pathlib import Path

from perflab.report.render import render_report
from tests.report.samples import first_ran_study, measured_cells, sample_document, write


def test_locusts_own_figures_stand_beside_the_exact_ones(tmp_path: Path) -> None:
    document = sample_document()
    cell = measured_cells(first_ran_study(document))[0]
    recording = cell["runs"][0]["recording"]
    own = {
        name: {"requests": stats["requests"], "p50_ms": 1.0, "p99_ms": 9_999.0, "max_ms": 500.0}
        for name, stats in recording["names"].items()
    }
    own["Aggregated"] = {"requests": recording["requests"], "p99_ms": 9_999.0, "max_ms": 500.0}
    recording["metadata"] = {"engine": "locust", "locust": {"own_stats": own}}
    markdown, _, html_path = render_report(write(document, tmp_path / "run"), tmp_path / "out")
    assert "On locust's runner" in markdown
    rows = [line for line in markdown.splitlines() if line.startswith(f"| {cell['name']}")]
    aggregated = next(row for row in rows if "| Aggregated |" in row)
    assert "9,999.0 ms (locust)" not in aggregated  # the pair reads "exact / locust"
    assert "/ 9,999.0 ms" in aggregated
    assert "(p99 above max)" in aggregated
    assert "On locust's runner: its own figures" in html_path.read_text(encoding="utf-8")


def test_a_run_on_perflabs_engine_has_no_such_table(tmp_path: Path) -> None:
    markdown, _, _ = render_report(write(sample_document(), tmp_path / "run"), tmp_path / "o")
    assert "On locust's runner" not in markdown
