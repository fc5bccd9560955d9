"""`perflab bench --against HEAD` end to end: a duet of perflab's own service against the
same code checked out in a worktree, on the smallest cell there is. Both sides run the same
code: no regression, exit 0; both results documents and the Markdown are written, and the
worktree is gone afterwards."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from perflab.bench.duet import dependency_problems, perflab_source, this_source_root
from perflab.cli.bench import bench
from perflab.results.errors import DuetError
from tests.cli.test_bench import flat

app = typer.Typer()
app.command()(bench)
runner = CliRunner()
REPO = this_source_root()


def _in_git_checkout() -> bool:
    if shutil.which("git") is None:
        return False
    done = subprocess.run(
        ["git", "rev-parse", "--is-inside-work-tree"], cwd=REPO, capture_output=True, text=True
    )
    return done.returncode == 0


def _worktrees() -> str:
    return subprocess.run(
        ["git", "worktree", "list"], cwd=REPO, capture_output=True, text=True
    ).stdout


@pytest.mark.skipif(not _in_git_checkout(), reason="perflab is not running from a git checkout")
def test_a_duet_against_head_runs_both_sides_and_finds_no_regression(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # no stored calibration of this machine here
    before = _worktrees()
    out = tmp_path / "duet"
    args = ["faceblur", "--profile", "smoke", "--against", "HEAD", "--out", str(out)]
    result = runner.invoke(app, [*args, "--no-progress"])
    assert result.exit_code == 0, result.output
    a_side = json.loads((out / "A" / "results.json").read_text(encoding="utf-8"))
    b_side = json.loads((out / "B" / "results.json").read_text(encoding="utf-8"))
    assert a_side["machine"]["duet"]["id"] == b_side["machine"]["duet"]["id"]
    assert (a_side["machine"]["duet"]["side"], b_side["machine"]["duet"]["side"]) == ("A", "B")
    assert "worktree of HEAD" in a_side["machine"]["duet"]["version"]
    for side in (a_side, b_side):
        cell = side["studies"][0]["cells"][0]
        assert cell["status"] == "ran", cell["reason"]
        assert cell["runs"][0]["conditions"]["warmup_s"] >= 0
    markdown = (out / "compare.md").read_text(encoding="utf-8")
    assert "OLD and NEW are one duet" in markdown
    assert "0 regression" in markdown
    assert _worktrees() == before  # the worktree was removed


def test_a_folder_without_perflab_is_refused(tmp_path: Path) -> None:
    with pytest.raises(DuetError, match="no perflab source"):
        perflab_source(tmp_path)
    assert perflab_source(REPO) == (REPO / "src").resolve()


def test_dependencies_this_virtualenv_lacks_are_named(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text(
        '[project]\nname = "x"\ndependencies = ["numpy>=1", "fastapi<0.1", '
        '"no-such-package-perflab-test>=1"]\n',
        encoding="utf-8",
    )
    problems = dependency_problems(tmp_path)
    assert len(problems) == 2
    assert problems[0].startswith("fastapi<0.1 (installed: ")
    assert problems[1] == "no-such-package-perflab-test>=1 (not installed)"
    assert dependency_problems(REPO) == []


def test_a_revision_git_does_not_know_exits_2(tmp_path: Path) -> None:
    if not _in_git_checkout():
        pytest.skip("perflab is not running from a git checkout")
    out = tmp_path / "duet"
    result = runner.invoke(
        app, ["faceblur", "--profile", "smoke", "--against", "no-such-rev-xyz", "--out", str(out)]
    )
    assert result.exit_code == 2
    assert "no-such-rev-xyz" in result.stderr


def test_a_calibration_file_for_a_duet_is_read_before_anything_runs(tmp_path: Path) -> None:
    before = _worktrees()
    missing = tmp_path / "ci-calibration.json"
    args = ["faceblur", "--profile", "smoke", "--against", "HEAD", "--calibration", str(missing)]
    result = runner.invoke(app, [*args, "--out", str(tmp_path / "duet"), "--no-progress"])
    assert result.exit_code == 2, result.output
    assert "ci-calibration.json: no such calibration file" in result.output
    assert not (tmp_path / "duet" / "A").exists()  # refused before any server started
    assert _worktrees() == before


def test_a_calibration_without_a_duet_is_refused(tmp_path: Path) -> None:
    args = ["faceblur", "--profile", "smoke", "--calibration", str(tmp_path / "c.json")]
    result = runner.invoke(app, [*args, "--out", str(tmp_path / "run"), "--no-progress"])
    assert result.exit_code == 2, result.output
    assert "--calibration judges a duet" in flat(result.output)
    assert not (tmp_path / "run").exists()
