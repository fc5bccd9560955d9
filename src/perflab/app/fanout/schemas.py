"""Answers of the fanout endpoints."""

from __future__ import annotations

from pydantic import BaseModel


class FanoutAnswer(BaseModel):
    message: str
    results: list[int]
    elapsed_s: float
