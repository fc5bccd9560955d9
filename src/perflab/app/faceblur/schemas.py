"""Request and answer bodies of the face-blur endpoints (seed 000's formats)."""

from __future__ import annotations

from pydantic import BaseModel, Field


class EncodedImage(BaseModel):
    image: str = Field(
        description="A JPEG, PNG or WebP image in base64, optionally as a data URL "
        "(`data:image/png;base64,...`).",
        examples=["data:image/jpeg;base64,/9j/4AAQSkZJRg..."],
    )


class BlurAnswer(BaseModel):
    data: str = Field(description="The anonymised image: base64 JPEG.")
    faces: list[tuple[int, int, int, int]] = Field(
        description="The blurred face boxes, `[x, y, width, height]` in pixels of the image."
    )
