"""`perflab init`: a starter study from the foreign shop's OpenAPI document (the app started
by init, or a URL) and from a HAR file written here; each runs as written with 0 failures."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from perflab.bench import launcher
from perflab.bench.runners import runner_argv
from perflab.bench.starter.values import example_value
from perflab.bench.starter.writer import toml_value
from perflab.cli import app
from tests.bench.foreign_support import FOREIGN_DIR, TOKEN_VAR, leftovers, run_study


def init(*args: str) -> str:
    result = CliRunner().invoke(app, ["init", *args])
    assert result.exit_code == 0, result.output
    return result.output


def ran_without_failures(document: dict[str, Any]) -> dict[str, Any]:
    [cell] = [c for c in document["studies"][0]["cells"] if c["status"] != "pending"]
    assert cell["status"] == "ran", cell["reason"]
    recording = cell["runs"][0]["recording"]
    assert recording["requests"] > 0
    assert recording["failures"] == 0, {
        name: stats["failures_by_kind"] for name, stats in recording["names"].items()
    }
    names: dict[str, Any] = recording["names"]
    return names


@pytest.fixture
def shop_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """The shop's database in tmp_path, and a token to find its processes by."""
    monkeypatch.setenv("SHOP_DB", str(tmp_path / "shop.db"))
    monkeypatch.setenv(TOKEN_VAR, token := tmp_path.name)
    return token


def test_init_from_the_app_writes_a_study_that_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, shop_env: str
) -> None:
    monkeypatch.chdir(FOREIGN_DIR)
    study_file = tmp_path / "study.toml"
    output = init("shop:app", "--out", str(study_file), "--workers", "2")
    assert "a login per user" in output
    text = study_file.read_text()
    study = tomllib.loads(text)
    assert study["base"]["server"]["app"] == "shop:app"
    assert [c["name"] for c in study["cell"]] == ["uvicorn-1w", "uvicorn-2w"]
    [flow] = study["base"]["flow"]
    assert flow["steps"] == [
        "post_items", "get_items_item_id", "put_items_item_id", "delete_items_item_id"
    ]  # fmt: skip
    assert "guessed from the paths: POST /items creates" in text
    assert "guessed credentials" in text
    names = ran_without_failures(run_study(tmp_path, study_file, profile="smoke"))
    assert names["login"]["requests"] >= 1
    assert names["delete_items_item_id"]["requests"] > 0
    assert names["get_items_item_id"]["skipped"] == 0
    assert leftovers(shop_env) == []


def test_init_from_a_url_drives_the_running_service(tmp_path: Path, shop_env: str) -> None:
    port = launcher.free_port()
    argv = runner_argv("uvicorn", "asgi", "shop:app", python=__import__("sys").executable,
                       host="127.0.0.1", port=port, workers=1)  # fmt: skip
    with launcher.launch_server(
        argv, port=port, env={}, cwd=FOREIGN_DIR, log_dir=tmp_path, label="shop"
    ) as server:
        study_file = tmp_path / "url.toml"
        init(server.url("/openapi.json"), "--out", str(study_file))
        study = tomllib.loads(study_file.read_text())
        assert study["base_url"] == server.base_url
        assert "server" not in study["base"]  # written commented out
        assert "# [base.server]" in study_file.read_text()
        ran_without_failures(run_study(tmp_path, study_file, profile="smoke"))
    assert leftovers(shop_env) == []


def har_entry(method: str, path: str, status: int, **extra: Any) -> dict[str, Any]:
    request: dict[str, Any] = {"method": method, "url": path, "headers": extra.get("headers", [])}
    if "post" in extra:
        request["postData"] = extra["post"]
    response = {"status": status, "content": {"mimeType": extra.get("mime", "application/json")}}
    if "answer" in extra:
        response["content"]["text"] = json.dumps(extra["answer"])
    entry = {"request": request, "response": response}
    if "kind" in extra:
        entry["_resourceType"] = extra["kind"]
    return entry


