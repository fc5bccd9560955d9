"""`POST /predict` through real servers: the seed's answer shape, bad uploads, every offloader."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest

from perflab.app.classify.service import ClassifyOptions, classify_with
from tests.app.classify.images import labelled_photos, photo, reencode
from tests.support.servers import TEST_MODEL_DIR, RunningServer, get_json, perflab_server

pytestmark = pytest.mark.anyio


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    env = {"PERFLAB_MAX_BODY_BYTES": "2000000"}
    with perflab_server(tmp_path_factory.mktemp("classify"), env=env) as s:
        yield s


async def predict(
    server: RunningServer, data: bytes, *, field: str = "file", content_type: str | None = None
) -> tuple[int, dict[str, object]]:
    form = aiohttp.FormData()
    form.add_field(field, data, filename="upload.jpg", content_type="image/jpeg")
    async with aiohttp.ClientSession() as session:
        if content_type is None:
            request = session.post(server.url("/predict"), data=form)
        else:
            request = session.post(
                server.url("/predict"), data=data, headers={"Content-Type": content_type}
            )
        async with request as answer:
            return answer.status, await answer.json()


def expected_label(data: bytes) -> str:
    (prediction,) = classify_with([data], ClassifyOptions(model_dir=TEST_MODEL_DIR))
    assert not isinstance(prediction, Exception)
    return prediction.label


async def test_answers_like_the_kernel_in_the_seed_shape(server: RunningServer) -> None:
    for index in (0, 1, 2):
        status, body = await predict(server, photo(index))
        assert status == 200
        assert body["success"] is True
        assert body["prediction"] == expected_label(photo(index))
        assert isinstance(body["score"], float)
        assert 0 < body["score"] <= 1


async def test_any_format_pillow_reads(server: RunningServer) -> None:
    for fmt in ("PNG", "WEBP", "BMP"):
        status, body = await predict(server, reencode(photo(0), fmt))
        assert status == 200, body
        assert body["success"] is True


@pytest.mark.parametrize(
    ("data", "field", "content_type", "status"),
    [
        (b"not an image", "file", None, 400),
        (photo(0)[:2000], "file", None, 400),  # truncated JPEG
        (photo(0), "image", None, 400),  # the wrong field name
        (b'{"file": 1}', "file", "application/json", 415),
        (b"--x\r\nbroken", "file", "multipart/form-data", 400),  # no boundary
    ],
)
async def test_bad_uploads_answer_unsuccessfully(
    server: RunningServer, data: bytes, field: str, content_type: str | None, status: int
) -> None:
    answered, body = await predict(server, data, field=field, content_type=content_type)
    assert answered == status
    assert body["success"] is False
    error = body["error"]
    assert isinstance(error, dict)
    assert error["code"]
    assert error["message"]


async def test_concurrent_uploads_each_get_their_own_answer(server: RunningServer) -> None:
    # Seed 001 saved uploads under one name and they raced: here each answer must match its
    # own image, under concurrency.
    photos = [data for data, _ in labelled_photos()[:8]] * 4
    results = await asyncio.gather(*(predict(server, data) for data in photos))
    for data, (status, body) in zip(photos, results, strict=True):
        assert status == 200
        assert body["prediction"] == expected_label(data)


@pytest.mark.parametrize("offload", ["inline", "thread"])
async def test_every_offloader_classifies(tmp_path: Path, offload: str) -> None:
    with perflab_server(tmp_path, "--offload", offload) as server:
        status, body = await predict(server, photo(3))
        _, health = get_json(server.url("/healthz"))
    assert status == 200
    assert body["prediction"] == expected_label(photo(3))
    assert health["offload"]["kind"] == offload
