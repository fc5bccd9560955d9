"""Seed 000's endpoints, side by side: one kernel, and only how it is called differs.

- `POST /api/blur`: multipart upload, `async def`, kernel through the configured offloader;
- `POST /api/blur/encoded`: base64 JSON, `async def`, kernel through the configured offloader;
- `POST /api/blur/encoded/sync`: the same body, plain `def`: FastAPI runs it in its threadpool
  and the kernel runs right there (safe: each thread has its own detector).

Every answer is `{"data": "<base64 JPEG>", "faces": [[x, y, w, h], ...]}`, or the raw JPEG (faces
in the `X-Faces` header) when the client prefers `Accept: image/jpeg`.
"""

from __future__ import annotations

import base64
from typing import Annotated

import orjson
from fastapi import APIRouter, Depends, File, Request, UploadFile
from fastapi.responses import Response

from perflab.app.deps import OffloaderDep, SettingsDep
from perflab.app.error_handlers import error_responses
from perflab.app.errors import UnsupportedMediaType
from perflab.app.faceblur.schemas import BlurAnswer, EncodedImage
from perflab.app.faceblur.service import (
    BlurOptions,
    BlurResult,
    blur_image,
    decode_base64_image,
)


# The content-type checks are `async def` so that FastAPI runs them in the loop: a plain `def`
# dependency would cost every request a trip to the threadpool.
def _media_type(request: Request) -> str:
    return request.headers.get("content-type", "").split(";", 1)[0].strip().lower()


async def require_json(request: Request) -> None:
    # FastAPI would read a text/plain body as a string and answer 422; the truth is 415.
    # No content type at all is read as JSON, as FastAPI itself does.
    media_type = _media_type(request)
    if media_type and media_type != "application/json" and not media_type.endswith("+json"):
        raise UnsupportedMediaType(f"expected application/json, got {media_type}")


async def require_multipart(request: Request) -> None:
    media_type = _media_type(request)
    if media_type != "multipart/form-data":
        raise UnsupportedMediaType(f"expected multipart/form-data, got {media_type or 'none'}")


def prefers_jpeg(accept: str | None) -> bool:
    """True when Accept ranks image/jpeg above application/json (JSON wins ties: the default)."""
    if not accept:
        return False
    best = {"image/jpeg": 0.0, "application/json": 0.0}
    for item in accept.split(","):
        media_range, *params = (part.strip() for part in item.split(";"))
        quality = 1.0
        for param in params:
            name, _, value = param.partition("=")
            if name.strip().lower() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        for media_type in best:
            kind = media_type.split("/")[0]
            if media_range.lower() in (media_type, f"{kind}/*", "*/*"):
                best[media_type] = max(best[media_type], quality)
    return best["image/jpeg"] > best["application/json"]


def answer(result: BlurResult, request: Request) -> Response:
    """The JSON answer, or the raw JPEG; serialised by orjson, which is several times faster
    than FastAPI's own encoder on a body that is mostly one long base64 string."""
    if prefers_jpeg(request.headers.get("accept")):
        faces = orjson.dumps(result.faces).decode()
        return Response(result.jpeg, media_type="image/jpeg", headers={"X-Faces": faces})
    body = {"data": base64.b64encode(result.jpeg).decode("ascii"), "faces": result.faces}
    return Response(orjson.dumps(body), media_type="application/json")


router = APIRouter(prefix="/api/blur", tags=["faceblur (seed 000)"])
_RESPONSES: dict[int | str, dict[str, object]] = {
    200: {"content": {"image/jpeg": {}}, "description": "JSON, or the raw JPEG if preferred."},
    **error_responses(400, 413, 415, 422, 503),
}


@router.post(
    "",
    summary="Blur every face in an uploaded image",
    response_model=BlurAnswer,
    responses=_RESPONSES,
)
async def blur_upload(
    request: Request,
    image: Annotated[UploadFile, File(description="A JPEG, PNG or WebP image.")],
    offloader: OffloaderDep,
    settings: SettingsDep,
    _: Annotated[None, Depends(require_multipart)],
) -> Response:
    data = await image.read()
    result = await offloader.run(blur_image, data, BlurOptions.from_settings(settings))
    return answer(result, request)


@router.post(
    "/encoded",
    summary="Blur faces: base64 JSON, async",
    response_model=BlurAnswer,
    responses=_RESPONSES,
)
async def blur_encoded(
    request: Request,
    body: EncodedImage,
    offloader: OffloaderDep,
    settings: SettingsDep,
    _: Annotated[None, Depends(require_json)],
) -> Response:
    """`async def`: the kernel goes through the offloader (`PERFLAB_OFFLOAD`)."""
    data = decode_base64_image(body.image)
    result = await offloader.run(blur_image, data, BlurOptions.from_settings(settings))
    return answer(result, request)


@router.post(
    "/encoded/sync",
    summary="Blur faces: base64 JSON, sync",
    response_model=BlurAnswer,
    responses=_RESPONSES,
)
def blur_encoded_sync(
    request: Request,
    body: EncodedImage,
    settings: SettingsDep,
    _: Annotated[None, Depends(require_json)],
) -> Response:
    """Plain `def`: runs in FastAPI's threadpool (`PERFLAB_THREADS`), never in the event loop."""
    data = decode_base64_image(body.image)
    return answer(blur_image(data, BlurOptions.from_settings(settings)), request)
