"""Study files with a server of their own: what loads, what each runner's command line is,
what merges, and every mistake named before anything starts."""

from __future__ import annotations

import re
import shutil
import sys
from pathlib import Path

import pytest

from perflab.bench.availability import missing_service
from perflab.bench.server_command import server_command
from perflab.bench.study import load_study
from perflab.bench.workload import cell_scenario
from perflab.results.errors import StudyError

STUDY = """
title = "Shop"
question = "How should the shop run?"
[base]
load = {{ model = "closed", requests = 10, connections = 2 }}
{base}
[base.server]
{server}
[[base.request]]
name = "front"
path = "{{front}}"
[base.vars]
front = "/"
user = "ada"
items = "/items"
item_name = "teapot"
{rest}
"""

UVICORN = 'command = "uvicorn shop:app --host {host} --port {port} --workers {workers}"'


def study(tmp_path: Path, server: str, rest: str = "", base: str = "") -> Path:
    path = tmp_path / "study.toml"
    path.write_text(STUDY.format(server=server, rest=rest, base=base))
    return path


def test_a_command_server_loads_and_renders_per_cell(tmp_path: Path) -> None:
    rest = '[[cell]]\nname = "one"\n[[cell]]\nname = "two"\nserver = { workers = 2 }\n'
    server = UVICORN + '\nenv = { DATABASE_URL = "sqlite:///shop.db", PORT = "{port}" }'
    loaded = load_study(str(study(tmp_path, server, rest)))
    one, two = loaded.cell("one"), loaded.cell("two")
    assert one.foreign
    assert one.needs == ()
    command = server_command(two.server or {}, {}, two.base_dir, port=8123)
    assert command.argv[0] == shutil.which("uvicorn") or command.argv[0].endswith("/uvicorn")
    assert command.argv[1:] == [
        "shop:app",
        "--host",
        "127.0.0.1",
        "--port",
        "8123",
        "--workers",
        "2",
    ]
    assert command.env == {"DATABASE_URL": "sqlite:///shop.db", "PORT": "8123"}
    assert command.cwd == tmp_path.resolve()
    assert command.ready_path == "/"
    settings = one.settings_dict()["server"]
    assert settings["command_line"].endswith("--port {port} --workers 1")


@pytest.mark.parametrize(
    ("runner", "interface", "expected"),
    [
        ("uvicorn", "asgi", "-m uvicorn shop:app --host H --port 81 --workers 2 --no-access-log"),
        ("granian", "asgi", "-m granian --interface asgi --host H --port 81 --workers 2 shop:app"),
        ("granian", "wsgi", "-m granian --interface wsgi --host H --port 81 --workers 2 shop:app"),
        ("hypercorn", "asgi", "-m hypercorn --bind H:81 --workers 2 shop:app"),
        ("gunicorn", "wsgi", "-m gunicorn shop:app --bind H:81 --workers 2"),
        ("fastapi", "asgi", "-m fastapi run --entrypoint shop:app --host H --port 81 --workers 2"),
    ],
)
def test_each_runner_has_its_command_line(runner: str, interface: str, expected: str) -> None:
    server = {"app": "shop:app", "runner": runner, "interface": interface, "workers": 2}
    command = server_command(server, {}, Path("."), port=81, host="H")
    assert command.argv[0] == sys.executable
    assert " ".join(command.argv[1:]) == expected


def test_gunicorn_runs_an_asgi_app_through_uvicorns_worker_class() -> None:
    server = {"app": "shop:app", "runner": "gunicorn"}
    argv = server_command(server, {}, Path("."), port=81).argv
    worker_class = argv[argv.index("--worker-class") + 1]
    assert worker_class in ("uvicorn_worker.UvicornWorker", "uvicorn.workers.UvicornWorker")


def test_a_cell_switches_from_a_command_to_an_app_and_back(tmp_path: Path) -> None:
    rest = (
        '[[cell]]\nname = "cmd"\n'
        '[[cell]]\nname = "granian"\nserver = { app = "shop:app", runner = "granian" }\n'
    )
    loaded = load_study(str(study(tmp_path, UVICORN, rest)))
    assert "command" in (loaded.cell("cmd").server or {})
    granian = loaded.cell("granian").server or {}
    assert "command" not in granian
    assert granian["runner"] == "granian"
    assert loaded.cell("granian").needs == ("runner:granian:asgi",)


def test_a_runner_that_is_not_installed_is_a_reason_to_skip(tmp_path: Path) -> None:
    python = "/usr/bin/python3"
    if not Path(python).exists():
        pytest.skip("no system python to stand for an environment without gunicorn")
    server = f'app = "shop:app"\nrunner = "gunicorn"\npython = "{python}"'
    plan = load_study(str(study(tmp_path, server))).cells[0]
    problem = missing_service(plan.needs)
    assert problem is not None
    assert problem.startswith(f"gunicorn is not installed for {python}")
    assert "pip install gunicorn" in problem


