"""Study files: the five built-in studies load in every profile, overrides resolve, and a
broken file says what is wrong."""

from __future__ import annotations

from pathlib import Path

import pytest

from perflab.bench.study import PROFILES, builtin_names, load_study
from perflab.bench.study.rules import merge
from perflab.bench.workload import cell_requests, cell_streams
from perflab.loadgen import Closed, Open, Users
from perflab.results.errors import StudyError

BASE_URL = "http://127.0.0.1:8000"


def test_the_five_studies_are_built_in() -> None:
    assert builtin_names() == ["faceblur", "classify", "notes", "payload", "fanout"]


@pytest.mark.parametrize("profile", PROFILES)
@pytest.mark.parametrize("name", ["faceblur", "classify", "notes", "payload", "fanout"])
def test_every_study_loads_in_every_profile(name: str, profile: str) -> None:
    study = load_study(name, profile)
    assert study.seed is not None
    assert study.title
    assert study.question
    assert study.selected, "a profile runs at least one cell"
    assert {c.role for c in study.cells} >= {"naive", "right"}
    assert study.references, "the seed's published figures are there"
    for reference in study.references:
        assert reference.cell in {c.name for c in study.cells}
        assert reference.source.startswith(f"seeds/{study.seed}")
    for cell in study.cells:
        streams = cell_streams(cell, BASE_URL, materialise=False)
        assert streams
        assert all(stream.requests for stream in streams)
        assert cell.settings_dict()["server"] is not None
    if profile == "smoke":
        assert len(study.selected) == 1


def test_a_cell_switches_the_endpoint_through_vars() -> None:
    study = load_study("faceblur", "quick")
    async_path = cell_requests(study.cell("async-inline"), BASE_URL, materialise=False)["blur"]
    sync_path = cell_requests(study.cell("sync"), BASE_URL, materialise=False)["blur"]
    assert async_path.url == BASE_URL + "/api/blur/encoded"
    assert sync_path.url == BASE_URL + "/api/blur/encoded/sync"
    assert study.cell("async-inline").server == {"workers": 1, "offload": "inline"}


def test_profiles_override_the_load_and_cells() -> None:
    full = load_study("faceblur", "full").cell("sync")
    quick = load_study("faceblur", "quick").cell("sync")
    assert cell_streams(full, BASE_URL, materialise=False)[0].model == Closed(1000, 100)
    assert cell_streams(quick, BASE_URL, materialise=False)[0].model == Users(20, 200.0, 12.0)
    classify_full = load_study("classify", "full")
    assert classify_full.cell("queue-2").settings["queue_workers"] == 4
    assert "4 model workers" in classify_full.cell("queue-2").label
    model = cell_streams(classify_full.cell("process"), BASE_URL, materialise=False)[0].model
    assert model == Users(200, 20.0, 300.0, (1.0, 5.0))
    payload_full = load_study("payload", "full").cell("pong-multi")
    assert payload_full.server == {"workers": 4}
    small, large = cell_streams(load_study("payload", "quick").cell("ping-1w"), BASE_URL)
    assert small.model == Open(20.0, 20.0)
    assert large.model == Open(0.3, 20.0, connections=4)
    assert [s.label for s in large.requests] == ["large"]
    assert large.requests[0].body.factory is not None, "25 MB built in its own process"
    assert large.requests[0].expect.json_fields["count"] == 1_250_000


def test_needs_follow_from_the_settings() -> None:
    assert load_study("notes", "quick").cell("sync-postgres").needs == ("postgres",)
    assert load_study("notes", "quick").cell("sync-sqlite").needs == ()
    assert load_study("classify", "quick").cell("queue-1").needs == ("redis",)
    fanout = load_study("fanout", "quick")
    assert fanout.slo_p99_ms == 1000.0
    assert load_study("fanout", "full").slo_p99_ms == 6000.0
    assert fanout.cell("async-concurrent").settings["downstream_latency_s"] == 0.5


def test_generated_bodies_are_what_the_seeds_sent() -> None:
    blur = cell_requests(load_study("faceblur", "smoke").cell("async-process"), BASE_URL)["blur"]
    assert blur.body.content_type == "application/json"
    assert blur.body.data.startswith(b'{"image":"/9j/')  # a base64 JPEG
    predict = cell_requests(load_study("classify", "smoke").cell("process"), BASE_URL)["predict"]
    assert b'name="file"' in predict.body.data
    assert b"\xff\xd8" in predict.body.data


def test_merge_is_deep_and_by_name() -> None:
    base = {"load": {"model": "closed", "requests": 10}, "request": [{"name": "a", "path": "/a"}]}
    override = {"load": {"requests": 5}, "request": [{"name": "a", "path": "/b"}]}
    assert merge(base, override) == {
        "load": {"model": "closed", "requests": 5},
        "request": [{"name": "a", "path": "/b"}],
    }
    switched = merge(base, {"load": {"model": "open", "rate_per_s": 1, "duration_s": 1}})
    assert switched["load"] == {"model": "open", "rate_per_s": 1, "duration_s": 1}


