"""Flows in scenario files (and a study's [base]): syntax, mistakes, and `perflab load` output."""

from __future__ import annotations

import tomllib
from pathlib import Path

import orjson
import pytest
from typer.testing import CliRunner

from perflab.loadgen import Closed, Flow, ScenarioError, Stream, Users, run
from perflab.loadgen.output import render
from perflab.loadgen.scenario import load_scenario, parse_scenario
from tests.loadgen.flow_server import FlowServer

SCENARIO = """
base_url = "http://127.0.0.1:{port}"
timeout_s = 5

[[on_start]]
name = "login"
method = "POST"
path = "{login}"
json = {{ user = "ada", password = "secret" }}
capture = {{ token = "json:token" }}

[[request]]
name = "create"
method = "POST"
path = "/items"
headers = {{ Authorization = "Bearer {{token}}" }}
json = {{ title = "x" }}
capture = {{ item = "json:id" }}
expect = {{ status = 201 }}

[[request]]
name = "read"
path = "/items/{{item}}"
headers = {{ Authorization = "Bearer {{token}}" }}
expect = {{ json = {{ title = "x" }} }}

[[request]]
name = "delete"
method = "DELETE"
path = "/items/{{item}}"
headers = {{ Authorization = "Bearer {{token}}" }}

[[request]]
name = "missing"
path = "/items/0"
headers = {{ Authorization = "Bearer {{token}}" }}
weight = 1
expect = {{ status = 404 }}

[[flow]]
name = "buy"
weight = 3
steps = ["create", "read", "delete"]
"""


def _write(tmp_path: Path, port: int, login: str = "/login") -> Path:
    path = tmp_path / "flows.toml"
    path.write_text(SCENARIO.format(port=port, login=login))
    return path


def test_scenario_file_runs_its_flows_as_perflab_load_does(
    flow_server: FlowServer, tmp_path: Path
) -> None:
    scenario = load_scenario(_write(tmp_path, flow_server.port))
    assert [spec.label for spec in scenario.on_start] == ["login"]
    assert scenario.flows == [Flow("buy", ("create", "read", "delete"), weight=3)]
    assert scenario.requests[0].capture == {"item": "json:id"}
    # `perflab load --scenario` hands `scenario.requests` to `run`: they carry the flows.
    recording = run(scenario.requests, Closed(1 + 10 * 10, 1), timeout_s=5)
    counts = {n: (s.requests, s.failure_count) for n, s in recording.names.items()}
    # each 4 runs: buy, missing, buy, buy = 3 x 3 + 1 requests
    assert counts == {"login": (1, 0), "create": (30, 0), "read": (30, 0), "delete": (30, 0),
                      "missing": (10, 0)}  # fmt: skip
    assert flow_server.foreign == 0


def test_a_study_base_table_builds_a_stream(flow_server: FlowServer, tmp_path: Path) -> None:
    text = _write(tmp_path, flow_server.port).read_text()
    base = tomllib.loads(text)  # a study's [base] table arrives parsed, as here
    scenario = parse_scenario(base, tmp_path)
    stream = scenario.stream(Users(3, 100, 0.3), timeout_s=30.0)
    assert isinstance(stream, Stream)
    assert (stream.timeout_s, [s.label for s in stream.on_start]) == (5.0, ["login"])
    assert stream.flows == scenario.flows
    recording = run(list(stream.requests), stream.model, on_start=stream.on_start,
                    flows=stream.flows)  # fmt: skip
    assert recording.names["login"].requests == 3
    assert recording.total().failure_count == 0


