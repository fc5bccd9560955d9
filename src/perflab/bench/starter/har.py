"""A starter study from a HAR file (what a browser's developer tools save: the requests a
real page made, in order): one flow with every request to the page's own origin, static
assets dropped, the headers that matter kept, JSON bodies kept as JSON.

Values the page got from an earlier answer and sent again (an id in a later path, a token in
an Authorization header, an id in a later JSON body) become captures: the earlier request
captures them (``json:PATH``) and the later ones say ``{name}``, so the flow runs against a
fresh server where the ids are new. Each such guess is noted for a comment.

Usage::

    starter = starter_from_har(json.loads(Path("page.har").read_text()), source="page.har")
"""

from __future__ import annotations

import collections
import json
import re
from typing import Any
from urllib.parse import urlsplit

from perflab.bench.starter.model import Starter, StarterFlow, StarterRequest
from perflab.bench.starter.openapi import request_name
from perflab.bench.starter.source import InitError

STATIC_TYPES = {"image", "stylesheet", "script", "font", "media", "manifest", "texttrack"}
STATIC_SUFFIX = re.compile(r"\.(js|mjs|css|map|png|jpe?g|gif|svg|ico|webp|avif|woff2?|ttf|otf)$")
KEPT_HEADERS = {"authorization", "accept"}  # and every x-* header but these:
DROPPED_X = {"x-requested-with"}
_ID_KEY = re.compile(r"(^|_)(id|uuid|token)$|^access_token$", re.IGNORECASE)


def _static(entry: dict[str, Any]) -> bool:
    if entry.get("_resourceType") in STATIC_TYPES:
        return True
    path = urlsplit(entry["request"]["url"]).path
    mime = str(entry.get("response", {}).get("content", {}).get("mimeType", ""))
    return bool(STATIC_SUFFIX.search(path)) or mime.startswith(("image/", "font/", "text/css"))


def _scalars(document: Any, prefix: str = "", depth: int = 0) -> list[tuple[str, Any]]:
    """(dotted path, value) of the strings and numbers an answer holds, a few levels deep."""
    if isinstance(document, dict):
        items = [(f"{prefix}{key}", value) for key, value in document.items()]
    elif isinstance(document, list) and document:
        items = [(f"{prefix}0", document[0])]
    else:
        return []
    found: list[tuple[str, Any]] = []
    for path, value in items:
        if isinstance(value, dict | list) and depth < 3:
            found += _scalars(value, path + ".", depth + 1)
        elif isinstance(value, str | int) and not isinstance(value, bool):
            found.append((path, value))
    return found


def _worth_capturing(path: str, value: Any) -> bool:
    """An id or a token: a value a page sends back, not a count or a flag."""
    key = path.rsplit(".", 1)[-1]
    if _ID_KEY.search(key):
        return str(value) != ""
    return isinstance(value, str) and len(value) >= 16  # an opaque token, a UUID


class _Captures:
    """Values seen in earlier answers, and the captures the later requests turned them into."""

    def __init__(self, requests: list[StarterRequest]) -> None:
        self.requests = requests
        self.seen: dict[str, tuple[int, str]] = {}  # value as text -> (request index, path)
        self.names: dict[tuple[int, str], str] = {}  # (request index, path) -> capture name

    def learn(self, index: int, answer_text: str | None) -> None:
        try:
            document = json.loads(answer_text or "")
        except ValueError:
            return
        for path, value in _scalars(document):
            # The first answer that held a value made it (a create); later ones only echo it.
            if _worth_capturing(path, value):
                self.seen.setdefault(str(value), (index, path))

    def placeholder(self, text: str, user: StarterRequest) -> str | None:
        """``{name}`` for a value an earlier answer held (the capture is added), or None."""
        source = self.seen.get(text)
        if source is None:
            return None
        if source not in self.names:
            base = re.sub(r"\W", "_", source[1].rsplit(".", 1)[-1]) or "value"
            name, count = base, 2
            while name in self.names.values():
                name, count = f"{base}_{count}", count + 1
            self.names[source] = name
            producer = self.requests[source[0]]
            producer.capture[name] = f"json:{source[1]}"
        name = self.names[source]
        producer = self.requests[source[0]]
        user.notes.append(
            f"guessed: {{{name}}} is the `{source[1]}` that {producer.name} answered "
            f"({text if len(text) < 24 else text[:20] + '...'} when recorded)"
        )
        return f"{{{name}}}"


