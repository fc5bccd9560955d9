"""Named request-body generators, so study files stay data: ``body = { generator = "NAME" }``.

Some studies send bodies that cannot be written in a TOML file: a 1366x768 photo with a face
(seed 000, base64 in JSON), a cat photo as a multipart upload (seed 001), 25 MB JSON documents
(seed 003), a 1 MB one for a probe. Each is built here from images that ship in scikit-image or from
`perflab.loadgen.large_body`, deterministically, and may add JSON fields a right answer must
hold (merged into the request's ``expect.json``).

Usage::

    generated = body_generator("faceblur_json")
    body = generated.body()            # a loadgen `Body`
    generated.expect_json()            # {} or fields the answer must hold
"""

from __future__ import annotations

import base64
import io
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from typing import Any

import orjson

from perflab.loadgen import large_body
from perflab.loadgen.request_spec import Body

SEED_000_SIZE = (1366, 768)  # px: the seed's photo
MULTIPART_BOUNDARY = "perflab-bench-boundary-7d1f"
PROBE_KEYS = 50_000  # fixed: identical bytes in every run


@dataclass(frozen=True)
class BodyGenerator:
    """A named body: its bytes (or a factory run in the sending process) and expected fields.

    Usage: ``BodyGenerator("x", "application/json", make=lambda: b"{}").body()``
    """

    name: str
    content_type: str
    make: Callable[[], bytes]
    # Built in the generator process that sends it (must be a module-level function): a 25 MB
    # body is never built, pickled and shipped by the parent.
    lazy: bool = False
    expect: Callable[[], dict[str, Any]] = field(default=dict)
    description: str = ""

    def body(self) -> Body:
        """The loadgen body. Usage: ``body_generator("notes_json").body()``"""
        if self.lazy:
            return Body(content_type=self.content_type, factory=self.make)
        return Body(self.make(), self.content_type)

    def expect_json(self) -> dict[str, Any]:
        """JSON fields (dotted path -> value) a right answer holds. Usage: ``g.expect_json()``"""
        return dict(self.expect())


def _jpeg(pixels: Any, quality: int = 85) -> bytes:
    from PIL import Image

    out = io.BytesIO()
    Image.fromarray(pixels).save(out, format="JPEG", quality=quality)
    return out.getvalue()


@cache
def seed_000_photo() -> bytes:
    """A 1366x768 JPEG: scikit-image's astronaut (one face) on the left, the cat beside her."""
    import numpy as np
    import skimage.data
    from PIL import Image

    width, height = SEED_000_SIZE
    canvas = Image.fromarray(skimage.data.chelsea())  # type: ignore[no-untyped-call]  # no annotations
    canvas = canvas.resize((width, height))
    astronaut = Image.fromarray(skimage.data.astronaut())  # type: ignore[no-untyped-call]  # idem
    astronaut = astronaut.resize((height, height))
    canvas.paste(astronaut, (0, 0))
    return _jpeg(np.asarray(canvas))


@cache
def cat_photo() -> bytes:
    """scikit-image's chelsea (a tabby cat, 451x300) as a JPEG: what seed 001 classified."""
    import skimage.data

    return _jpeg(skimage.data.chelsea())  # type: ignore[no-untyped-call]  # skimage: no annotations


def faceblur_json() -> bytes:
    """Seed 000's body: ``{"image": "<base64 JPEG>"}``."""
    return orjson.dumps({"image": base64.b64encode(seed_000_photo()).decode()})


def faceblur_multipart() -> bytes:
    """The photo as a multipart ``image`` field (``POST /api/blur``)."""
    return _multipart("image", "photo.jpg", seed_000_photo())


def classify_multipart() -> bytes:
    """Seed 001's upload: the cat as a multipart ``file`` field (``POST /predict``)."""
    return _multipart("file", "cat.jpg", cat_photo())


def _multipart(field_name: str, filename: str, data: bytes) -> bytes:
    head = (
        f"--{MULTIPART_BOUNDARY}\r\n"
        f'Content-Disposition: form-data; name="{field_name}"; filename="{filename}"\r\n'
        "Content-Type: image/jpeg\r\n\r\n"
    ).encode()
    return head + data + f"\r\n--{MULTIPART_BOUNDARY}--\r\n".encode()


def payload_probe() -> bytes:
    """About 1 MB (50,000 keys): past `/pong`'s small lane (16 KiB), so it meets the
    offloader's admission like a large body, without taking a worker for long."""
    return large_body.document_bytes("probe", PROBE_KEYS)


def _payload_expect(name: str, keys: int) -> Callable[[], dict[str, Any]]:
    def expect() -> dict[str, Any]:
        return large_body.expected_answer(name, keys)

    return expect


_MULTIPART = f"multipart/form-data; boundary={MULTIPART_BOUNDARY}"

GENERATORS: dict[str, BodyGenerator] = {
    g.name: g
    for g in (
        BodyGenerator(
            "faceblur_json",
            "application/json",
            faceblur_json,
            description="1366x768 JPEG with a face (skimage astronaut), base64 in JSON",
        ),
        BodyGenerator(
            "faceblur_multipart",
            _MULTIPART,
            faceblur_multipart,
            description="the same photo as a multipart `image` field",
        ),
        BodyGenerator(
            "classify_multipart",
            _MULTIPART,
            classify_multipart,
            description="skimage's chelsea (a cat) as a multipart `file` field",
        ),
        BodyGenerator(
            "payload_small",
            "application/json",
            large_body.small_body,
            expect=_payload_expect("small", large_body.SMALL_KEYS),
            description="~1 KB JSON document, 50 keys",
        ),
        BodyGenerator(
            "payload_large",
            "application/json",
            large_body.large_body,
            lazy=True,
            expect=_payload_expect("large", large_body.LARGE_KEYS),
            description="~26 MB JSON document, 1.25 M keys, built in the sending process",
        ),
        BodyGenerator(
            "payload_probe",
            "application/json",
            payload_probe,
            # No expected fields: a probe of admission expects a 503, whose body has none.
            description="~1 MB JSON document, 50,000 keys: a /pong body past the small lane",
        ),
    )
}


def body_generator(name: str) -> BodyGenerator:
    """The generator called `name`; KeyError names the known ones. Usage: see module."""
    try:
        return GENERATORS[name]
    except KeyError:
        raise KeyError(
            f"unknown body generator {name!r}; known: {', '.join(sorted(GENERATORS))}"
        ) from None
