"""Render a stored results document into report.md and report.html.

Usage::

    markdown, md_path, html_path = render_report(Path("perflab-results/RUN"), None)
"""

from __future__ import annotations

from pathlib import Path

from perflab.report.html_page import render_html
from perflab.report.markdown import report_markdown
from perflab.report.summary import summarize_study
from perflab.results.calibration import find_calibration
from perflab.results.document import read_run
from perflab.results.errors import ResultsError

MARKDOWN_FILE = "report.md"
HTML_FILE = "report.html"


def render_report(
    results_path: Path | str, out_dir: Path | str | None = None
) -> tuple[str, Path, Path]:
    """Read the results (file or directory), write report.md and report.html into `out_dir`
    (default: beside the results file) and return the Markdown with both paths.
    Usage: ``text, md_path, html_path = render_report("perflab-results/RUN", "out")``"""
    results = read_run(Path(results_path), newest_run=True)
    # This machine's A/A calibration, where `perflab calibrate` left one: each cell's
    # run-to-run spread is stated beside its figures.
    try:
        calibration = find_calibration(results.machine)
    except ResultsError:
        calibration = None  # an unreadable calibration costs the notes, never the report
    summaries = [summarize_study(study, calibration) for study in results.studies]
    source = results.path or Path(results_path)
    target = Path(out_dir) if out_dir is not None else source.parent
    target.mkdir(parents=True, exist_ok=True)
    markdown = report_markdown(results, summaries)
    md_path = target / MARKDOWN_FILE
    html_path = target / HTML_FILE
    md_path.write_text(markdown, encoding="utf-8")
    html_path.write_text(render_html(results, summaries), encoding="utf-8")
    return markdown, md_path, html_path