def _with_placeholders(request: StarterRequest, captures: _Captures) -> None:
    parts = urlsplit(request.path)
    segments = [captures.placeholder(seg, request) or seg for seg in parts.path.split("/")]
    query = []
    for pair in parts.query.split("&") if parts.query else []:
        key, sep, value = pair.partition("=")
        query.append(f"{key}{sep}{captures.placeholder(value, request) or value}")
    request.path = "/".join(segments) + ("?" + "&".join(query) if query else "")
    auth = request.headers.get("Authorization", request.headers.get("authorization"))
    if auth and " " in auth:
        scheme, _, credential = auth.partition(" ")
        found = captures.placeholder(credential, request)
        if found:
            request.headers.pop("authorization", None)
            request.headers["Authorization"] = f"{scheme} {found}"
    if isinstance(request.json, dict):
        for key, value in request.json.items():
            if isinstance(value, str | int) and not isinstance(value, bool):
                found = captures.placeholder(str(value), request)
                request.json[key] = found or value


def _request(index: int, entry: dict[str, Any], notes: set[str]) -> StarterRequest:
    raw = entry["request"]
    url = urlsplit(raw["url"])
    path = url.path + ("?" + url.query if url.query else "")
    method = str(raw.get("method", "GET")).upper()
    name = f"{index + 1:02d}_{request_name(method, url.path)}"
    status = int(entry.get("response", {}).get("status") or 0)
    request = StarterRequest(name, method, path, expect_status=200 if status == 304 else status)
    if not 100 <= status < 600:
        request.expect_status = None
    for header in raw.get("headers", []):
        key = str(header.get("name", "")).lower()
        if key == "cookie":
            notes.add("cookies dropped: a session is the server's to hand out (log in in the flow)")
        elif key in KEPT_HEADERS or (key.startswith("x-") and key not in DROPPED_X):
            request.headers[str(header["name"])] = str(header.get("value", ""))
    post = raw.get("postData") or {}
    mime = str(post.get("mimeType", "")).split(";")[0].strip()
    text = post.get("text")
    if text is not None and "json" in mime:
        try:
            request.json = json.loads(text)
        except ValueError:
            request.body, request.content_type = str(text), mime
    elif mime == "multipart/form-data":
        request.disabled = "a multipart upload: give its form = { field = '@file' }"
    elif text is not None:
        request.body, request.content_type = str(text), mime or None
    return request


def starter_from_har(har: Any, source: str) -> Starter:
    """The page's requests as one flow (see module). Raises InitError. Usage: see module."""
    try:
        entries = [e for e in har["log"]["entries"] if str(e["request"]["url"]).startswith("http")]
    except (KeyError, TypeError) as exc:
        raise InitError(f"{source} is not a HAR file (no log.entries: {exc})") from None
    dynamic = [entry for entry in entries if not _static(entry)]
    if not dynamic:
        raise InitError(f"{source}: no request left once static assets are dropped")
    origins = collections.Counter(
        "{0.scheme}://{0.netloc}".format(urlsplit(e["request"]["url"])) for e in dynamic
    )
    origin = origins.most_common(1)[0][0]
    kept = [e for e in dynamic if str(e["request"]["url"]).startswith(origin + "/")]
    starter = Starter(title=f"the page in {source}", source=source, base_url=origin)
    static, elsewhere = len(entries) - len(dynamic), len(dynamic) - len(kept)
    starter.notes.append(
        f"{len(kept)} requests kept from {len(entries)} recorded: {static} static assets and "
        f"{elsewhere} to other origins dropped"
    )
    notes: set[str] = set()
    captures = _Captures(starter.requests)
    for index, entry in enumerate(kept):
        request = _request(index, entry, notes)
        _with_placeholders(request, captures)
        starter.requests.append(request)
        captures.learn(index, entry.get("response", {}).get("content", {}).get("text"))
    starter.notes += sorted(notes)
    steps = [request.name for request in starter.requests if not request.disabled]
    starter.flows.append(StarterFlow("page", steps, ["the page's requests, in the order recorded"]))
    return starter
