"""Request and response bodies of the notes endpoints (the seed's shapes)."""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field


def _storable(value: str) -> str:
    # PostgreSQL text cannot hold NUL: refused here (422) rather than by the driver (500).
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    return value


# The seed's limits; characters, not bytes, so "été" counts 3.
# The pattern only documents `_storable` in the OpenAPI schema (a regex per request costs more).
_NO_NUL = {"pattern": "^[^\\x00]*$"}
NoteText = Annotated[
    str, Field(min_length=3, max_length=50, json_schema_extra=_NO_NUL), AfterValidator(_storable)
]
# Ids are BIGINT on PostgreSQL and INTEGER (64-bit) on SQLite: anything outside is a client error
# (422) rather than a driver overflow (500).
MAX_NOTE_ID = 2**63 - 1
MAX_PAGE_LIMIT = 100


class NoteIn(BaseModel):
    """What a client sends to create or replace a note; unknown fields are refused (422)."""

    model_config = ConfigDict(extra="forbid")

    title: NoteText
    description: NoteText


class Note(BaseModel):
    id: int
    title: str
    description: str
