"""Header parsing: dimensions of JPEG, PNG and WebP without decoding; bombs and junk refused."""

from __future__ import annotations

import cv2
import pytest

from perflab.app.errors import BadRequest, PayloadTooLarge
from perflab.app.faceblur.imageinfo import check_image_size, read_image_info
from tests.app.faceblur.images import bgr_image, encode, png_bomb

ASTRONAUT = bgr_image("astronaut")  # 512x512
COFFEE = bgr_image("coffee")  # 600 wide, 400 high


@pytest.mark.parametrize(
    ("ext", "params", "fmt"),
    [
        (".jpg", (cv2.IMWRITE_JPEG_QUALITY, 80), "jpeg"),
        (".jpg", (cv2.IMWRITE_JPEG_PROGRESSIVE, 1), "jpeg"),
        (".png", (), "png"),
        (".webp", (cv2.IMWRITE_WEBP_QUALITY, 80), "webp"),  # lossy: VP8
        (".webp", (cv2.IMWRITE_WEBP_QUALITY, 101), "webp"),  # lossless: VP8L
    ],
)
def test_reads_format_and_size_from_header(ext: str, params: tuple[int, ...], fmt: str) -> None:
    info = read_image_info(encode(COFFEE, ext, *params))
    assert (info.format, info.width_px, info.height_px) == (fmt, 600, 400)


def test_reads_extended_webp_header() -> None:
    # VP8X: a 24-bit canvas size, as written by encoders that add alpha or metadata.
    vp8x = b"RIFF\x00\x00\x00\x00WEBPVP8X\x0a\x00\x00\x00\x10\x00\x00\x00" + bytes(
        [0x2F, 0x75, 0x00, 0x2F, 0x75, 0x00]
    )
    info = read_image_info(vp8x)
    assert (info.width_px, info.height_px) == (30_000, 30_000)


def test_jpeg_with_exif_before_frame() -> None:
    # An APP1 segment (EXIF) ahead of the frame header must be skipped, not misread.
    jpeg = encode(ASTRONAUT, ".jpg")
    app1 = b"\xff\xe1" + (2 + 14).to_bytes(2, "big") + b"Exif\0\0" + b"\xff\xc0" + b"\0" * 6
    info = read_image_info(jpeg[:2] + app1 + jpeg[2:])
    assert (info.width_px, info.height_px) == (512, 512)


def test_bomb_is_refused_from_its_header() -> None:
    bomb = png_bomb(30_000, 30_000)
    assert len(bomb) < 1_000
    info = read_image_info(bomb)
    assert info.pixels == 900_000_000
    with pytest.raises(PayloadTooLarge, match="30000x30000"):
        check_image_size(info, max_pixels=40_000_000)
    check_image_size(info, max_pixels=900_000_000)  # at the limit is allowed


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"hello, world",
        b"GIF89a\x01\x00\x01\x00",
        b"BM" + b"\0" * 60,  # BMP: OpenCV could decode it, but it is not offered
        b"\x89PNG\r\n\x1a\n\0\0",  # truncated inside the PNG header
        b"\xff\xd8\xff\xe0\x00\x10JFIF",  # JPEG cut before its frame header
        b"RIFF\0\0\0\0WEBPVP8 ",  # WebP cut before its frame header
    ],
)
def test_junk_and_truncated_headers_are_bad_requests(data: bytes) -> None:
    with pytest.raises(BadRequest):
        read_image_info(data)
