"""Fixtures for the locust tests: a real perflab server, and locust itself in subprocesses.

Nothing here imports locust: it monkey-patches the process it is imported in (gevent), so
every master and worker runs in its own process, started by `perflab.locust.driver` or the
`locust` command, as in real use.
"""

from __future__ import annotations

from collections.abc import Iterator
from importlib.util import find_spec

import pytest

from perflab.loadgen import Expectation, RequestSpec, json_body
from tests.support.servers import RunningServer, perflab_server

PING_BODY = {"name": "x", "data": {"a": 1, "b": 5}}  # /ping answers count 2, maxval 5

if find_spec("locust") is None:  # the test extra installs it (perflab[locust])
    pytest.skip("locust is not installed: pip install -e '.[test]'", allow_module_level=True)


def ping(base_url: str, name: str, *, weight: int = 1, count: int = 2) -> RequestSpec:
    """POST /ping, right when the answer's count is `count` (2 is right, anything else wrong)."""
    return RequestSpec(
        f"{base_url}/ping",
        method="POST",
        name=name,
        body=json_body(PING_BODY),
        weight=weight,
        expect=Expectation(status=(200,), json_fields={"count": count}),
    )


@pytest.fixture(scope="package")
def ping_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    """One `perflab serve` for the package's tests (its /ping and /notes/ are all they need)."""
    with perflab_server(tmp_path_factory.mktemp("server")) as server:
        yield server
