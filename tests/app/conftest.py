"""Fixtures the service's tests share: a real slow downstream and a perflab service calling it.

A test module that uses them sets, at module level:

    DOWNSTREAM_LATENCY_S = 0.5              # each downstream call's latency (required)
    SERVICE_ARGS = ("--threads", "2")       # extra `perflab serve` arguments (optional)
    SERVICE_ENV = {"PERFLAB_...": "..."}    # extra environment (optional)

Both are module-scoped: one downstream and one service per module, each started once.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.servers import RunningServer, downstream_server, perflab_server


@pytest.fixture(scope="module")
def downstream(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningServer]:
    """`perflab downstream` answering every call after the module's DOWNSTREAM_LATENCY_S."""
    latency_s: float = request.module.DOWNSTREAM_LATENCY_S
    with downstream_server(tmp_path_factory.mktemp("downstream"), latency_s) as server:
        yield server


@pytest.fixture(scope="module")
def fanout_service(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    downstream: RunningServer,
) -> Iterator[RunningServer]:
    """`perflab serve --downstream http` calling `downstream`; its log ends with no traceback."""
    args: tuple[str, ...] = getattr(request.module, "SERVICE_ARGS", ())
    env = {"PERFLAB_DOWNSTREAM_URL": downstream.base_url}
    env.update(getattr(request.module, "SERVICE_ENV", {}))
    tmp = tmp_path_factory.mktemp("service")
    with perflab_server(tmp, "--downstream", "http", *args, env=env) as server:
        yield server
        assert "Traceback" not in server.log(), server.log()
