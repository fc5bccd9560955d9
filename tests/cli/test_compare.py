"""`perflab compare OLD NEW` end to end: exit status, outputs, unreadable inputs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import typer
from click.testing import Result
from typer.testing import CliRunner

from perflab.cli.compare import compare
from perflab.results.calibration import default_calibration_path, write_calibration
from tests.compare.test_comparison import (
    Doc,
    calibration_of,
    each_run,
    find_cell,
    latencies,
    sample,
    scale_latency,
    steadiest,
)

app = typer.Typer()
app.command()(compare)
runner = CliRunner()


def _write(path: Path, data: Doc) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


def _invoke(*args: str | Path) -> Result:
    return runner.invoke(app, [str(arg) for arg in args])


@pytest.fixture(autouse=True)
def _no_stored_calibration(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Run where no perflab-results/calibration of this machine can be found by default."""
    monkeypatch.chdir(tmp_path)


def _calibration(tmp_path: Path) -> Path:
    return write_calibration(calibration_of(sample()), tmp_path / "calibration.json")


def _slower(tmp_path: Path) -> tuple[Path, Path, str]:
    """OLD and NEW files, NEW with one steady cell's latencies doubled; and "study cell"."""
    new = sample()
    study, name = steadiest(new, latencies)
    each_run(find_cell(new, study, name), scale_latency, [2.0])
    old_file = _write(tmp_path / "old" / "results.json", sample())
    return old_file, _write(tmp_path / "new.json", new), f"{study} {name}"


def test_registered_in_the_perflab_command() -> None:
    from perflab.cli import app as perflab

    assert "compare" in {command.name for command in perflab.registered_commands}


def test_same_run_exits_0_with_a_terminal_table(tmp_path: Path) -> None:
    file = _write(tmp_path / "run" / "results.json", sample())
    result = _invoke(file.parent, file)  # a folder holding results.json, or the file itself
    assert result.exit_code == 0, result.output
    assert "within noise" in result.output
    assert "0 regression" in result.output
    assert "Geometric mean of NEW/OLD" in result.output


def test_regression_exits_1_and_writes_markdown(tmp_path: Path) -> None:
    old, new, cell = _slower(tmp_path)
    out = tmp_path / "compare.md"
    calibration = _calibration(tmp_path)
    result = _invoke(
        old.parent, new, "--format", "markdown", "--out", out, "--calibration", calibration
    )
    assert result.exit_code == 1, result.output
    markdown = out.read_text(encoding="utf-8")
    assert result.output == markdown
    assert markdown.startswith("# perflab compare\n")
    assert "**1 regression" not in markdown  # two metrics regressed: p50 and p99
    assert "**2 regression**" in markdown
    assert f"\n- {cell} p99: regression: worse by more than identical runs differ" in markdown
    assert "| cell | metric | OLD | NEW | change | 95% interval | resolves | spread |" in markdown
    assert f"spread: this machine's calibration {calibration}" in markdown


def test_the_stored_calibration_of_this_machine_is_found(tmp_path: Path) -> None:
    old, new, _ = _slower(tmp_path)
    assert _invoke(old, new).exit_code == 0  # two repeats alone cannot call it
    write_calibration(calibration_of(sample()), default_calibration_path(sample()["machine"]))
    found = _invoke(old, new)
    assert found.exit_code == 1, found.output
    assert "perflab-results/calibration/" in found.output
    assert _invoke(old, new, "--no-calibration").exit_code == 0


def test_an_unreadable_calibration_exits_2(tmp_path: Path) -> None:
    old, new, _ = _slower(tmp_path)
    bad = tmp_path / "bad-calibration.json"
    bad.write_text('{"format": "perflab.bench/2"}', encoding="utf-8")
    result = _invoke(old, new, "--calibration", bad)
    assert result.exit_code == 2
    assert "not a perflab calibration" in result.stderr


def test_improvement_alone_exits_0(tmp_path: Path) -> None:
    old, new, _ = _slower(tmp_path)
    result = _invoke(new, old, "--calibration", _calibration(tmp_path))  # p50 and p99 halve
    assert result.exit_code == 0, result.output
    assert "improved" in result.output


def test_not_comparable_exits_0_and_says_why(tmp_path: Path) -> None:
    other = sample()
    other["machine"]["cpu"] = "Another CPU"
    result = _invoke(
        _write(tmp_path / "a.json", sample()),
        _write(tmp_path / "b.json", other),
        "--format",
        "markdown",
    )
    assert result.exit_code == 0, result.output
    assert "different machine: cpu" in result.output
    assert "Another CPU" in result.output


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "no such file"),
        ("{not json", "not JSON"),
        (json.dumps({"format": "perflab.load/1"}), "not a perflab bench results file"),
        ("[]", "not a perflab bench results file"),
    ],
)
def test_unreadable_input_exits_2(tmp_path: Path, content: str | None, message: str) -> None:
    bad = tmp_path / "bad.json"
    if content is not None:
        bad.write_text(content, encoding="utf-8")
    good = _write(tmp_path / "good.json", sample())
    result = _invoke(good, bad)
    assert result.exit_code == 2, result.output
    assert message in result.stderr
    assert str(bad) in result.stderr


def test_a_folder_without_results_exits_2(tmp_path: Path) -> None:
    good = _write(tmp_path / "good.json", sample())
    result = _invoke(tmp_path / "good.json", tmp_path)
    assert result.exit_code == 2
    assert "no results.json in this folder" in result.stderr
    assert good.exists()


def test_malformed_results_exit_2_naming_the_part(tmp_path: Path) -> None:
    broken = sample()
    _, cell = next((s, c) for s in broken["studies"] for c in s.get("cells") or [] if c["runs"])
    name = next(iter(cell["runs"][0]["recording"]["names"]))
    del cell["runs"][0]["recording"]["names"][name]["histogram"]
    result = _invoke(_write(tmp_path / "good.json", sample()), _write(tmp_path / "x.json", broken))
    assert result.exit_code == 2
    assert "malformed results" in result.stderr
    assert "lacks 'histogram'" in result.stderr