def test_init_from_a_har_file_replays_the_page_as_one_flow(tmp_path: Path, shop_env: str) -> None:
    site, token = "http://127.0.0.1:8000", "ada.0123456789abcdef0123456789abcdef"
    auth = [
        {"name": "Authorization", "value": f"Bearer {token}"},
        {"name": "Cookie", "value": "session=abc"},
        {"name": "User-Agent", "value": "x"},
    ]
    har = {"log": {"entries": [
        har_entry("GET", f"{site}/", 200, kind="document", answer={"shop": "open"}),
        har_entry("GET", f"{site}/static/app.js", 200, kind="script", mime="text/javascript"),
        har_entry("GET", f"{site}/logo.png", 200, mime="image/png"),
        har_entry("POST", f"{site}/login", 200, answer={"access_token": token},
                  post={"mimeType": "application/x-www-form-urlencoded",
                        "text": "username=ada&password=secret"}),
        har_entry("POST", f"{site}/items", 201, headers=auth, answer={"id": 7, "name": "pot"},
                  post={"mimeType": "application/json", "text": '{"name": "pot"}'}),
        har_entry("GET", f"{site}/items/7", 200, headers=auth, answer={"id": 7}),
        har_entry("GET", f"{site}/items?limit=20", 200, headers=auth, answer=[{"id": 7}]),
        har_entry("DELETE", f"{site}/items/7", 204, headers=auth),
        har_entry("GET", "https://cdn.example.com/fonts.json", 200, answer={}),
    ]}}  # fmt: skip
    har_file = tmp_path / "page.har"
    har_file.write_text(json.dumps(har))
    study_file = tmp_path / "har.toml"
    cwd = Path.cwd()
    try:
        __import__("os").chdir(FOREIGN_DIR)
        init("shop:app", "--har", str(har_file), "--out", str(study_file))
    finally:
        __import__("os").chdir(cwd)
    text = study_file.read_text()
    study = tomllib.loads(text)
    requests = {r["name"]: r for r in study["base"]["request"]}
    assert list(requests) == [
        "01_get_root", "02_post_login", "03_post_items", "04_get_items_7", "05_get_items",
        "06_delete_items_7",
    ]  # fmt: skip
    assert requests["02_post_login"]["capture"] == {"access_token": "json:access_token"}
    assert requests["03_post_items"]["capture"] == {"id": "json:id"}
    assert requests["04_get_items_7"]["path"] == "/items/{id}"
    assert requests["04_get_items_7"]["headers"] == {"Authorization": "Bearer {access_token}"}
    assert requests["06_delete_items_7"]["path"] == "/items/{id}"  # the id the create made
    assert requests["06_delete_items_7"]["expect"] == {"status": 204}
    assert "cookies dropped" in text
    assert "6 requests kept from 9 recorded: 2 static assets and 1 to other origins" in text
    [flow] = study["base"]["flow"]
    assert flow["steps"] == list(requests)
    names = ran_without_failures(run_study(tmp_path, study_file, profile="smoke"))
    assert names["06_delete_items_7"]["requests"] > 0
    assert leftovers(shop_env) == []


@pytest.mark.parametrize(
    ("schema", "expected", "origin"),
    [
        ({"type": "string", "examples": ["teapot"]}, "teapot", "example"),
        ({"type": "integer", "default": 3}, 3, "example"),
        ({"type": "string", "pattern": "^[a-z]{3}$"}, "aaa", "generated"),
        ({"type": "integer", "minimum": 5}, 5, "generated"),
        ({"type": "string", "format": "uuid"}, "00000000-0000-0000-0000-000000000000", "generated"),
        ({"$ref": "#/components/schemas/Item"}, {"name": "teapot"}, "example"),
        ({"allOf": [{"$ref": "#/components/schemas/Item"}]}, {"name": "teapot"}, "example"),
        ({"anyOf": [{"type": "null"}, {"type": "boolean"}]}, False, "generated"),
        ({"type": "array", "items": {"enum": ["a", "b"]}, "minItems": 2}, ["a", "a"], "example"),
    ],
)
def test_values_come_from_the_document_first(schema: Any, expected: Any, origin: str) -> None:
    components = {"schemas": {"Item": {
        "type": "object", "required": ["name"],
        "properties": {"name": {"type": "string", "examples": ["teapot"]}, "price": {}},
    }}}  # fmt: skip
    assert example_value(schema, components) == (expected, origin)


def test_toml_values_read_back_as_written() -> None:
    value = {"a b": [1, 2.5, True], "s": 'quote " and \\ and \n', "n": {"x-y": "é"}}
    assert tomllib.loads(f"v = {toml_value(value)}")["v"] == value
    with pytest.raises(ValueError, match="no null"):
        toml_value({"x": None})
