"""Duet benchmarking: two versions of the service measured side by side in one session
(after Bulej et al., "Duet Benchmarking", ICPE 2020), so that whatever the machine does
meanwhile (a neighbour's burst, CPU frequency, a warm page cache) falls on both alike.

The paper runs the two versions at the same time; on a small machine (2 cores that one
server and its load generator already fill) that would halve what each gets, so here they
take turns: every cell of both versions, each run on a fresh server, the order alternating
(AB, BA, ...), repeat i of each side back to back, so `perflab compare` judges them pair by
pair. The other version is:

- a git revision (`--against REV`): checked out with `git worktree add --detach` into a
  temporary folder, removed afterwards; `perflab serve` runs from it with
  `PYTHONPATH=<worktree>/src` in the same virtualenv (dependencies shared: refused when the
  revision's `[project] dependencies` are not satisfied here). A study's own server runs its
  command with its working directory moved to the same place in the worktree;
- a folder of code (`--baseline DIR`): perflab's source (DIR/src or DIR holding perflab/),
  or, for a study's own server, the working directory of its command;
- another command (`--against-command "..."`): for a study's own server only.

Usage::

    with other_version(studies, against="HEAD~1") as other:
        versions = duet_versions(out_dir, other)
        old, new = run_versions(studies, options, versions)
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import os
import secrets
import subprocess
import tempfile
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import perflab
from perflab.bench.runner import Version, cell_plans, is_own_server
from perflab.bench.study import CellPlan, Study
from perflab.results.errors import DuetError

GIT_TIMEOUT_S = 120.0


@dataclass(frozen=True)
class OtherVersion:
    """The version a duet measures against (side A). Usage: ``other.description``"""

    description: str  # "git 3f2a1b0 (worktree)", "folder ../old", "command '...'"
    revision: str | None = None  # its git revision, when known
    perflab_src: Path | None = None  # where its `perflab` package is (for `perflab serve`)
    command: str | None = None  # a study's own server's command
    trees: tuple[Path, Path] | None = None  # (this tree, the other): cwd moves across
    cwd: Path | None = None  # a study's own server runs here (--baseline DIR)


def this_source_root() -> Path:
    """The folder holding the running perflab's source tree (its src/ parent, or the
    site-packages folder). Usage: ``this_source_root()``"""
    return Path(perflab.__file__).resolve().parent.parent.parent


def _git(*args: str, cwd: Path) -> str:
    try:
        done = subprocess.run(
            ["git", *args], cwd=cwd, capture_output=True, text=True, timeout=GIT_TIMEOUT_S
        )
    except (OSError, subprocess.SubprocessError) as exc:
        raise DuetError(f"git {' '.join(args)}: {exc}") from None
    if done.returncode != 0:
        raise DuetError(f"git {' '.join(args)} (in {cwd}): {done.stderr.strip() or done.stdout}")
    return done.stdout.strip()


@contextlib.contextmanager
def worktree(revision: str, repo: Path) -> Iterator[tuple[Path, Path, str]]:
    """A detached worktree of `revision` of the git repository at `repo`, removed after:
    (repository root, worktree, short revision). Usage: ``with worktree("HEAD", here) as w:``"""
    root = Path(_git("rev-parse", "--show-toplevel", cwd=repo))
    try:
        commit = _git("rev-parse", "--verify", "--quiet", f"{revision}^{{commit}}", cwd=root)
    except DuetError:
        raise DuetError(f"git knows no revision {revision!r} in {root}") from None
    short = _git("rev-parse", "--short", commit, cwd=root)
    folder = Path(tempfile.mkdtemp(prefix=f"perflab-duet-{short}-")) / "tree"
    _git("worktree", "add", "--detach", str(folder), commit, cwd=root)
    try:
        yield root, folder, short
    finally:
        with contextlib.suppress(DuetError):
            _git("worktree", "remove", "--force", str(folder), cwd=root)


def perflab_source(tree: Path) -> Path:
    """The folder to put on PYTHONPATH so `python -m perflab` imports the tree's perflab.
    Raises DuetError when it holds none. Usage: ``perflab_source(Path("../old"))``"""
    for candidate in (tree / "src", tree):
        if (candidate / "perflab" / "__main__.py").is_file():
            return candidate.resolve()
    raise DuetError(f"{tree}: no perflab source here (neither src/perflab/ nor perflab/)")


def dependency_problems(tree: Path) -> list[str]:
    """The other tree's `[project] dependencies` this virtualenv does not satisfy (its
    servers share this virtualenv). Usage: ``dependency_problems(worktree)``"""
    pyproject = tree / "pyproject.toml"
    if not pyproject.is_file():
        return []
    try:
        wanted = tomllib.loads(pyproject.read_text(encoding="utf-8"))["project"]["dependencies"]
    except (OSError, tomllib.TOMLDecodeError, KeyError, TypeError) as exc:
        return [f"{pyproject}: cannot read its dependencies ({exc})"]
    try:
        from packaging.requirements import InvalidRequirement, Requirement
    except ImportError:  # packaging not installed: compare the lists as text
        here = this_source_root() / "pyproject.toml"
        ours = tomllib.loads(here.read_text(encoding="utf-8"))["project"]["dependencies"]
        return [f"{item} (not in this version's list)" for item in wanted if item not in ours]
    problems = []
    for text in wanted:
        try:
            requirement = Requirement(text)
        except InvalidRequirement:
            problems.append(f"{text} (cannot parse)")
            continue
        if requirement.marker is not None and not requirement.marker.evaluate():
            continue
        try:
            installed = importlib.metadata.version(requirement.name)
        except importlib.metadata.PackageNotFoundError:
            problems.append(f"{text} (not installed)")
            continue
        if requirement.specifier and not requirement.specifier.contains(installed, True):
            problems.append(f"{text} (installed: {installed})")
    return problems


def _check_cells(plans: list[tuple[Study, list[CellPlan]]], command: str | None) -> bool:
    """Whether any cell the duet runs starts a study's own server; refuses what cannot duet.
    Only the cells it runs count: a `--cell` choice leaves the others out of both sides."""
    own = False
    for study, cells in plans:
        for plan in cells:
            server = plan.server
            if server is None:
                raise DuetError(
                    f"study {study.name} measures a running service ({study.base_url}): a duet "
                    "needs cells that start their server"
                )
            own = own or is_own_server(server)
            if command is not None and "command" not in server:
                raise DuetError(
                    f"study {study.name}, cell {plan.name}: --against-command replaces a "
                    "[server] command, and this cell has none"
                )
    return own


@contextlib.contextmanager
def other_version(
    studies: list[Study],
    *,
    against: str | None = None,
    baseline: Path | None = None,
    command: str | None = None,
    cells: list[str] | None = None,
) -> Iterator[OtherVersion]:
    """Prepare the other version (exactly one of the three) for the cells the duet runs
    (`cells`: the `--cell` names, selected by `cell_plans` as `run_versions` does), cleaned
    up afterwards. Raises DuetError when it cannot be. Usage: see module."""
    if sum(x is not None for x in (against, baseline, command)) != 1:
        raise DuetError("give one of --against REV, --baseline DIR, --against-command CMD")
    plans = cell_plans(studies, cells)
    own = _check_cells(plans, command)
    if command is not None:
        yield OtherVersion(f"command {command!r}", command=command)
        return
    if baseline is not None:
        tree = baseline.resolve()
        if not tree.is_dir():
            raise DuetError(f"--baseline {baseline}: no such folder")
        yield _from_tree(tree, f"folder {baseline}", None, own, plans)
        return
    assert against is not None
    repo = studies[0].path.parent if own else this_source_root()
    with worktree(against, repo) as (root, tree, short):
        other = _from_tree(tree, f"git {short} (worktree of {against})", short, own, plans)
        yield OtherVersion(other.description, short, other.perflab_src, None, (root, tree))


def _from_tree(
    tree: Path,
    description: str,
    revision: str | None,
    own: bool,
    plans: list[tuple[Study, list[CellPlan]]],
) -> OtherVersion:
    source = None
    if any(not is_own_server(plan.server or {}) for _, cells in plans for plan in cells):
        source = perflab_source(tree)
        problems = dependency_problems(tree)
        if problems:
            raise DuetError(
                f"{description} needs dependencies this virtualenv does not have, and its "
                f"servers would run in it: {'; '.join(problems)}. Install them, or measure "
                "the two versions in two virtualenvs one after the other"
            )
    # --baseline with a study's own server: its command runs in the other folder instead.
    cwd = tree if own and revision is None else None
    return OtherVersion(description, revision, source, None, None, cwd)


def duet_versions(out_dir: Path, other: OtherVersion) -> list[Version]:
    """Side A (the other version, OLD) and side B (this one, NEW), results under OUT/A and
    OUT/B. Usage: ``duet_versions(Path("out"), other)``"""
    duet_id = secrets.token_hex(4)
    env = {}
    if other.perflab_src is not None:
        inherited = os.environ.get("PYTHONPATH")
        env["PYTHONPATH"] = (
            f"{other.perflab_src}{os.pathsep}{inherited}" if inherited else str(other.perflab_src)
        )
    a_side = Version(
        "A", out_dir / "A", perflab_env=env, command=other.command, trees=other.trees,
        cwd=other.cwd,
        machine={
            "git_revision": other.revision,
            "duet": {"id": duet_id, "side": "A", "version": other.description},
        },
    )  # fmt: skip
    b_side = Version(
        "B", out_dir / "B",
        machine={"duet": {"id": duet_id, "side": "B", "version": "this checkout"}},
    )  # fmt: skip
    return [a_side, b_side]
