"""The large-body mixed scenario against a real service: two streams, two reports, checked."""

from __future__ import annotations

import json
from pathlib import Path

from perflab.app.payload.service import summarize_bytes
from perflab.loadgen import run_streams
from perflab.loadgen.large_body import (
    LARGE_KEYS,
    SMALL_KEYS,
    document_bytes,
    expected_answer,
    large_body_streams,
    small_body,
)
from tests.support.servers import perflab_server


def test_bodies_are_what_the_expectations_say() -> None:
    assert 900 <= len(small_body()) <= 1200
    assert summarize_bytes(small_body()) == expected_answer("small", SMALL_KEYS)
    sample = document_bytes("large", 10_000)
    assert summarize_bytes(sample) == expected_answer("large", 10_000)
    assert json.loads(sample)["data"]["key_0000001"] == 7919


def test_streams_are_reported_apart_and_every_answer_is_checked(tmp_path: Path) -> None:
    with perflab_server(tmp_path, "--offload", "process") as server:
        streams = large_body_streams(
            server.base_url, "/pong", duration_s=2, small_rate_per_s=10, large_rate_per_s=1
        )
        recording = run_streams(streams)
    small, large = recording.names["small"], recording.names["large"]
    assert (small.requests, small.failure_count) == (20, 0)
    assert (large.requests, large.failure_count) == (2, 0)
    assert large.bytes_out > 2 * 25_000_000
    assert LARGE_KEYS == 1_250_000


def test_a_server_refusing_large_bodies_shows_as_failures(tmp_path: Path) -> None:
    env = {"PERFLAB_MAX_BODY_BYTES": "100000"}
    with perflab_server(tmp_path, "--offload", "thread", env=env) as server:
        streams = large_body_streams(
            server.base_url, "/ping", duration_s=1, small_rate_per_s=5, large_rate_per_s=1
        )
        recording = run_streams(streams)
    assert recording.names["small"].failure_count == 0
    assert recording.names["large"].failures == {"status_413": 1}
