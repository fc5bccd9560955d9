"""`perflab serve` as a process: settings from flags and env, servers, graceful shutdown."""

from __future__ import annotations

import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from perflab.config import Settings
from tests.support.servers import get_json, perflab_server


def test_settings_come_from_env_and_flags(tmp_path: Path) -> None:
    env = {"PERFLAB_OFFLOAD": "thread", "PERFLAB_QUEUE_BUDGET_S": "5"}
    with perflab_server(tmp_path, "--threads", "7", env=env) as server:
        status, health = get_json(server.url("/healthz"))
    assert status == 200
    assert health["offload"]["kind"] == "thread"
    assert health["admission"]["offload"]["budget_s"] == 5


def test_settings_round_trip_through_env() -> None:
    settings = Settings(offload="inline", workers=3, max_body_bytes=1234)
    env = settings.to_env()
    assert "PERFLAB_DATABASE_URL" not in env  # unset stays unset, not the string "None"
    rebuilt = Settings.model_validate(
        {k.removeprefix("PERFLAB_").lower(): v for k, v in env.items()}
    )
    assert rebuilt == settings


def test_granian_serves_the_same_app(tmp_path: Path) -> None:
    env = {"PERFLAB_DOWNSTREAM_LATENCY_S": "0.01"}
    with perflab_server(tmp_path, "--server", "granian", "--offload", "thread", env=env) as server:
        status, body = get_json(server.url("/async_concurrent"))
        assert status == 200
        assert body["results"] == [3, 5, 7]
        status, body = get_json(server.url("/diag/cpu?work_ms=5"))
        assert status == 200


def test_oversize_content_length_is_refused_before_the_body_is_sent(tmp_path: Path) -> None:
    with perflab_server(tmp_path, env={"PERFLAB_MAX_BODY_BYTES": "1000"}) as server:
        port = int(server.base_url.rsplit(":", 1)[1])
        with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
            # Headers only: a server that waited for the 1 GB body would never answer.
            sock.sendall(
                b"POST /diag/cpu HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                b"Content-Length: 1000000000\r\n\r\n"
            )
            answer = b""
            while chunk := sock.recv(65536):  # the server closes the connection after a 413
                answer += chunk
    assert answer.startswith(b"HTTP/1.1 413")
    assert b'"payload_too_large"' in answer


def test_sigterm_lets_in_flight_requests_finish_then_exits_0(tmp_path: Path) -> None:
    env = {"PERFLAB_DOWNSTREAM_LATENCY_S": "0.5"}  # /async_independent takes 1.5 s
    with perflab_server(tmp_path, env=env) as server:
        result: dict[str, tuple[int, dict[str, object]]] = {}

        def slow_request() -> None:
            result["answer"] = get_json(server.url("/async_independent"))

        client = threading.Thread(target=slow_request)
        client.start()
        time.sleep(0.5)
        exit_code = server.terminate()
        client.join(timeout=10)
        # After shutdown nothing accepts connections any more.
        with pytest.raises(urllib.error.URLError, match="refused"):
            urllib.request.urlopen(server.url("/healthz"), timeout=2)
    assert exit_code == 0, server.log()
    status, body = result["answer"]
    assert status == 200
    assert body["results"] == [3, 5, 7]


def test_cli_lists_its_commands() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "perflab", "--help"], capture_output=True, text=True, check=True
    ).stdout
    for command in ("serve", "downstream"):
        assert command in out
