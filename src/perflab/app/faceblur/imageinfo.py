"""Image format and dimensions read from the header alone, before anything is decoded.

A decompression bomb is a small file that declares a huge canvas (a 30 KB PNG of 30000x30000
pixels decodes to 2.7 GB). OpenCV cannot report dimensions without decoding, so the few bytes
that declare them are parsed here: PNG's IHDR, JPEG's SOF segment, WebP's VP8/VP8L/VP8X header.
Only these three formats are accepted; everything else is refused before OpenCV sees it.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from perflab.app.errors import BadRequest, PayloadTooLarge

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
JPEG_SIGNATURE = b"\xff\xd8\xff"

# Start-of-frame markers carry the dimensions; C4 (DHT), C8 (JPG) and CC (DAC) share the range
# but are not frames.
_JPEG_SOF_MARKERS = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}
# Markers that stand alone, with no length field after them.
_JPEG_STANDALONE = frozenset([0x01, *range(0xD0, 0xD9)])


@dataclass(frozen=True)
class ImageInfo:
    format: str  # "jpeg", "png" or "webp"
    width_px: int
    height_px: int

    @property
    def pixels(self) -> int:
        return self.width_px * self.height_px


def read_image_info(data: bytes) -> ImageInfo:
    """Format and size from the header; `BadRequest` if it is not a JPEG, PNG or WebP header."""
    if not data:
        raise BadRequest("the image is empty")
    if data.startswith(PNG_SIGNATURE):
        info = _png_info(data)
    elif data.startswith(JPEG_SIGNATURE):
        info = _jpeg_info(data)
    elif data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        info = _webp_info(data)
    else:
        raise BadRequest("the file is not a JPEG, PNG or WebP image")
    if info.width_px <= 0 or info.height_px <= 0:
        raise BadRequest(f"the {info.format} header declares an empty image")
    return info


def check_image_size(info: ImageInfo, max_pixels: int) -> None:
    """Refuse an image whose header declares more than `max_pixels` (a decompression bomb)."""
    if info.pixels > max_pixels:
        raise PayloadTooLarge(
            f"the image declares {info.width_px}x{info.height_px} = {info.pixels} pixels, "
            f"more than the {max_pixels} allowed (PERFLAB_MAX_IMAGE_PIXELS)"
        )


def _png_info(data: bytes) -> ImageInfo:
    # The first chunk must be IHDR: length (4), type (4), width (4), height (4), big-endian.
    if len(data) < 24 or data[12:16] != b"IHDR":
        raise BadRequest("truncated PNG header")
    width, height = struct.unpack(">II", data[16:24])
    return ImageInfo("png", width, height)


def _jpeg_info(data: bytes) -> ImageInfo:
    pos = 2
    size = len(data)
    while pos < size:
        if data[pos] != 0xFF:
            raise BadRequest("malformed JPEG: expected a marker")
        # Any number of 0xFF fill bytes may precede a marker code.
        while pos < size and data[pos] == 0xFF:
            pos += 1
        if pos >= size:
            break
        marker = data[pos]
        pos += 1
        if marker in _JPEG_STANDALONE:
            continue
        if marker in (0xD9, 0xDA):  # end of image, or scan data before any frame header
            break
        if pos + 2 > size:
            break
        (length,) = struct.unpack(">H", data[pos : pos + 2])
        if marker in _JPEG_SOF_MARKERS:
            if pos + 7 > size:
                break
            height, width = struct.unpack(">HH", data[pos + 3 : pos + 7])
            return ImageInfo("jpeg", width, height)
        pos += length
    raise BadRequest("malformed or truncated JPEG: no frame header")


def _webp_info(data: bytes) -> ImageInfo:
    chunk = data[12:16]
    if chunk == b"VP8 " and len(data) >= 30 and data[23:26] == b"\x9d\x01\x2a":
        # Lossy: 14-bit width and height follow the frame start code (2 bits of scale above).
        width, height = struct.unpack("<HH", data[26:30])
        return ImageInfo("webp", width & 0x3FFF, height & 0x3FFF)
    if chunk == b"VP8L" and len(data) >= 25 and data[20] == 0x2F:
        # Lossless: 14 bits of width - 1, then 14 bits of height - 1, little-endian.
        (bits,) = struct.unpack("<I", data[21:25])
        return ImageInfo("webp", (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1)
    if chunk == b"VP8X" and len(data) >= 30:
        # Extended: 24-bit canvas width - 1 and height - 1.
        width = int.from_bytes(data[24:27], "little") + 1
        height = int.from_bytes(data[27:30], "little") + 1
        return ImageInfo("webp", width, height)
    raise BadRequest("malformed or truncated WebP header")
