"""Faults in the report: a table of what each fault cost (Markdown and HTML alike) and marks
on the shared time axis of the charts' data."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from perflab.report.render import render_report
from tests.report.samples import first_ran_study, measured_cells, sample_document, write

FAULT = {
    "name": "a pool worker dies",
    "action": "kill",
    "target": "offload_worker",
    "planned_at_s": 2.0,
    "at_s": 2.1,
    "back_at_s": 2.1,
    "detail": "SIGKILL to pid 4242",
    "error": None,
    "right_in_window": 812,
    "failed_in_window": 1,
    "first_success_after_fault_s": 0.03,
    "first_success_after_back_s": 0.03,
    "p99_under_slo_after_back_s": 0.0,
    "failed_by_kind": {"shed": 1},
    "lost": 0,
    "maybe": 0,
}
OUTCOME = {"ok": True, "acknowledged": 800, "missing": 0, "wrong_content": 0,
           "unacknowledged": 0, "maybe": 0}  # fmt: skip


def _document_with_a_fault() -> tuple[dict[str, Any], str]:
    document = sample_document()
    study = first_ran_study(document)
    cell = measured_cells(study)[0]
    for run in cell["runs"]:
        run["faults"] = [dict(FAULT)]
        run["reconciliation"] = dict(OUTCOME)
    return document, cell["name"]


def test_the_report_accounts_for_each_fault(tmp_path: Path) -> None:
    document, cell = _document_with_a_fault()
    markdown, _, html_path = render_report(write(document, tmp_path / "run"), tmp_path / "out")
    assert "every request accounted for" in markdown
    row = next(line for line in markdown.splitlines() if "a pool worker dies" in line)
    assert row.startswith(f"| {cell}")
    assert "2.10 s / 2.10 s" in row  # at / back
    assert "shed 1" in row
    assert "all stored: 800 acknowledged, 0 missing" in row
    page = html_path.read_text(encoding="utf-8")
    assert "Faults: every request accounted for" in page
    data = json.loads(page.split("id='perflab-data'>", 1)[1].split("</script>", 1)[0])
    marks = [m for s in data["studies"] if s["charts"] for m in s["charts"]["timeline"]["marks"]]
    assert marks == [{"cell": cell, "name": "a pool worker dies", "at_s": 2.1, "back_at_s": 2.1}]


def test_a_fault_that_could_not_be_done_says_why(tmp_path: Path) -> None:
    document, _ = _document_with_a_fault()
    for study in document["studies"]:
        for cell in study["cells"]:
            for run in cell["runs"]:
                for fault in run.get("faults", []):
                    fault.update(error="no offload_worker process found to kill", at_s=None)
    markdown, _, _ = render_report(write(document, tmp_path / "run"), tmp_path / "out")
    assert "a pool worker dies: no offload_worker process found to kill" in markdown


def test_without_faults_there_is_no_faults_section(tmp_path: Path) -> None:
    markdown, _, _ = render_report(write(sample_document(), tmp_path / "run"), tmp_path / "o")
    assert "accounted for" not in markdown
