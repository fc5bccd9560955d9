"""Seed 003's mixed load, measured right: small and 25 MB JSON bodies from separate processes.

Small requests (~1 KB, 50 keys) arrive at 10/s and large ones (~26 MB, 1.25 M keys) at 1/s,
each stream on its own open (wrk2-style) schedule in its own process, so generating or sending
a large body never delays the clock of the small ones (the seed's client did both in one
process). Bodies are built once in each stream's process before timing starts, and every
answer is checked: the count and the maximum must be the ones the body holds.

Usage:
    recording = run_streams(large_body_streams("http://127.0.0.1:8000", "/pong", duration_s=20))
    recording.names["small"].histogram.value_at_percentile(99.0)   # us
"""

from __future__ import annotations

from collections.abc import Callable

from perflab.loadgen.expectation import Expectation
from perflab.loadgen.models import Open
from perflab.loadgen.request_spec import Body, RequestSpec
from perflab.loadgen.runner import Stream

SMALL_KEYS = 50
LARGE_KEYS = 1_250_000
_VALUE_MODULUS = 1_000_003  # a prime: values look random, yet the maximum is cheap to know


def _value(index: int) -> int:
    return (index * 7919) % _VALUE_MODULUS


def document_bytes(name: str, keys: int) -> bytes:
    """`{"name": name, "data": {"key_0000000": v0, ...}}` with `keys` entries, as JSON bytes."""
    entries = ",".join(f'"key_{i:07d}":{_value(i)}' for i in range(keys))
    return f'{{"name":"{name}","data":{{{entries}}}}}'.encode()


def expected_answer(name: str, keys: int) -> dict[str, object]:
    """The fields a correct server answers for `document_bytes(name, keys)`."""
    return {"name": name, "count": keys, "maxval": max(_value(i) for i in range(keys))}


def small_body() -> bytes:
    """About 1 KB: 50 keys."""
    return document_bytes("small", SMALL_KEYS)


def large_body() -> bytes:
    """About 26 MB: 1.25 M keys (built in the large stream's own process)."""
    return document_bytes("large", LARGE_KEYS)


def _checked_request(url: str, name: str, factory: Callable[[], bytes], keys: int) -> RequestSpec:
    # The factory, not the bytes, travels to the stream's process: the body is built there.
    return RequestSpec(
        url,
        method="POST",
        name=name,
        body=Body(factory=factory, content_type="application/json"),
        expect=Expectation(status=(200,), json_fields=expected_answer(name, keys)),
    )


def large_body_streams(
    base_url: str,
    path: str = "/pong",
    *,
    duration_s: float = 60.0,
    small_rate_per_s: float = 10.0,
    large_rate_per_s: float = 1.0,
    large_connections: int = 4,
    timeout_s: float = 60.0,
) -> list[Stream]:
    """The two streams of the scenario, named "small" and "large", for `run_streams`.

    Usage: `run_streams(large_body_streams("http://127.0.0.1:8000", "/ping", duration_s=20))`
    """
    url = base_url.rstrip("/") + path
    small = _checked_request(url, "small", small_body, SMALL_KEYS)
    large = _checked_request(url, "large", large_body, LARGE_KEYS)
    return [
        Stream(
            [small], Open(rate_per_s=small_rate_per_s, duration_s=duration_s), timeout_s=timeout_s
        ),
        Stream(
            [large],
            Open(rate_per_s=large_rate_per_s, duration_s=duration_s, connections=large_connections),
            timeout_s=timeout_s,
        ),
    ]