MINIMAL = """
title = "t"
question = "q"
[base]
server = { workers = 1 }
load = { model = "closed", requests = 2 }
[[base.request]]
name = "cpu"
path = "/diag/cpu?work_ms=1"
[[cell]]
name = "only"
[profile.quick]
cells = ["only"]
"""


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "study.toml"
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (("[base]", "[base]\nwarmup = 1"), "unknown key(s) ['warmup']"),
        (('cells = ["only"]', 'cells = ["other"]'), "unknown cell(s) ['other']"),
        (("title", "titel"), "unknown key(s) ['titel']"),
        (('name = "only"', 'name = "Only Cell"'), "use [a-z0-9-]"),
        (
            ('path = "/diag', 'body = { generator = "nope" }\npath = "/diag'),
            "unknown body generator",
        ),
        (('path = "/diag/cpu', 'path = "{missing}/diag/cpu'), "[vars] has no 'missing'"),
        (('model = "closed"', 'model = "closd"'), "model must be one of"),
        (("server = { workers = 1 }", "server = { wrokers = 1 }"), "unknown key(s) ['wrokers']"),
        (("[base]", '[base]\nenv = { DATABASE = "x" }'), "PERFLAB_* settings only"),
        (('cells = ["only"]', 'cells = ["only"]\nrepeat = 0'), "repeat: a whole number >= 1"),
        (('cells = ["only"]', 'cells = ["only"]\nrepeat = "3"'), "repeat: a whole number"),
        (("[base]", "[base]\nrepeat = 2"), "unknown key(s) ['repeat']"),  # a profile's only
        (('cells = ["only"]', 'cells = ["only"]\nplacement = "pinned"'), "placement must be"),
    ],
)
def test_a_broken_study_says_what_is_wrong(
    tmp_path: Path, change: tuple[str, str], message: str
) -> None:
    path = _write(tmp_path, MINIMAL.replace(*change, 1))
    with pytest.raises(StudyError) as caught:
        check_whole_study(path)
    assert message in str(caught.value)


def check_whole_study(path: Path) -> None:
    for cell in load_study(str(path), "quick").cells:
        cell_streams(cell, BASE_URL, materialise=False)


def test_a_profile_sets_its_runs_per_cell() -> None:
    """notes' full profile runs each cell 3 times (its ceiling goal compares two noisy
    cells), notes', faceblur's and classify's quick profiles too (two runs of the defaults
    then carry their own spread); a profile that says nothing runs each once."""
    assert load_study("notes", "full").repeat == 3
    assert load_study("notes", "quick").repeat == 3
    assert load_study("faceblur", "quick").repeat == 3  # the defaults compare on their own
    assert load_study("faceblur", "full").repeat == 1
    assert load_study("classify", "quick").repeat == 3
    assert load_study("classify", "full").repeat == 1
    assert load_study("payload", "quick").repeat == 1


def test_a_profile_or_a_cell_asks_for_a_placement() -> None:
    """notes' quick cells ask for the split (one server worker each); its full profile's
    two-worker cells do not; a cell may opt out of its profile's with "none"."""
    quick = load_study("notes", "quick")
    assert {cell.settings.get("placement") for cell in quick.selected_cells()} == {"split"}
    full = load_study("notes", "full")
    assert {cell.settings.get("placement") for cell in full.selected_cells()} == {None}


def test_a_cell_opts_out_of_its_profiles_placement(tmp_path: Path) -> None:
    text = MINIMAL.replace('cells = ["only"]', 'cells = ["only"]\nplacement = "split"')
    text = text.replace('name = "only"', 'name = "only"\n[[cell]]\nname = "other"')
    text += '[profile.quick.cell]\nother = { placement = "none" }\n'
    study = load_study(str(_write(tmp_path, text)), "quick")
    assert study.cell("only").settings["placement"] == "split"
    assert study.cell("other").settings["placement"] == "none"


def test_an_unknown_profile_or_study_or_cell_is_refused(tmp_path: Path) -> None:
    path = _write(tmp_path, MINIMAL)
    with pytest.raises(StudyError, match="no profile 'fast'; this study has: quick"):
        load_study(str(path), "fast")
    with pytest.raises(StudyError, match="unknown study 'facebloor'"):
        load_study("facebloor")
    with pytest.raises(StudyError, match="no cell 'x'; cells: only"):
        load_study(str(path)).selected_cells(["x"])


def test_the_documented_user_study_loads() -> None:
    path = Path(__file__).parents[2] / "docs" / "examples" / "my-service.toml"
    study = load_study(str(path), "quick")
    assert study.base_url is not None
    assert study.seed is None
    for cell in study.cells:
        assert cell.server is None
        assert cell_streams(cell, study.base_url, materialise=False)