@pytest.mark.parametrize(
    ("server", "message"),
    [
        ('command = "uvicorn shop:app --port 8000"', "put {port} in it"),
        ('command = "uvicorn \'shop:app --port {port}"', "does not parse"),
        ('command = "no-such-program-xyz --port {port}"', "'no-such-program-xyz' not found"),
        ('command = "./missing.sh --port {port}"', "program ./missing.sh not found"),
        ('command = "uvicorn {nope} --port {port}"', "unknown placeholder {nope}"),
        ('app = "shop:app"\nrunner = "uvicorn"\ninterface = "wsgi"', "serves ASGI apps"),
        ('app = "shop:app"\nrunner = "tornado"', "runner must be one of"),
        ('app = "shop"', "'module:attribute'"),
        (UVICORN + '\napp = "shop:app"', "not both"),
        (UVICORN + "\nworkers = 0", "workers must be"),
        (UVICORN + '\ncwd = "nowhere"', "is not a folder"),
        (UVICORN + '\nready = "health"', "ready is a path"),
        (UVICORN + "\noffload = 'process'", "unknown key(s) ['offload']"),
    ],
)
def test_a_server_that_cannot_start_is_refused_when_the_study_loads(
    tmp_path: Path, server: str, message: str
) -> None:
    with pytest.raises(StudyError, match=re.escape(message)):
        load_study(str(study(tmp_path, server)))


def test_perflab_settings_and_a_base_url_do_not_mix_with_a_command(tmp_path: Path) -> None:
    with pytest.raises(StudyError, match="settings of perflab's own service"):
        load_study(str(study(tmp_path, UVICORN, base='database = "postgres"')))
    path = study(tmp_path, UVICORN)
    path.write_text('base_url = "http://127.0.0.1:1"\n' + path.read_text())
    with pytest.raises(StudyError, match="drop one of them"):
        load_study(str(path))


def test_a_command_server_takes_any_environment_variable(tmp_path: Path) -> None:
    plan = load_study(str(study(tmp_path, UVICORN, base='env = { SHOP_MODE = "fast" }'))).cells[0]
    env = plan.settings["env"]
    command = server_command(plan.server or {}, {}, plan.base_dir, port=1, extra_env=env)
    assert command.env == {"SHOP_MODE": "fast"}
    perflab_serve = study(tmp_path, "workers = 1", base='env = { SHOP_MODE = "fast" }')
    with pytest.raises(StudyError, match=r"PERFLAB_\* settings only"):
        load_study(str(perflab_serve))


FLOWS = """
[[base.on_start]]
name = "login"
method = "POST"
path = "/login"
json = { user = "{user}" }
capture = { token = "json:token" }

[[base.request]]
name = "create"
method = "POST"
path = "/items"
headers = { Authorization = "Bearer {token}" }
json = { name = "{item_name}", owner = "{user}" }
capture = { item = "json:id" }

[[base.request]]
name = "read"
path = "{items}/{item}"
headers = { Authorization = "Bearer {token}" }

[[base.flow]]
name = "buy"
steps = ["create", "read"]

[[cell]]
name = "base"

[[cell]]
name = "bob"
vars = { user = "bob" }
[[cell.flow]]
name = "buy"
weight = 3
"""


def test_flows_pass_through_and_vars_leave_captures_alone(tmp_path: Path) -> None:
    loaded = load_study(str(study(tmp_path, UVICORN, FLOWS)))
    scenario = cell_scenario(loaded.cell("base"), "http://127.0.0.1:1")
    [login] = scenario.on_start
    assert login.body.data == b'{"user":"ada"}'
    read = scenario.requests["read"]
    assert read.url == "http://127.0.0.1:1/items/{item}"  # the var filled, the capture kept
    assert read.headers == {"Authorization": "Bearer {token}"}
    assert scenario.requests["create"].body.data == b'{"name":"teapot","owner":"ada"}'
    assert [(f.name, f.steps, f.weight) for f in scenario.flows] == [("buy", ("create", "read"), 1)]
    bob = cell_scenario(loaded.cell("bob"), "http://127.0.0.1:1")
    assert bob.on_start[0].body.data == b'{"user":"bob"}'
    assert bob.flows[0].weight == 3  # merged by name: the steps stay


def test_a_name_neither_var_nor_capture_is_refused(tmp_path: Path) -> None:
    path = study(tmp_path, UVICORN, '[[base.request]]\nname = "x"\npath = "/x/{who}"\n')
    plan = load_study(str(path)).cells[0]
    with pytest.raises(StudyError, match=r"uses \{who\} but \[vars\] has no 'who'"):
        cell_scenario(plan, "http://127.0.0.1:1", materialise=False)


@pytest.mark.parametrize("profile", ["smoke", "quick", "full"])
def test_the_documented_example_of_an_own_server_loads(profile: str) -> None:
    example = Path(__file__).resolve().parents[2] / "docs" / "examples" / "own-server.toml"
    loaded = load_study(str(example), profile)
    assert all(cell.foreign for cell in loaded.cells)
    scenario = cell_scenario(loaded.cells[0], "http://127.0.0.1:1", materialise=False)
    assert [flow.steps for flow in scenario.flows] == [("create", "read", "delete")]
