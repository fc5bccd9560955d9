"""`RequestTally` publishes exactly what one `observe()` / `inc()` per request would have."""

from __future__ import annotations

import pytest
from prometheus_client import CollectorRegistry, Counter, Histogram

from perflab.app.request_tally import RequestTally

BOUNDS = (0.001, 0.01, 0.1, 1.0)
# On bounds, between them, zero, past the last finite bound.
DURATIONS = [0.0, 0.0005, 0.001, 0.0010001, 0.005, 0.01, 0.1, 0.5, 1.0, 7.5, 0.002, 0.002]


def metrics(registry: CollectorRegistry) -> tuple[Counter, Histogram]:
    requests = Counter("t_requests_total", "t", ["method", "route", "status"], registry=registry)
    durations = Histogram(
        "t_duration_seconds", "t", ["method", "route"], buckets=BOUNDS, registry=registry
    )
    return requests, durations


def samples(registry: CollectorRegistry) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for metric in registry.collect()
        for s in metric.samples
        if not s.name.endswith("_created")
    }


def test_published_tally_equals_one_observation_per_request() -> None:
    tallied, reference = CollectorRegistry(), CollectorRegistry()
    tally = RequestTally(*metrics(tallied), BOUNDS)
    requests, durations = metrics(reference)
    for index, duration in enumerate(DURATIONS):
        status = 200 if index % 3 else 503
        tally.add("POST", "/notes/", status, duration)
        requests.labels("POST", "/notes/", str(status)).inc()
        durations.labels("POST", "/notes/").observe(duration)
    tally.add("GET", "/healthz", 200, 0.0003)
    requests.labels("GET", "/healthz", "200").inc()
    durations.labels("GET", "/healthz").observe(0.0003)

    assert samples(tallied) == {}  # nothing is published before publish()
    tally.publish()
    assert samples(tallied) == pytest.approx(samples(reference))


def test_publishing_twice_adds_only_what_came_in_between() -> None:
    registry = CollectorRegistry()
    tally = RequestTally(*metrics(registry), BOUNDS)
    tally.add("GET", "/x", 200, 0.05)
    tally.publish()
    tally.publish()
    tally.add("GET", "/x", 200, 0.05)
    tally.publish()
    published = samples(registry)
    labels = (("method", "GET"), ("route", "/x"), ("status", "200"))
    assert published[("t_requests_total", labels)] == 2
    assert published[("t_duration_seconds_count", labels[:2])] == 2
    assert published[("t_duration_seconds_bucket", (("le", "0.1"), *labels[:2]))] == 2
    assert published[("t_duration_seconds_sum", labels[:2])] == pytest.approx(0.1)
