"""report.md and report.html from stored results, and the `perflab report` command."""

from __future__ import annotations

import json
import re
from pathlib import Path

from typer.testing import CliRunner

from perflab.cli import app
from perflab.report.render import render_report
from perflab.report.units import format_rate
from tests.report.samples import (
    SAMPLE,
    first_ran_study,
    knee_only,
    measured_cells,
    names_of,
    ok_rate_per_s,
    sample_document,
    with_edge_cases,
    write,
)

PAGE_LIMIT_BYTES = 300_000


def test_markdown_starts_with_the_headline_table(tmp_path: Path) -> None:
    document = sample_document()
    markdown, md_path, html_path = render_report(SAMPLE, tmp_path)
    assert md_path.read_text(encoding="utf-8") == markdown
    assert html_path.exists()
    lines = markdown.splitlines()
    first_table = next(i for i, line in enumerate(lines) if line.startswith("|"))
    assert all(not line.startswith("## ") for line in lines[:first_table])
    assert lines[first_table].startswith("| Study | Figures of | Best right cell |")
    headline = lines[first_table + 2 : first_table + 2 + len(document["studies"])]
    for row, study in zip(headline, document["studies"], strict=True):
        assert row.startswith(f"| {study['name']} ")
    study = first_ran_study(document)
    cells = measured_cells(study)
    best = max((c for c in cells if c["role"] == "right"), key=ok_rate_per_s)
    naive = min((c for c in cells if c["role"] == "naive"), key=ok_rate_per_s)
    row = next(r for r in headline if r.startswith(f"| {study['name']} "))
    expected = f" | {best['name']} | {format_rate(ok_rate_per_s(best))} | "
    assert expected in row
    assert f" | {naive['name']} | {format_rate(ok_rate_per_s(naive))} | " in row


def test_each_study_has_a_cell_table_after_its_sentence(tmp_path: Path) -> None:
    document = sample_document()
    markdown, _, _ = render_report(SAMPLE, tmp_path)
    for study in document["studies"]:
        heading = markdown.index(f"## {study['name']}: ")
        section = markdown[heading:]
        for cell in study["cells"]:
            assert f"| {cell['name']} | {cell['role']} |" in section


def test_skipped_failed_and_unavailable_render_with_their_reason(tmp_path: Path) -> None:
    document = with_edge_cases(sample_document())
    markdown, _, html_path = render_report(write(document, tmp_path / "run"), tmp_path / "out")
    assert "| queue-redis | right | skipped: Redis not reachable at 127.0.0.1:6379 |" in markdown
    assert "| broken | variant | failed: server did not start: port in use |" in markdown
    assert "| fanout (seed 004) | not available: the fanout endpoints have not landed |" in (
        markdown
    )
    assert "↳ seed sync variant" in markdown
    partial = "partial failed after 1 measured repeat(s): server exited with status 1 during"
    assert partial in markdown
    assert "first to saturate: cpu" in markdown
    page = html_path.read_text(encoding="utf-8")
    assert "Redis not reachable at 127.0.0.1:6379" in page
    assert "server did not start: port in use" in page
    assert "the fanout endpoints have not landed" in page
    assert partial in page


def test_the_page_is_self_contained_and_small(tmp_path: Path) -> None:
    _, _, html_path = render_report(SAMPLE, tmp_path)
    page = html_path.read_text(encoding="utf-8")
    assert html_path.stat().st_size < PAGE_LIMIT_BYTES
    # Nothing loaded from elsewhere: no src/href to a file or URL, uPlot and data inline.
    assert not re.search(r"<(script|link|img)[^>]+(src|href)=", page)
    assert "uPlot" in page
    data_block = re.search(
        r"<script type='application/json' id='perflab-data'>(.*?)</script>", page, re.S
    )
    assert data_block is not None
    data = json.loads(data_block.group(1))
    assert [s["name"] for s in data["studies"]] == [s["name"] for s in sample_document()["studies"]]
    for study in data["studies"]:
        if study["charts"]:
            assert len(study["charts"]["timeline"]["t_s"]) <= 300


