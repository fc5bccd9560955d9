"""The large-body contract, shared by `/ping` (pydantic in the loop) and `/pong` (streamed).

Values must be JSON integers (strict: no "5", no 5.0, no true), so both endpoints accept and
refuse exactly the same bodies. Unknown top-level fields are ignored, as pydantic does.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class PingBody(BaseModel):
    model_config = ConfigDict(strict=True)

    name: str
    data: dict[str, int]


class PingAnswer(BaseModel):
    name: str
    count: int
    maxval: int | None
    elapsed_server: float
