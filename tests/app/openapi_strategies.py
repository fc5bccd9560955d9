"""Teach schemathesis to make what the OpenAPI document names but JSON Schema cannot build.

The document says an upload part is `image/jpeg, image/png, image/webp` and that the base64
field has the format `base64-image`. JSON Schema has no way to generate a decodable image, so
without these strategies schemathesis sends random bytes where the document promises an image
is required, and rightly gets 400s. Importing this module registers real (small, random) images
for those media types and that format.

Used in-process by `test_openapi.py`, and by the CLI as a hooks module:

    SCHEMATHESIS_HOOKS=tests.app.openapi_strategies st run http://127.0.0.1:8000/openapi.json
"""

from __future__ import annotations

import base64

import cv2
import numpy as np
import schemathesis
from hypothesis import strategies as st

# Small, so a few hundred generated cases cost the kernels (detector, classifier) little.
_SIDES_PX = st.integers(min_value=8, max_value=48)
_EXTENSIONS = {"image/jpeg": ".jpg", "image/png": ".png", "image/webp": ".webp"}


def _encoded(extension: str, height: int, width: int, seed: int) -> bytes:
    pixels = np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)
    ok, data = cv2.imencode(extension, pixels)
    assert ok, f"OpenCV could not encode a {extension} image"
    return data.tobytes()


def images(media_type: str) -> st.SearchStrategy[bytes]:
    """Random-pixel images of `media_type`, 8 to 48 pixels a side."""
    extension = _EXTENSIONS[media_type]
    return st.builds(
        lambda h, w, seed: _encoded(extension, h, w, seed),
        _SIDES_PX,
        _SIDES_PX,
        st.integers(min_value=0, max_value=2**32 - 1),
    )


def base64_images() -> st.SearchStrategy[str]:
    """An image of any of the media types in base64, bare or as a `data:` URL."""

    def text(media_type: str, data: bytes, as_url: bool) -> str:
        encoded = base64.b64encode(data).decode("ascii")
        return f"data:{media_type};base64,{encoded}" if as_url else encoded

    media_types = st.sampled_from(sorted(_EXTENSIONS))
    return media_types.flatmap(
        lambda media_type: st.builds(
            lambda data, as_url: text(media_type, data, as_url), images(media_type), st.booleans()
        )
    )


for _media_type in _EXTENSIONS:
    schemathesis.openapi.media_type(_media_type, images(_media_type))
schemathesis.openapi.format("base64-image", base64_images())
