"""Flow steps' bytes with captured values: where each value goes and how it is encoded."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from perflab.loadgen import Body, RequestSpec, json_body
from perflab.loadgen.capture import Capture, capture_values, parse_captures
from perflab.loadgen.errors import RequestSpecError
from perflab.loadgen.template import WireTemplate, find_placeholders

URL = "http://127.0.0.1:8000"
NAMES = {"token", "item"}


def _render(spec: RequestSpec, values: dict[str, Any], keepalive: bool = True) -> bytes:
    body = spec.body.materialise()
    template = WireTemplate.of(spec, keepalive=keepalive, names=NAMES, body=body)
    assert template is not None
    return template.render(values)


def _split(wire: bytes) -> tuple[list[bytes], bytes]:
    head, _, body = wire.partition(b"\r\n\r\n")
    return head.split(b"\r\n"), body


def test_no_placeholder_no_template() -> None:
    spec = RequestSpec(f"{URL}/items", "POST", body=json_body({"a": {"b": 1}}))
    assert WireTemplate.of(spec, keepalive=True, names=NAMES, body=spec.body.data) is None
    assert find_placeholders(spec, NAMES) == frozenset()


def test_path_and_header_give_the_same_bytes_as_a_literal_request() -> None:
    headers = {"Authorization": "Bearer {token}"}
    spec = RequestSpec(f"{URL}/items/{{item}}?full=1", "DELETE", headers=headers)
    literal = RequestSpec(f"{URL}/items/42?full=1", "DELETE",
                          headers={"Authorization": "Bearer t-1"})  # fmt: skip
    for keepalive in (True, False):
        wire = _render(spec, {"token": "t-1", "item": 42}, keepalive)
        assert wire == literal.wire_bytes(keepalive=keepalive)
    assert find_placeholders(spec, NAMES) == NAMES


def test_values_are_encoded_for_where_they_stand() -> None:
    spec = RequestSpec(f"{URL}/items/{{item}}", headers={"X-Token": "{token}"})
    lines, _ = _split(_render(spec, {"item": "a b/c%2F\r\nX: 1", "token": "t\r\nX-Evil: 1"}))
    assert lines[0] == b"GET /items/a%20b/c%2F%0D%0AX:%201 HTTP/1.1"  # one request line
    assert b"X-Token: t  X-Evil: 1" in lines  # still one header
    assert not any(line.startswith(b"X-Evil") for line in lines)


@pytest.mark.parametrize("item", [42, 'q"x\\y', 1.5, True])
def test_json_body_takes_whole_values_typed_and_text_escaped(item: Any) -> None:
    document = {"id": "{item}", "note": "item {item}!", "{item}": 1, "n": 3, "x": "{nope}"}
    spec = RequestSpec(f"{URL}/items", "POST", body=json_body(document))
    lines, body = _split(_render(spec, {"item": item, "token": "t"}))
    text = item if isinstance(item, str) else orjson.dumps(item).decode()
    assert orjson.loads(body) == {"id": item, "note": f"item {text}!", text: 1, "n": 3,
                                  "x": "{nope}"}  # fmt: skip
    assert f"Content-Length: {len(body)}".encode() in lines
    assert sum(line.startswith(b"Content-Length") for line in lines) == 1


def test_other_bodies_take_values_as_text() -> None:
    spec = RequestSpec(f"{URL}/notes", "PUT", body=Body(b"item={item}&x=\xff", "text/plain"))
    lines, body = _split(_render(spec, {"item": "\u00e9", "token": "t"}))
    assert body == "item=\u00e9&x=".encode() + b"\xff"
    assert b"Content-Length: 11" in lines  # é is two bytes


def test_a_factory_body_is_sent_as_it_is() -> None:
    spec = RequestSpec(f"{URL}/up/{{item}}", "POST", body=Body(factory=_big, content_type="x/y"))
    assert find_placeholders(spec, NAMES) == {"item"}  # the factory is not called to look
    lines, body = _split(_render(spec, {"item": 7}))
    assert lines[0] == b"POST /up/7 HTTP/1.1"
    assert body == _big()


def _big() -> bytes:
    return b"{item}" * 3


def test_captures_from_json_and_headers() -> None:
    captures = parse_captures({"token": "json:data.tokens.1", "where": "header:Location"})
    body = b'{"data": {"tokens": ["a", "b"]}}'
    headers = [(b"Content-Type", b"application/json"), (b"LOCATION", b"/items/3")]
    assert capture_values(captures, body, headers) == {"token": "b", "where": "/items/3"}
    assert capture_values(captures, body, []) is None  # no such header
    for bad_body in (
        b'{"data": {"tokens": ["a"]}}',
        b"not json",
        b'{"data": {"tokens": [1, null]}}',
    ):
        assert capture_values(captures[:1], bad_body, None) is None
    assert capture_values(parse_captures({"x": "json:a"}), b'{"a": {"b": 1}}', None) is None


@pytest.mark.parametrize(
    ("name", "text"),
    [("token", "xml:a"), ("token", "json:"), ("to-ken", "json:a"), ("t", "header:")],
)
def test_bad_captures_are_refused(name: str, text: str) -> None:
    with pytest.raises(RequestSpecError, match="capture"):
        Capture.parse(name, text)
    with pytest.raises(RequestSpecError):
        RequestSpec(f"{URL}/", capture={name: text})
