"""Scenario files: named weighted requests with expectations, bodies, a default model."""

from __future__ import annotations

from pathlib import Path

import pytest

from perflab.cli.load import build_model
from perflab.loadgen import Closed, ScenarioError, run
from perflab.loadgen.models import Users
from perflab.loadgen.scenario import load_scenario
from tests.loadgen.scripted_server import ScriptedServer

SCENARIO = """
base_url = "http://127.0.0.1:{port}"
timeout_s = 5

[headers]
X-Client = "perflab-test"

[load]
users = 3
spawn_rate = 30
duration = "1s"
think = "0.01-0.02"

[[request]]
name = "index"
path = "/ok"
# sha256 of b"hello"
expect.status = 200
expect.sha256 = "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"

[[request]]
name = "predict"
method = "POST"
path = "/json"
weight = 3
form = {{ file = "@pixel.bin", label = "cat" }}
expect = {{ status = [200, 201], json = {{ success = true, n = 3 }} }}

[[request]]
name = "wrong"
method = "PUT"
path = "/ok"
json = {{ title = "x" }}
expect = {{ json = {{ success = true }} }}
"""


def _write(tmp_path: Path, port: int) -> Path:
    (tmp_path / "pixel.bin").write_bytes(b"\x00\x01\x02")
    path = tmp_path / "study.toml"
    path.write_text(SCENARIO.format(port=port))
    return path


def test_scenario_runs_with_weights_and_expectations(
    server: ScriptedServer, tmp_path: Path
) -> None:
    scenario = load_scenario(_write(tmp_path, server.port))
    assert [r.label for r in scenario.requests] == ["index", "predict", "wrong"]
    predict = scenario.requests[1]
    assert predict.body.content_type is not None
    assert predict.body.content_type.startswith("multipart/form-data; boundary=")
    assert b'filename="pixel.bin"' in predict.body.data
    assert predict.headers["X-Client"] == "perflab-test"
    recording = run(scenario.requests, Closed(500, 5), timeout_s=scenario.timeout_s or 30)
    names = recording.names
    assert (names["index"].requests, names["predict"].requests, names["wrong"].requests) == (
        100, 300, 100,
    )  # fmt: skip
    assert names["index"].failures == {}
    assert names["predict"].failures == {}
    assert names["wrong"].failures == {"wrong_content": 100}


def test_load_table_gives_the_default_model(tmp_path: Path) -> None:
    scenario = load_scenario(_write(tmp_path, 1))
    assert build_model(scenario.load) == Users(3, 30.0, 1.0, (0.01, 0.02))


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "at least one [[request]]"),
        ('[[request]]\npath = "/"\n', "needs `url`"),
        ('[[request]]\nurl = "http://127.0.0.1/"\ncolour = 1\n', "unknown keys"),
        ('[[request]]\nurl = "http://127.0.0.1/"\n[[request]]\nurl = "http://127.0.0.1/"\n',
         "repeated"),
        ('[[request]]\nurl = "ftp://x/"\n', "not an http"),
        ('[[request]]\nurl = "http://127.0.0.1/"\nbody = "a"\njson = 1\n', "one body"),
        ("[[request]\n", "study.toml"),
    ],
)  # fmt: skip
def test_invalid_scenarios_say_why(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "study.toml"
    path.write_text(text)
    with pytest.raises(ScenarioError, match=r"study\.toml"):
        load_scenario(path)
    with pytest.raises(ScenarioError, match=message.replace("[", r"\[")):
        load_scenario(path)
