"""The bench report: stored results (format perflab.bench/1) as Markdown and one HTML page.

Usage::

    from perflab.report import render_report
    markdown, md_path, html_path = render_report("perflab-results/RUN", "out")
"""

from perflab.report.load import FORMAT, ResultsFormatError, load_results
from perflab.report.render import render_report

__all__ = ["FORMAT", "ResultsFormatError", "load_results", "render_report"]