def test_long_series_are_downsampled(tmp_path: Path) -> None:
    document = sample_document()
    study = first_ran_study(document)
    run = measured_cells(study)[0]["runs"][0]
    # Stretch one repeat's windows over 20 minutes: each second once, shifted. The totals
    # are the names' sum, so each name's series is stretched alike.
    for part in [run["recording"], *run["recording"]["names"].values()]:
        windows = part["time_series"]
        part["time_series"] = [
            w | {"second": w["second"] + shift}
            for shift in range(0, 1200, len(windows))
            for w in windows
        ]
    _, _, html_path = render_report(write(document, tmp_path / "run"), tmp_path / "out")
    page = html_path.read_text(encoding="utf-8")
    data = json.loads(page.split("id='perflab-data'>", 1)[1].split("</script>", 1)[0])
    charts = next(s for s in data["studies"] if s["name"] == study["name"])["charts"]
    assert 150 <= len(charts["timeline"]["t_s"]) <= 300
    for chart in charts["timeline"]["charts"]:
        for series in chart["series"]:
            assert len(series["values"]) == len(charts["timeline"]["t_s"])


def test_the_command_prints_markdown_and_says_where_the_files_went(tmp_path: Path) -> None:
    run = write(sample_document(), tmp_path / "run")
    result = CliRunner().invoke(app, ["report", str(run.parent), "--out", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    assert "| Study | Figures of | Best right cell |" in result.output
    assert str(tmp_path / "out" / "report.md") in result.output
    assert (tmp_path / "out" / "report.html").exists()
    # Without --out the report lands beside the results.
    assert CliRunner().invoke(app, ["report", str(run)]).exit_code == 0
    assert (run.parent / "report.html").exists()


def test_the_command_refuses_another_format(tmp_path: Path) -> None:
    run = write(sample_document() | {"format": "other/9"}, tmp_path)
    result = CliRunner().invoke(app, ["report", str(run)])
    assert result.exit_code == 2
    assert "'other/9'" in result.output
    assert "perflab.bench/1" in result.output


def test_a_knee_only_run_shows_a_knee_table(tmp_path: Path) -> None:
    document = knee_only(sample_document())
    markdown, _, _ = render_report(write(document, tmp_path / "run"), tmp_path / "out")
    study = first_ran_study(sample_document())
    right = next(c for c in study["cells"] if c["role"] == "right")
    assert f"| {right['name']} | right | 20.0 | 700 ms | cpu | {right['name']} evidence |" in (
        markdown
    )
    headline = next(line for line in markdown.splitlines() if line.startswith(f"| {study['name']}"))
    assert f"| {right['name']} | 20.0 (knee) | 700 ms |" in headline
    assert "| 2.0x |" in headline


def test_a_seed_row_for_one_request_sits_under_that_request(tmp_path: Path) -> None:
    document = with_edge_cases(sample_document())
    markdown, _, _ = render_report(write(document, tmp_path / "run"), tmp_path / "out")
    study = next(s for s in document["studies"] if s["slo_p99_ms"] is None)
    reference = next(r for r in study["references"] if r.get("request"))
    cell = next(c for c in study["cells"] if c["name"] == reference["cell"])
    lines = markdown.splitlines()
    at = lines.index(next(line for line in lines if line.startswith(f"| {cell['name']} |")))
    below = lines[at + 1 : at + 1 + len(names_of(cell)) + 1]
    assert below[-2].startswith(f"| ↳ {reference['request']} |")
    assert below[-1].startswith("| ↳ seed row for one request | seed | 3.5 | 40 ms |")


def test_markup_in_names_cannot_break_the_page(tmp_path: Path) -> None:
    document = sample_document()
    study = first_ran_study(document)
    study["title"] = "Blur </script><!-- <b>bold</b>"
    _, _, html_path = render_report(write(document, tmp_path / "run"), tmp_path / "out")
    page = html_path.read_text(encoding="utf-8")
    assert "<b>bold</b>" not in page
    assert "Blur &lt;/script&gt;&lt;!-- &lt;b&gt;bold&lt;/b&gt;" in page
    block = page.split("id='perflab-data'>", 1)[1].split("</script>", 1)[0]
    titles = [s["title"] for s in json.loads(block)["studies"]]
    assert study["title"] in titles
