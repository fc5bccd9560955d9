"""Dynamic batching in the process offloader: waiting jobs of a batchable kernel run together,
each answer is its own image's, and a bad image fails only its own request."""

from __future__ import annotations

import asyncio

import pytest

from perflab.app.admission import Admission
from perflab.app.classify.service import ClassifyOptions, classify_image, classify_with
from perflab.app.errors import BadRequest
from perflab.app.offload import ProcessOffloader
from perflab.config import Settings
from tests.app import kernels
from tests.app.classify.images import labelled_photos
from tests.support.servers import TEST_MODEL_DIR

pytestmark = pytest.mark.anyio

CLASSIFY_WARMUP = "perflab.app.classify.service:warm_up"


def batching_offloader(batch_max: int, batch_wait_ms: int = 0) -> ProcessOffloader:
    return ProcessOffloader(
        Admission("offload", 1, 30.0, 1 << 30),
        warmups=[CLASSIFY_WARMUP],
        settings=Settings(model_dir=TEST_MODEL_DIR),
        batch_max=batch_max,
        batch_wait_ms=batch_wait_ms,
    )


def expected_labels(images: list[bytes]) -> list[str]:
    predictions = classify_with(images, ClassifyOptions(model_dir=TEST_MODEL_DIR))
    return [p.label for p in predictions if not isinstance(p, Exception)]


async def test_waiting_jobs_run_as_one_batch_with_their_own_answers() -> None:
    images = [data for data, _ in labelled_photos()[:9]]
    off = batching_offloader(batch_max=8)
    await off.start()
    try:
        answers = await asyncio.gather(*(off.run(classify_image, data) for data in images))
        assert off.batcher is not None
        # The first job found a free worker alone; the eight that queued behind it ran as one.
        assert off.batcher.batch_sizes == [1, 8]
    finally:
        await off.close()
    assert [a.label for a in answers] == expected_labels(images)


async def test_a_bad_image_fails_only_its_own_request() -> None:
    good = [data for data, _ in labelled_photos()[:4]]
    images = [good[0], good[1], b"not an image", good[2], good[3]]
    off = batching_offloader(batch_max=8)
    await off.start()
    try:
        answers = await asyncio.gather(
            *(off.run(classify_image, data) for data in images), return_exceptions=True
        )
    finally:
        await off.close()
    assert isinstance(answers[2], BadRequest)
    labels = [a.label for i, a in enumerate(answers) if i != 2 and not isinstance(a, Exception)]
    assert labels == expected_labels(good)


async def test_kernels_without_a_batch_form_run_one_at_a_time_in_order() -> None:
    off = batching_offloader(batch_max=8)
    await off.start()
    try:
        results = await asyncio.gather(*(off.run(kernels.add, i, 1) for i in range(6)))
        assert off.batcher is not None
        assert off.batcher.batch_sizes == [1] * 6
    finally:
        await off.close()
    assert results == [i + 1 for i in range(6)]


async def test_a_batch_wait_gathers_jobs_that_arrive_soon_after() -> None:
    images = [data for data, _ in labelled_photos()[:3]]
    off = batching_offloader(batch_max=4, batch_wait_ms=300)
    await off.start()
    try:
        first = asyncio.ensure_future(off.run(classify_image, images[0]))
        await asyncio.sleep(0.05)
        rest = [asyncio.ensure_future(off.run(classify_image, data)) for data in images[1:]]
        answers = [await first, *[await r for r in rest]]
        assert off.batcher is not None
        # The worker was free, yet the first job waited for the others: one batch of three.
        assert off.batcher.batch_sizes == [3]
    finally:
        await off.close()
    assert [a.label for a in answers] == expected_labels(images)
