"""perflab's load generator: closed (ab), users (locust) and open (wrk2) load, one engine.

The Python API, for the bench runner and scenarios that mix streams::

    from perflab.loadgen import Closed, Open, RequestSpec, Stream, run, run_streams

    recording = run([RequestSpec("http://127.0.0.1:8000/")], Closed(requests=10_000))
    mixed = run_streams([
        Stream([RequestSpec("http://127.0.0.1:8000/ping", method="POST", body=json_body(small))],
               Open(rate_per_s=10, duration_s=60)),
        Stream([RequestSpec("http://127.0.0.1:8000/ping", name="big", method="POST",
                            body=Body(factory=make_25_mb_body))],
               Open(rate_per_s=1, duration_s=60)),
    ])
    mixed.names["big"].histogram.value_at_percentile(99.0)   # us
    mixed.to_dict()                                          # JSON-ready, histograms included

    # flows: a login once per user, then create -> read with the captured token and id
    login = RequestSpec(f"{url}/login", "POST", name="login", body=json_body(credentials),
                        capture={"token": "json:token"})
    create = RequestSpec(f"{url}/items", "POST", name="create", capture={"item": "json:id"},
                         headers={"Authorization": "Bearer {token}"}, body=json_body(item))
    read = RequestSpec(f"{url}/items/{{item}}", name="read",
                       headers={"Authorization": "Bearer {token}"})
    run([create, read], Users(10, 10, 60), on_start=[login],
        flows=[Flow("buy", ("create", "read"))])

See docs/loadgen.md for the CLI (`perflab load`), scenario files and output formats.
"""

from perflab.loadgen.errors import LoadgenError, RequestSpecError, RunError, ScenarioError
from perflab.loadgen.expectation import Expectation
from perflab.loadgen.flow import Flow
from perflab.loadgen.histogram import LatencyHistogram
from perflab.loadgen.models import Closed, LoadModel, Open, Users
from perflab.loadgen.recording import NameStats, Recording, Window
from perflab.loadgen.request_spec import Body, RequestSpec, file_body, form_body, json_body
from perflab.loadgen.runner import Stream, run, run_stream_async, run_streams

__all__ = [
    "Body",
    "Closed",
    "Expectation",
    "Flow",
    "LatencyHistogram",
    "LoadModel",
    "LoadgenError",
    "NameStats",
    "Open",
    "Recording",
    "RequestSpec",
    "RequestSpecError",
    "RunError",
    "ScenarioError",
    "Stream",
    "Users",
    "Window",
    "file_body",
    "form_body",
    "json_body",
    "run",
    "run_stream_async",
    "run_streams",
]
