"""The kernel: batches agree with single images, every format Pillow reads, bad input refused."""

from __future__ import annotations

import io
import pickle
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from perflab.app.classify import service
from perflab.app.classify.service import (
    ClassifyOptions,
    Prediction,
    classify_batch,
    classify_image,
    classify_with,
    decode_image,
    preprocess,
    run_model,
    warm_up,
)
from perflab.app.errors import BadRequest, ClientError, PayloadTooLarge
from perflab.config import Settings
from tests.app.classify.images import labelled_photos, photo, reencode
from tests.app.faceblur.images import png_bomb

BULLMASTIFF = 243  # what photo(0) shows


def test_batch_of_n_equals_batch_of_1(options: ClassifyOptions) -> None:
    batch = np.stack([preprocess(decode_image(data, 10**8)) for data, _ in labelled_photos()[:8]])
    together = run_model(batch, options)
    alone = np.concatenate([run_model(batch[i : i + 1], options) for i in range(len(batch))])
    assert together.shape == (8, 1000)
    np.testing.assert_allclose(together, alone, rtol=1e-4, atol=1e-3)
    assert (together.argmax(axis=1) == alone.argmax(axis=1)).all()


def test_classify_batch_equals_classify_image(options: ClassifyOptions) -> None:
    images = [data for data, _ in labelled_photos()[:5]]
    for together, data in zip(classify_batch(images), images, strict=True):
        alone = classify_image(data)
        assert isinstance(together, Prediction)
        assert (together.class_id, together.label) == (alone.class_id, alone.label)
        assert together.score == pytest.approx(alone.score, abs=1e-4)


def test_one_bad_image_fails_only_itself(options: ClassifyOptions) -> None:
    good = photo(0)
    results = classify_batch([good, b"not an image", photo(1), good[: len(good) // 2], png_bomb()])
    assert [type(result) for result in results] == [
        Prediction,
        BadRequest,
        Prediction,
        BadRequest,
        PayloadTooLarge,
    ]
    first = results[0]
    assert isinstance(first, Prediction)
    assert first.class_id == BULLMASTIFF


def test_a_batch_of_only_bad_images_never_runs_the_model(
    options: ClassifyOptions, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_model(*args: object) -> None:
        raise AssertionError("the model ran")

    monkeypatch.setattr(service, "run_model", no_model)
    results = classify_batch([b"", b"GIF89a"])
    assert all(isinstance(result, BadRequest) for result in results)
    assert classify_batch([]) == []


@pytest.mark.parametrize(
    ("data", "error"),
    [
        (b"", BadRequest),
        (b"not an image at all", BadRequest),
        (photo(0)[:2000], BadRequest),  # truncated JPEG
        (b"\x89PNG\r\n\x1a\n" + b"\0" * 40, BadRequest),  # a PNG signature and garbage
        (png_bomb(8000, 8000), PayloadTooLarge),  # over PERFLAB_MAX_IMAGE_PIXELS only
        (png_bomb(10_000, 10_000), PayloadTooLarge),  # also over Pillow's warning limit
        (png_bomb(30_000, 30_000), PayloadTooLarge),  # also over Pillow's error limit
    ],
    ids=["empty", "text", "truncated", "bad-png", "bomb-64MP", "bomb-100MP", "bomb-900MP"],
)
def test_bad_input_is_the_right_client_error(
    options: ClassifyOptions, data: bytes, error: type[ClientError]
) -> None:
    with pytest.raises(error) as raised:
        classify_image(data)
    assert raised.type is error
    assert raised.value.status == {BadRequest: 400, PayloadTooLarge: 413}[error]


def test_the_pixel_limit_is_the_configured_one(model_dir: Path) -> None:
    (result,) = classify_with([photo(0)], ClassifyOptions(max_image_pixels=100 * 100))
    assert isinstance(result, PayloadTooLarge)
    assert "512x512" in result.message


@pytest.mark.parametrize(
    ("format", "mode"),
    [("PNG", None), ("WEBP", None), ("BMP", None), ("TIFF", None), ("PNG", "RGBA"), ("GIF", "P")],
)
def test_any_format_pillow_reads(options: ClassifyOptions, format: str, mode: str | None) -> None:
    params = {"lossless": True} if format == "WEBP" else {}
    result = classify_image(reencode(photo(0), format, mode, **params))
    assert result.class_id == BULLMASTIFF


def test_grayscale_and_transparent_palette_images_are_read(options: ClassifyOptions) -> None:
    gray = classify_image(reencode(photo(0), "JPEG", "L"))
    assert 0 <= gray.class_id < 1000
    palette = Image.open(io.BytesIO(photo(0))).convert("P")
    out = io.BytesIO()
    palette.save(out, "PNG", transparency=0)
    assert classify_image(out.getvalue()).class_id == BULLMASTIFF


def test_exif_orientation_is_applied() -> None:
    upright = Image.open(io.BytesIO(photo(0))).crop((0, 0, 512, 400))
    # Stored turned a quarter left, with the EXIF tag that says to turn it back (6: 90 deg CW).
    stored = upright.transpose(Image.Transpose.ROTATE_90)
    exif = Image.Exif()
    exif[0x0112] = 6
    out = io.BytesIO()
    stored.save(out, "JPEG", exif=exif)
    assert stored.size == (400, 512)
    assert decode_image(out.getvalue(), 10**8).size == (512, 400)


def test_a_large_jpeg_is_decoded_at_reduced_scale(options: ClassifyOptions) -> None:
    big = Image.open(io.BytesIO(photo(0))).resize((4096, 3072))
    out = io.BytesIO()
    big.save(out, "JPEG", quality=90)
    decoded = decode_image(out.getvalue(), 10**8)
    assert min(decoded.size) >= 256
    assert decoded.size[0] < 4096
    assert classify_image(out.getvalue()).class_id == BULLMASTIFF


def test_results_and_errors_cross_processes(options: ClassifyOptions) -> None:
    for result in classify_batch([photo(0), b"junk"]):
        copy = pickle.loads(pickle.dumps(result))
        assert type(copy) is type(result)
        if isinstance(result, ClientError):
            assert isinstance(copy, ClientError)
            assert copy.status == result.status
            assert copy.message == result.message
        else:
            assert copy == result


def test_warm_up_builds_into_the_cache_and_configures_the_process(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(service, "_options", service._options)  # restored after the test
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    warm_up(Settings(max_image_pixels=1234))
    assert service._options.max_image_pixels == 1234
    assert list((tmp_path / "perflab" / "models").glob("*.onnx"))
    warm_up(None)
    assert service._options == ClassifyOptions()
