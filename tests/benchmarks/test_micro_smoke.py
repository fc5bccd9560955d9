"""Every micro-benchmark runs: `benchmarks/micro/*.py --smoke` finishes, so none can rot.

What no study can express lives in benchmarks/micro/ (a load generator against wrk, a kernel
alone); nothing else runs those scripts, so this does, each with `--smoke` (a few seconds).
Their figures are not checked: performance is measured, never asserted in a test.

A script whose peer is missing exits 77 and says why on stderr ("skipped: wrk not installed
..."): the test skips with that reason. A server it needs that is not reachable (Redis,
PostgreSQL) fails the test under CI=true instead, as every test's services do
(tests/support/services.py); a tool that is not installed skips everywhere (`./dev test`
installs wrk and ab under CI where it can). Files starting with `_` are a script's parts.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.services import unavailable

MICRO = Path(__file__).resolve().parents[2] / "benchmarks" / "micro"
SCRIPTS = sorted(p for p in MICRO.glob("*.py") if not p.name.startswith("_"))
SKIPPED = 77  # the scripts' exit status for "a peer is missing"
TIMEOUT_S = 240


@pytest.mark.timeout(TIMEOUT_S + 30)
@pytest.mark.parametrize("script", SCRIPTS, ids=[p.stem for p in SCRIPTS])
def test_the_micro_benchmark_runs_its_smoke(script: Path, tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, str(script), "--smoke"],
        cwd=tmp_path,  # anything a script writes by default lands here
        capture_output=True,
        text=True,
        timeout=TIMEOUT_S,
        check=False,
    )
    if done.returncode == SKIPPED:
        reason = done.stderr.strip().splitlines()[-1] if done.stderr.strip() else "skipped"
        if "not reachable" in reason:
            unavailable(f"{script.name}: {reason}")
        pytest.skip(f"{script.name}: {reason}")
    assert done.returncode == 0, f"{script.name} --smoke exited {done.returncode}:\n" + (
        done.stdout[-3000:] + done.stderr[-3000:]
    )
    assert done.stdout.strip(), f"{script.name} --smoke printed nothing"


def test_there_are_micro_benchmarks() -> None:
    assert len(SCRIPTS) >= 5, SCRIPTS
