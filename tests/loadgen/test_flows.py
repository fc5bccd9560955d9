"""Flows against a real server: login -> token -> create -> read -> delete, under every model."""

from __future__ import annotations

import pytest

from perflab.loadgen import (
    Closed,
    Expectation,
    Flow,
    LoadModel,
    Open,
    Recording,
    RequestSpec,
    RequestSpecError,
    Users,
    json_body,
    run,
)
from tests.loadgen.flow_server import FlowServer

AUTH = {"Authorization": "Bearer {token}"}
BUY = Flow("buy", ("create", "read", "delete"))


def _login(server: FlowServer, path: str = "/login", password: str = "secret") -> RequestSpec:
    return RequestSpec(
        server.url(path), "POST", name="login",
        body=json_body({"user": "ada", "password": password}), capture={"token": "json:token"},
    )  # fmt: skip


def _item_requests(server: FlowServer, item_capture: str = "json:id") -> list[RequestSpec]:
    return [
        RequestSpec(
            server.url("/items"),
            "POST",
            name="create",
            headers=AUTH,
            body=json_body({"title": "x"}),
            capture={"item": item_capture},
            expect=Expectation(status=(201,)),
        ),
        RequestSpec(server.url("/items/{item}"), name="read", headers=AUTH),
        RequestSpec(
            server.url("/items/{item}"),
            "DELETE",
            name="delete",
            headers=AUTH,
            expect=Expectation(status=(204,)),
        ),
    ]


def _counts(recording: Recording) -> dict[str, tuple[int, int, int]]:
    """name -> (requests, failures, skipped)"""
    return {n: (s.requests, s.failure_count, s.skipped) for n, s in recording.names.items()}


@pytest.mark.parametrize(
    "model",
    [
        Closed(requests=301, connections=5),
        Users(users=5, spawn_rate_per_s=100, duration_s=0.5, think_s=(0.001, 0.002)),
        Open(rate_per_s=200, duration_s=0.5, connections=4),
    ],
    ids=["closed", "users", "open"],
)
def test_login_create_read_delete_without_failures(
    flow_server: FlowServer, model: LoadModel
) -> None:
    recording = run(_item_requests(flow_server), model, on_start=[_login(flow_server)], flows=[BUY])
    counts = _counts(recording)
    assert recording.total().failure_count == 0, counts
    assert recording.total().skipped == 0
    logins = counts["login"][0]
    assert 1 <= logins <= 5  # once per user (closed, users) or per connection used (open)
    assert flow_server.counts[("POST", "/login")] == logins
    created, read, deleted = (counts[name][0] for name in ("create", "read", "delete"))
    assert created >= read >= deleted >= created - 5  # a run cut short at the end, per user
    assert created > 10
    assert flow_server.counts[("GET", "/items/ID")] == read
    assert flow_server.foreign == 0  # nobody ever sent another login's item id
    assert recording.flows["flows"] == [BUY.describe()]
    if isinstance(model, Closed):
        assert recording.total().requests == 301  # requests sent: steps, on_start included


def test_users_keep_their_own_values(flow_server: FlowServer) -> None:
    # Ten users interleave create/read/delete on one server; a value shared between users
    # (or left over from another run) would read or delete an item of another token: 403.
    model = Users(users=10, spawn_rate_per_s=1000, duration_s=0.6)
    recording = run(_item_requests(flow_server), model, on_start=[_login(flow_server)], flows=[BUY])
    assert recording.total().failure_count == 0, _counts(recording)
    assert recording.names["login"].requests == 10
    assert len(flow_server.tokens) == 10
    assert flow_server.foreign == 0
    assert recording.names["delete"].requests > 50
    assert len(flow_server.items) <= 10  # every user deletes what it created, bar its last


def test_flow_weights_are_exact_in_order(flow_server: FlowServer) -> None:
    create, read, _ = _item_requests(flow_server)
    missing = RequestSpec(flow_server.url("/items/0"), name="missing", headers=AUTH,
                          expect=Expectation(status=(404,)))  # fmt: skip
    flows = [Flow("write", ("create", "read"), weight=3), Flow("glance", ("missing",), weight=1)]
    # Smooth weighted round robin over 4 runs: write, glance, write, write = 7 requests.
    recording = run([create, read, missing], Closed(1 + 7 * 20, 1),
                    on_start=[_login(flow_server)], flows=flows)  # fmt: skip
    counts = _counts(recording)
    assert counts == {
        "login": (1, 0, 0), "create": (60, 0, 0), "read": (60, 0, 0), "missing": (20, 0, 0),
    }  # fmt: skip
    assert flow_server.counts[("GET", "/items/ID")] == 80


