"""report.html in headless Chromium: every chart drawn, no error, nothing fetched."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from perflab.report.render import render_report
from tests.report.samples import (
    expected_charts,
    knee_only,
    multi_name_study,
    sample_document,
    with_edge_cases,
    with_goals,
    with_main_request,
    write,
)
from tests.support.browser import CHROMIUM, CHROMIUM_ARGS, require_chromium

# Each uPlot root has a canvas with something painted on it, and each drawn series at
# least one value; read from the page, per chart.
CHARTS_JS = """() => Array.from(document.querySelectorAll('.chart')).map(slot => {
  const canvas = slot.querySelector('.uplot canvas');
  let painted = 0;
  if (canvas && canvas.width && canvas.height) {
    const pixels = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
    for (let i = 3; i < pixels.length; i += 4) if (pixels[i]) painted++;
  }
  return {chart: slot.dataset.chart, roots: slot.querySelectorAll('.uplot').length,
          empty: slot.classList.contains('empty'), text: slot.textContent.slice(0, 80),
          painted: painted};
})"""
SERIES_JS = """() => (window.perflabCharts || []).map(c => ({chart: c.chart,
  values: c.plot.data.slice(1).map(s => s.filter(v => v != null).length)}))"""


def artifacts_dir(tmp_path: Path) -> Path:
    """Where screenshots are kept: PERFLAB_TEST_ARTIFACTS, else the test's tmp_path."""
    folder = Path(os.environ.get("PERFLAB_TEST_ARTIFACTS") or tmp_path)
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def open_report(browser: Any, html_path: Path, screenshot: Path) -> dict[str, Any]:
    page = browser.new_page(viewport={"width": 1200, "height": 1400})
    problems: list[str] = []
    requests: list[str] = []
    page.on("pageerror", lambda error: problems.append(f"page error: {error}"))
    page.on(
        "console",
        lambda message: (
            problems.append(f"console {message.type}: {message.text}")
            if message.type in ("error", "warning")
            else None
        ),
    )
    page.on("request", lambda request: requests.append(request.url))
    page.goto(html_path.resolve().as_uri())
    page.wait_for_load_state("load")
    charts = page.evaluate(CHARTS_JS)
    series = page.evaluate(SERIES_JS)
    page.screenshot(path=str(screenshot), full_page=True)
    # The top of the page, the size a README shows (docs/img/report.png is one of these).
    top = screenshot.with_name(screenshot.stem + "-top.png")
    page.screenshot(path=str(top), clip={"x": 0, "y": 0, "width": 1200, "height": 1500})
    page.close()
    return {"problems": problems, "requests": requests, "charts": charts, "series": series}


def check_page(seen: dict[str, Any], expected: int) -> None:
    assert seen["problems"] == []
    assert [url for url in seen["requests"] if not url.startswith("file://")] == []
    charts = seen["charts"]
    assert len(charts) == expected
    for chart in charts:
        assert chart["roots"] == 1, chart
        assert not chart["empty"], chart
        assert chart["painted"] > 1000, chart  # axes, grid and the series' pixels
    assert len(seen["series"]) == expected
    for drawn in seen["series"]:
        assert drawn["values"], drawn
        assert any(count > 0 for count in drawn["values"]), drawn


@pytest.mark.browser
def test_the_report_page_draws_every_chart(tmp_path: Path) -> None:
    require_chromium()
    from playwright.sync_api import sync_playwright

    sample = sample_document()
    edge_cases = with_edge_cases(sample)  # without main_request, as older files are
    # As bench writes it now: the multi-request study's charts count its main request.
    sample = with_main_request(sample, {multi_name_study(sample)["name"]: "predict"})
    sample = with_goals(sample)  # a goals table (met, not met, not measured) on the page too
    _, _, sample_page = render_report(write(sample, tmp_path / "sample"), tmp_path / "sample")
    _, _, edge_page = render_report(write(edge_cases, tmp_path / "edge"), tmp_path / "edge")
    knees = knee_only(sample)
    _, _, knee_page = render_report(write(knees, tmp_path / "knee"), tmp_path / "knee")
    artifacts = artifacts_dir(tmp_path)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            seen_sample = open_report(browser, sample_page, artifacts / "report-sample.png")
            seen_edge = open_report(browser, edge_page, artifacts / "report-edge-cases.png")
            seen_knee = open_report(browser, knee_page, artifacts / "report-knee-only.png")
        finally:
            browser.close()
    check_page(seen_sample, expected_charts(sample))
    check_page(seen_edge, expected_charts(edge_cases))
    check_page(seen_knee, expected_charts(knees))
    assert "knee" in [chart["chart"] for chart in seen_edge["charts"]]
    titled = [c["chart"] for c in seen_sample["charts"] if "predict requests" in c["text"]]
    assert titled == ["throughput", "spectrum"]  # of the one study with a main request
    assert (artifacts / "report-sample.png").stat().st_size > 20_000
    assert (artifacts / "report-sample-top.png").stat().st_size > 20_000
