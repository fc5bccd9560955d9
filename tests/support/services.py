"""PostgreSQL and Redis for tests: real servers, found from PERFLAB_DATABASE_URL/PERFLAB_REDIS_URL.

Locally a test that needs an unreachable server skips and says why; under CI (`CI=true`) it
fails instead, so CI can never be green without the servers it is meant to exercise.
"""

from __future__ import annotations

import os
import socket
from urllib.parse import urlsplit

import pytest

DEFAULT_DATABASE_URL = "postgresql://postgres@127.0.0.1:5432/test"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def unavailable(reason: str) -> None:
    """Skip the test (fail it under CI) because a server it needs is not there."""
    if in_ci():
        pytest.fail(f"{reason} (CI=true: a missing service fails the run instead of skipping)")
    pytest.skip(reason)


def reachable(url: str, default_port: int, timeout_s: float = 2.0) -> str | None:
    """None if a TCP connection to the URL's host opens, else why not."""
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or default_port
    try:
        with socket.create_connection((host, port), timeout=timeout_s):
            return None
    except OSError as error:
        return f"cannot reach {host}:{port} ({error})"


def postgres_url() -> str:
    url = os.environ.get("PERFLAB_DATABASE_URL", DEFAULT_DATABASE_URL)
    if not url.startswith("postgresql"):
        url = DEFAULT_DATABASE_URL
    problem = reachable(url, 5432)
    if problem:
        unavailable(f"PostgreSQL at {url}: {problem}")
    return url


def redis_url() -> str:
    url = os.environ.get("PERFLAB_REDIS_URL", DEFAULT_REDIS_URL)
    problem = reachable(url, 6379)
    if problem:
        unavailable(f"Redis at {url}: {problem}")
    return url
