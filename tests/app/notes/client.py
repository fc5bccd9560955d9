"""A tiny blocking JSON client for the notes tests (urllib; error statuses are answers too)."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: Any


def call(
    method: str,
    url: str,
    body: object = None,
    raw: bytes | None = None,
    content_type: str = "application/json",
) -> Answer:
    """Send `body` as JSON (or `raw` bytes as they are) and decode the JSON answer."""
    data = raw if raw is not None else (None if body is None else json.dumps(body).encode())
    request = urllib.request.Request(url, data=data, method=method)
    if data is not None:
        request.add_header("Content-Type", content_type)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            status, headers, payload = response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        status, headers, payload = error.code, dict(error.headers), error.read()
    return Answer(status, {k.lower(): v for k, v in headers.items()}, json.loads(payload))
