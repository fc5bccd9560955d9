"""`perflab bench STUDY --against-command "..."`: a duet of two commands of a study's own
server. Only the cells the duet runs must have a command: a `--cell` choice leaves a cell
without one (a server matrix entry, say) out of the check as it leaves it out of the run."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from perflab.cli.bench import bench
from tests.bench.foreign_support import FRONT, leftovers, write_study
from tests.cli.test_bench import flat

app = typer.Typer()
app.command()(bench)
runner = CliRunner()

SHOP = "{python} -m uvicorn shop:app --host {host} --port {port}"
CELLS = f"""
[[cell]]
name = "by-command"
server = {{ command = "{SHOP}", ready = "/openapi.json" }}

[[cell]]
name = "by-matrix"
server = {{ app = "shop:app", runner = "uvicorn" }}
"""


def _study(tmp_path: Path) -> tuple[Path, str]:
    return write_study(tmp_path, "", FRONT + CELLS)


def test_a_command_duet_of_the_chosen_cell_runs_beside_a_cell_without_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # no stored calibration of this machine here
    study_file, token = _study(tmp_path)
    out = tmp_path / "duet"
    # The same app on the other side, started another way: two uvicorn workers. Both
    # documents record this tree's settings; the processes sampled show which command ran.
    other = f"{SHOP} --workers 2"
    args = [str(study_file), "--cell", "by-command", "--against-command", other]
    result = runner.invoke(app, [*args, "--out", str(out), "--no-progress"])
    assert result.exit_code == 0, result.output
    sides = [json.loads((out / s / "results.json").read_text("utf-8")) for s in ("A", "B")]
    assert [s["machine"]["duet"]["side"] for s in sides] == ["A", "B"]
    assert "--workers 2" in sides[0]["machine"]["duet"]["version"]
    processes = []
    for side in sides:
        [cell] = side["studies"][0]["cells"]  # the chosen cell only
        assert cell["name"] == "by-command"
        assert cell["status"] == "ran", cell["reason"]
        assert cell["runs"][0]["recording"]["failures"] == 0
        processes.append(max(s["processes"] for s in cell["runs"][0]["signals"]["series"]))
    # A: uvicorn's supervisor and its two workers; B: the study's command, one process.
    assert processes[0] >= 3
    assert processes[1] == 1
    assert (out / "compare.md").is_file()
    assert leftovers(token) == []


def test_a_command_duet_of_a_cell_without_a_command_is_refused_before_any_run(
    tmp_path: Path,
) -> None:
    study_file, token = _study(tmp_path)
    out = tmp_path / "duet"
    args = [str(study_file), "--cell", "by-matrix", "--against-command", SHOP]
    result = runner.invoke(app, [*args, "--out", str(out), "--no-progress"])
    assert result.exit_code == 2, result.output
    assert "cell by-matrix: --against-command replaces a [server] command" in flat(result.output)
    assert not (out / "A").exists()
    assert leftovers(token) == []
