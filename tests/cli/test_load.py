"""`perflab load` end to end: options, formats, files; and the option parsers."""

from __future__ import annotations

import csv
from pathlib import Path

import orjson
import pytest
import typer
from typer.testing import CliRunner

from perflab.cli.load import load
from perflab.loadgen.errors import LoadgenError
from perflab.loadgen.options import parse_duration_s, parse_think_s
from tests.loadgen.scripted_server import ScriptedServer

app = typer.Typer()
app.command()(load)
runner = CliRunner()


def _invoke(*args: str) -> str:
    result = runner.invoke(app, list(args))
    assert result.exit_code == 0, result.output
    return result.output


def test_closed_with_ab_format(server: ScriptedServer) -> None:
    output = _invoke(server.url("/ok"), "-n", "200", "-c", "4", "--format", "ab")
    assert "Complete requests:      200" in output
    assert "Failed requests:        0" in output
    assert "Concurrency Level:      4" in output
    assert "(longest request)" in output
    assert server.counts["/ok"] == 200


def test_locust_format_and_csv(server: ScriptedServer, tmp_path: Path) -> None:
    prefix = str(tmp_path / "run")
    output = _invoke(
        server.url("/status/500"), "-u", "2", "-r", "10", "-t", "0.5s", "--think", "0.05",
        "--format", "locust", "--csv", prefix,
    )  # fmt: skip
    assert "Aggregated" in output
    assert "Error report" in output
    assert "status_500" in output
    with open(f"{prefix}_stats.csv", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert rows[-1]["Name"] == "Aggregated"
    assert int(rows[-1]["Request Count"]) == server.counts["/status/500"]
    assert int(rows[-1]["Failure Count"]) == server.counts["/status/500"]
    assert Path(f"{prefix}_failures.csv").exists()
    assert Path(f"{prefix}_stats_history.csv").exists()


def test_open_with_json_file_and_json_body(server: ScriptedServer, tmp_path: Path) -> None:
    json_file = tmp_path / "run.json"
    output = _invoke(
        server.url("/json"), "--rate", "100", "-t", "0.5", "--json-body", '{"a": 1}',
        "--expect-json", "success=true", "-H", "X-Test: 1", "--json", str(json_file),
    )  # fmt: skip
    assert "late sends 0" in output or "late sends" in output
    data = orjson.loads(json_file.read_bytes())
    assert data["requests"] == 50
    assert data["failures"] == 0
    assert data["names"]["/json"]["method"] == "POST"
    assert data["model"]["model"] == "open"


def test_form_upload_and_expectations_on_the_command_line(
    server: ScriptedServer, tmp_path: Path
) -> None:
    image = tmp_path / "image.jpg"
    image.write_bytes(b"\xff\xd8\xff")
    output = _invoke(
        server.url("/ok"), "-n", "10", "-F", f"image=@{image}", "--expect-status", "201",
        "--format", "json",
    )  # fmt: skip
    data = orjson.loads(output)
    assert data["failures_by_kind"] == {"status_200": 10}


def test_no_keepalive_and_processes(server: ScriptedServer) -> None:
    _invoke(server.url("/ok"), "-n", "40", "-c", "4", "--no-keepalive", "-p", "2")
    assert server.counts["/ok"] == 40
    assert server.connections == 40


def test_user_errors_exit_2() -> None:
    result = runner.invoke(app, ["http://127.0.0.1:1/", "--rate", "10"])
    assert result.exit_code == 2
    assert "--rate needs --duration" in result.output
    assert runner.invoke(app, []).exit_code == 2
    both = runner.invoke(app, ["http://127.0.0.1:1/", "-n", "5", "--rate", "10", "-t", "1"])
    assert both.exit_code == 2
    assert "choose one load model" in both.output
    assert runner.invoke(app, ["http://127.0.0.1:1/", "--format", "xml"]).exit_code != 0


def test_parsers() -> None:
    assert parse_duration_s("1m30s") == 90.0
    assert parse_duration_s("250ms") == 0.25
    assert parse_duration_s("2") == 2.0
    assert parse_think_s("1-5") == (1.0, 5.0)
    assert parse_think_s("2") == (2.0, 2.0)
    with pytest.raises(LoadgenError):
        parse_duration_s("soon")
    with pytest.raises(LoadgenError):
        parse_think_s("a-b")
