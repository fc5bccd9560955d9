"""Test images, all from installed packages (never downloaded), encoded as clients send them."""

from __future__ import annotations

import struct
import zlib
from functools import cache
from pathlib import Path

import cv2
import matplotlib.cbook
import numpy as np
import numpy.typing as npt
import skimage.data
import sklearn.datasets

Image = npt.NDArray[np.uint8]


def grace_hopper_path() -> Path:
    return Path(str(matplotlib.cbook.get_sample_data("grace_hopper.jpg", asfileobj=False)))


def _bgr(rgb: Image) -> Image:
    if rgb.ndim == 2:
        return np.ascontiguousarray(cv2.cvtColor(rgb, cv2.COLOR_GRAY2BGR))
    return np.ascontiguousarray(rgb[:, :, ::-1])


@cache
def bgr_image(name: str) -> Image:
    """A package image as 8-bit BGR, by name."""
    if name == "grace_hopper":
        decoded = cv2.imread(str(grace_hopper_path()), cv2.IMREAD_COLOR)
        assert decoded is not None
        return np.asarray(decoded, dtype=np.uint8)
    if name in ("flower", "china"):
        return _bgr(sklearn.datasets.load_sample_image(f"{name}.jpg"))
    loaded: Image = getattr(skimage.data, name)()
    return _bgr(loaded)


def encode(bgr: Image, ext: str = ".png", *params: int) -> bytes:
    ok, encoded = cv2.imencode(ext, bgr, list(params))
    assert ok
    return encoded.tobytes()


@cache
def png(name: str) -> bytes:
    """Lossless, so the kernel's input is exactly `bgr_image(name)`."""
    return encode(bgr_image(name), ".png")


@cache
def small_jpeg(name: str, width_px: int = 256) -> bytes:
    """A package image scaled to `width_px` wide, as JPEG: cheap to send many times."""
    image = bgr_image(name)
    size = (width_px, round(image.shape[0] * width_px / image.shape[1]))
    small = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
    return encode(np.asarray(small, dtype=np.uint8), ".jpg", cv2.IMWRITE_JPEG_QUALITY, 90)


def small_face_jpeg() -> bytes:
    """astronaut() at 256x256: one face, ~15 ms of kernel, for tests that send many requests."""
    return small_jpeg("astronaut")


def _png_chunk(kind: bytes, payload: bytes) -> bytes:
    crc = zlib.crc32(kind + payload) & 0xFFFFFFFF
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", crc)


def png_bomb(width_px: int = 30_000, height_px: int = 30_000) -> bytes:
    """A valid-looking PNG of a few hundred bytes that declares a huge canvas (8-bit gray).

    The pixel data is one compressed run of zeros, far less than the canvas needs: it is never
    meant to be decoded, only refused from its header.
    """
    header = struct.pack(">IIBBBBB", width_px, height_px, 8, 0, 0, 0, 0)
    data = zlib.compress(b"\0" * 65_536, 9)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", header)
        + _png_chunk(b"IDAT", data)
        + _png_chunk(b"IEND", b"")
    )
