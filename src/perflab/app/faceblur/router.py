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
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, File, Request, UploadFile
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from pydantic import ValidationError

from perflab.app.content_types import JsonOnly, MultipartOnly, declared_length
from perflab.app.deps import OffloaderDep, SettingsDep
from perflab.app.error_handlers import error_responses
from perflab.app.errors import BadRequest
from perflab.app.faceblur.schemas import IMAGE_MEDIA_TYPES, BlurAnswer, EncodedImage
from perflab.app.faceblur.service import (
    BlurOptions,
    BlurResult,
    blur_image,
    decode_base64_image,
)
from perflab.app.threadpool import ThreadpoolRoute


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


# ThreadpoolRoute: the `def` variant is admitted to the threadpool (perflab.app.threadpool).
router = APIRouter(prefix="/api/blur", tags=["faceblur (seed 000)"], route_class=ThreadpoolRoute)
_ANSWER: dict[int | str, dict[str, Any]] = {
    200: {
        "content": {"image/jpeg": {"schema": {"type": "string", "format": "binary"}}},
        "description": "JSON, or the raw JPEG if preferred (faces in the X-Faces header).",
    },
}
# Through the offloader: a kernel past PERFLAB_JOB_TIMEOUT_S is a 504, a failed one a 500.
_OFFLOADED_RESPONSES = {**_ANSWER, **error_responses(400, 413, 415, 422, 500, 503, 504)}
_THREAD_RESPONSES = {**_ANSWER, **error_responses(400, 413, 415, 422, 503)}
# The upload's part must be an image: its media types, for clients and generated tests alike.
_UPLOAD_DOC: dict[str, Any] = {
    "requestBody": {
        "content": {
            "multipart/form-data": {"encoding": {"image": {"contentType": IMAGE_MEDIA_TYPES}}}
        }
    }
}


@router.post(
    "",
    summary="Blur every face in an uploaded image",
    response_model=BlurAnswer,
    responses=_OFFLOADED_RESPONSES,
    openapi_extra=_UPLOAD_DOC,
)
async def blur_upload(
    request: Request,
    image: Annotated[UploadFile, File(description="A JPEG, PNG or WebP image.")],
    offloader: OffloaderDep,
    settings: SettingsDep,
    _: MultipartOnly,
) -> Response:
    data = await image.read()
    result = await offloader.run(blur_image, data, BlurOptions.from_settings(settings))
    return answer(result, request)


_ENCODED_BODY_DOC: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {"application/json": {"schema": EncodedImage.model_json_schema()}},
    }
}


@router.post(
    "/encoded",
    summary="Blur faces: base64 JSON, async",
    response_model=BlurAnswer,
    responses=_OFFLOADED_RESPONSES,
    openapi_extra=_ENCODED_BODY_DOC,
)
async def blur_encoded(
    request: Request, offloader: OffloaderDep, settings: SettingsDep, _: JsonOnly
) -> Response:
    """`async def`: the kernel goes through the offloader (`PERFLAB_OFFLOAD`).

    The body is read here rather than declared, so admission decides before a byte of it is
    read or parsed: a shed request costs the loop no JSON parse of a 300 KB image."""
    ticket = offloader.admission.admit(cost_bytes=declared_length(request) or 0)
    with ticket:
        body = await encoded_image(request)
        data = decode_base64_image(body.image)
        options = BlurOptions.from_settings(settings)
        result = await offloader.run(blur_image, data, options, ticket=ticket)
    return answer(result, request)


async def encoded_image(request: Request) -> EncodedImage:
    """The body as FastAPI would have parsed a declared `EncodedImage`, with the same errors."""
    raw = await request.body()
    if not raw:
        raise BadRequest("the request body is empty")
    try:
        return EncodedImage.model_validate_json(raw)
    except ValidationError as exc:
        errors = exc.errors(include_url=False, include_input=False)
        raise RequestValidationError(
            [{**error, "loc": ("body", *error["loc"])} for error in errors]
        ) from None


@router.post(
    "/encoded/sync",
    summary="Blur faces: base64 JSON, sync",
    response_model=BlurAnswer,
    responses=_THREAD_RESPONSES,
)
def blur_encoded_sync(
    request: Request,
    body: EncodedImage,
    settings: SettingsDep,
    _: JsonOnly,
) -> Response:
    """Plain `def`: runs in the threadpool (`PERFLAB_THREADS`, admitted by expected wait), never
    in the event loop."""
    data = decode_base64_image(body.image)
    return answer(blur_image(data, BlurOptions.from_settings(settings)), request)
