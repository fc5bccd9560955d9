"""Fixtures of the queue tests: a fresh namespace on the real Redis for each test, removed after."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from perflab.app.offload.streams import QueueNames


@pytest.fixture
def namespace(redis_url: str) -> Iterator[str]:
    """A namespace no other test (or run) uses; every key in it is deleted afterwards."""
    name = f"test-{secrets.token_hex(4)}"
    yield name
    client = redis.Redis.from_url(redis_url)
    try:
        keys = list(client.scan_iter(match=QueueNames(name).tag + "*", count=1000))
        if keys:
            client.delete(*keys)
    finally:
        client.close()


@pytest.fixture
def sync_redis(redis_url: str) -> Iterator[redis.Redis]:
    """A plain client, for looking at (and breaking) the queue from outside."""
    client = redis.Redis.from_url(redis_url)
    yield client
    client.close()


@pytest.fixture(scope="session")
def classify_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The classifier's model, built once into a directory of its own (never the user's cache);
    workers are pointed at it with PERFLAB_MODEL_DIR."""
    from perflab.app.classify.model import ensure_model

    directory = tmp_path_factory.mktemp("models")
    ensure_model(directory)
    return directory
