"""Fixtures shared by every test package: real PostgreSQL and Redis, found or skipped (see
tests/support/services.py for the rule: skip locally, fail under CI=true)."""

from __future__ import annotations

import pytest

from tests.support import services


@pytest.fixture(scope="session")
def postgres_url() -> str:
    """URL of the real PostgreSQL test database (PERFLAB_DATABASE_URL)."""
    return services.postgres_url()


@pytest.fixture(scope="session")
def redis_url() -> str:
    """URL of the real Redis server (PERFLAB_REDIS_URL)."""
    return services.redis_url()


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"