def test_a_step_using_a_value_no_earlier_step_captures_is_refused(
    flow_server: FlowServer,
) -> None:
    create, read, _ = _item_requests(flow_server)
    flows = [Flow("write", ("create",)), Flow("glance", ("read",))]
    with pytest.raises(RequestSpecError, match=r"flow glance: step read uses \{item\}"):
        run([create, read], Closed(10, 1), on_start=[_login(flow_server)], flows=flows)


def test_lone_requests_are_one_step_flows_by_weight(flow_server: FlowServer) -> None:
    create, _, _ = _item_requests(flow_server)
    index = RequestSpec(flow_server.url("/items/0"), name="missing", headers=AUTH, weight=3,
                        expect=Expectation(status=(404,)))  # fmt: skip
    recording = run([create, index], Closed(1 + 400, 2), on_start=[_login(flow_server)])
    assert _counts(recording) == {"login": (2, 0, 0), "create": (100, 0, 0), "missing": (299, 0, 0)}


def test_capture_without_the_field_fails_and_skips_what_needs_it(flow_server: FlowServer) -> None:
    login = _login(flow_server, "/login-without-token")
    recording = run(_item_requests(flow_server), Closed(20, 1), on_start=[login], flows=[BUY])
    login_stats = recording.names["login"]
    # every run logs in again, since the last login gave no token; nothing else is sent
    assert (login_stats.requests, login_stats.failures) == (20, {"capture_failed": 20})
    assert _counts(recording)["create"] == (0, 0, 19)  # the 20th login ends the run
    assert _counts(recording)["delete"] == (0, 0, 19)
    assert flow_server.counts[("POST", "/items")] == 0


def test_capture_after_a_wrong_status_skips_what_needs_it(flow_server: FlowServer) -> None:
    login = _login(flow_server, password="wrong")
    recording = run(_item_requests(flow_server), Closed(10, 1), on_start=[login], flows=[BUY])
    assert recording.names["login"].failures == {"status_401": 10}
    assert _counts(recording)["read"] == (0, 0, 9)
    assert set(flow_server.counts) == {("POST", "/login")}


def test_a_failed_step_capture_skips_the_rest_of_its_run(flow_server: FlowServer) -> None:
    requests = _item_requests(flow_server, item_capture="json:data.id")  # not in the answer
    model = Users(users=2, spawn_rate_per_s=100, duration_s=0.3)
    recording = run(requests, model, on_start=[_login(flow_server)], flows=[BUY])
    create = recording.names["create"]
    assert create.failures == {"capture_failed": create.requests}
    assert create.requests > 10
    assert recording.names["login"].requests == 2  # on_start worked: it is not run again
    for name in ("read", "delete"):
        assert recording.names[name].requests == 0
        assert create.requests - 2 <= recording.names[name].skipped <= create.requests
    assert flow_server.counts[("GET", "/items/ID")] == 0


def test_header_capture_fills_a_path(flow_server: FlowServer) -> None:
    create, _, delete = _item_requests(flow_server)
    create = RequestSpec(create.url, "POST", name="create", headers=AUTH, body=create.body,
                         capture={"item": "header:X-Item"})  # fmt: skip
    read = RequestSpec(flow_server.url("/items/{item}"), name="read", headers=AUTH,
                       expect=Expectation(status=(200,), json_fields={"title": "x"}))  # fmt: skip
    flows = [Flow("follow", ("create", "read", "delete"))]
    recording = run([create, read, delete], Open(100, 0.3, 2), on_start=[_login(flow_server)],
                    flows=flows)  # fmt: skip
    assert recording.total().failure_count == 0, _counts(recording)
    assert recording.names["read"].requests == flow_server.counts[("GET", "/items/ID")] >= 25


def test_flows_without_keepalive_and_over_two_processes(flow_server: FlowServer) -> None:
    requests, login = _item_requests(flow_server), _login(flow_server)
    # A new connection per request: each user still logs in once and keeps its values.
    alone = run(requests, Closed(1 + 3 * 30, 3), on_start=[login], flows=[BUY], keepalive=False)
    assert alone.total().failure_count == 0, _counts(alone)
    assert alone.names["login"].requests == 3
    assert alone.connections >= 3
    # Two generator processes, each with its own users; the recordings merge per step.
    split = run(requests, Closed(2 * 31, 4), on_start=[login], flows=[BUY], processes=2)
    assert split.total().failure_count == 0, _counts(split)
    assert split.processes == 2
    assert split.names["login"].requests == 4
    assert split.total().requests == 62
    assert split.flows["on_start"] == ["login"]
    assert flow_server.foreign == 0