def test_perflab_load_shows_steps_skipped_and_capture_failures(
    flow_server: FlowServer, tmp_path: Path
) -> None:
    from perflab.cli.load import load  # the command, read only: flows need no option of it

    app = __import__("typer").Typer()
    app.command()(load)
    path = _write(tmp_path, flow_server.port, login="/login-without-token")
    json_path = tmp_path / "run.json"
    outputs = {}
    for output_format in ("table", "ab", "locust"):
        result = CliRunner().invoke(
            app, ["--scenario", str(path), "-n", "8", "--format", output_format,
                  "--json", str(json_path)],
        )  # fmt: skip
        assert result.exit_code == 0, result.output
        outputs[output_format] = result.output
    table = outputs["table"].splitlines()
    assert "skipped" in table[1]
    login_row = next(line for line in table if line.startswith("login "))
    assert login_row.split()[1:4] == ["8", "8", "0"]  # requests, failures, skipped
    assert next(line for line in table if line.startswith("read ")).split()[1:4] == ["0", "0", "5"]
    assert "flow buy (weight 3): create > read > delete" in table
    assert "failures: capture_failed 8" in table
    assert "Capture failures:       8" in outputs["ab"]
    assert "Skipped requests:       17" in outputs["ab"]  # 7 runs: 5 of buy (3), 2 of missing
    assert "capture_failed" in outputs["locust"]
    assert any(line.split()[:3] == ["5", "GET", "read"] for line in outputs["locust"].splitlines())
    data = orjson.loads(json_path.read_bytes())
    assert data["skipped"] == 17
    assert data["names"]["delete"]["skipped"] == 5
    assert data["flows"]["on_start"] == ["login"]


def test_plain_scenarios_render_as_before(flow_server: FlowServer) -> None:
    scenario = parse_scenario({"base_url": flow_server.url(), "request": [{"path": "/x"}]},
                              Path("."))  # fmt: skip
    assert type(scenario.requests) is list
    table = render(run(scenario.requests, Closed(3, 1)), "table")
    assert "skipped" not in table
    assert "flow" not in table


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ('[[flow]]\nname = "f"\nsteps = ["login"]\n', "'login' is an on_start step"),
        ('[[flow]]\nname = "f"\nsteps = ["nope"]\n', "'nope' is not a request"),
        ('[[flow]]\nname = "f"\nsteps = ["missing"]\n', "drop their `weight`"),
        ('[[flow]]\nname = "f"\nsteps = []\n', "no steps"),
        ('[[flow]]\nname = "f"\nsteps = "read"\n', "list of request names"),
        ('[[flow]]\nsteps = ["read"]\n', "needs `name` and `steps`"),
        ('[[flow]]\nname = "f"\nsteps = ["read"]\ncolour = 1\n', "unknown keys"),
        ('[[flow]]\nname = "f"\nsteps = ["read", "create"]\n', r"step read uses \{item\}"),
        ('[[flow]]\nname = "buy"\nsteps = ["create"]\n', "flow names must differ"),
        ('[[on_start]]\nurl = "http://127.0.0.1/"\nweight = 2\n', "unknown keys"),
        ('[[on_start]]\nurl = "http://127.0.0.1/"\ncapture = 3\n', "capture is a table"),
        ('[[on_start]]\nurl = "http://127.0.0.1/"\ncapture = { t = "xml:t" }\n', "json:PATH"),
    ],
)
def test_invalid_flows_say_why(tmp_path: Path, extra: str, message: str) -> None:
    path = tmp_path / "flows.toml"
    text = SCENARIO.format(port=1, login="/login")
    path.write_text(text + extra)
    with pytest.raises(ScenarioError, match=r"flows\.toml") as error:
        load_scenario(path)
    assert error.match(message)


def test_flow_lists_must_be_tables() -> None:
    request = {"url": "http://127.0.0.1/"}
    for key in ("flow", "on_start"):
        with pytest.raises(ScenarioError, match=rf"`{key}` is a list of tables"):
            parse_scenario({"request": [request], key: 3}, Path("."))


def test_scenario_requests_carry_flows_into_generator_processes(
    flow_server: FlowServer, tmp_path: Path
) -> None:
    scenario = load_scenario(_write(tmp_path, flow_server.port))
    recording = run(scenario.requests, Closed(2 * 11, 2), processes=2)  # pickled to children
    assert recording.processes == 2
    assert recording.names["login"].requests == 2
    assert recording.total().failure_count == 0
    assert recording.flows["flows"][0]["name"] == "buy"
