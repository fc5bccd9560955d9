"""The bench report: a stored run (read through `perflab.results`) as Markdown and one
self-contained HTML page.

Usage::

    from perflab.report import render_report
    markdown, md_path, html_path = render_report("perflab-results/RUN", "out")
"""

from perflab.report.render import render_report

__all__ = ["render_report"]
