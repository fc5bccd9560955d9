"""Request and answer bodies of the face-blur endpoints (seed 000's formats)."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, Field

# Media types of the images the endpoints decode (OpenCV's imdecode; Pillow for the classifier).
IMAGE_MEDIA_TYPES = "image/jpeg, image/png, image/webp"
# A 16x16 grey PNG: a complete image, so the documented example is one the endpoint accepts.
EXAMPLE_PNG_BASE64 = (
    "iVBORw0KGgoAAAANSUhEUgAAABAAAAAQCAIAAACQkWg2AAAANElEQVQoFZXBAQEAAAABIJ433QZV5FHkUeRR5FHk"
    "UeRR5FHkUeRR5FHkUeRR5FHkUeRR5DH7UhgRpIrbBwAAAABJRU5ErkJggg=="
)


class EncodedImage(BaseModel):
    image: str = Field(
        description="A JPEG, PNG or WebP image in base64, optionally as a data URL "
        "(`data:image/png;base64,...`); anything that does not decode to an image is a 400. "
        "Its `format`, `base64-image`, names exactly that.",
        examples=[f"data:image/png;base64,{EXAMPLE_PNG_BASE64}"],
        json_schema_extra={"format": "base64-image", "minLength": 1},
    )


# Four integers: a tuple would be `prefixItems`, valid OpenAPI 3.1 that some 3.0-era tools
# (schemathesis's response validation among them) cannot read, so the answer went unchecked.
FaceBox = Annotated[list[int], Field(min_length=4, max_length=4)]


class BlurAnswer(BaseModel):
    data: str = Field(description="The anonymised image: base64 JPEG.")
    faces: list[FaceBox] = Field(
        description="The blurred face boxes, `[x, y, width, height]` in pixels of the image."
    )
