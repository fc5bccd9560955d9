"""Seed 001's endpoint: `POST /predict`, multipart field `file` -> the ImageNet label.

The answer keeps the seed's shape (`{"success": true, "prediction": ..., "score": ...}`), and a
bad upload answers 400 with `"success": false` beside the usual error body, so the seed's own
clients (which read `success`) and ours (which read `error`) both understand it. The upload is
read into memory (never a temporary file), and the kernel runs through the offloader.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel

from perflab.app.classify.service import classify_image
from perflab.app.deps import OffloaderDep
from perflab.app.error_handlers import error_body, error_responses
from perflab.app.errors import ClientError
from perflab.app.faceblur.schemas import IMAGE_MEDIA_TYPES
from perflab.app.multipart_upload import read_file_field

router = APIRouter(tags=["classify (seed 001)"])


class PredictAnswer(BaseModel):
    success: bool
    prediction: str
    score: float


_FILE_DOC: dict[str, object] = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["file"],
                    "properties": {"file": {"type": "string", "format": "binary"}},
                },
                # The part must be an image; anything Pillow cannot decode is a 400.
                "encoding": {"file": {"contentType": IMAGE_MEDIA_TYPES}},
            }
        },
    }
}


@router.post(
    "/predict",
    summary="Classify an uploaded image (EfficientNet-Lite0, ImageNet labels)",
    response_model=PredictAnswer,
    responses=error_responses(400, 413, 415, 500, 503, 504),
    openapi_extra=_FILE_DOC,
)
async def predict(request: Request, offloader: OffloaderDep) -> Response:
    try:
        content_type = request.headers.get("content-type", "")
        data = await read_file_field(content_type, request.stream(), "file")
        prediction = await offloader.run(classify_image, data)
    except ClientError as exc:
        # The seed's clients read `success`; ours read `error`: give both.
        body = error_body(exc.code, exc.message, details=exc.details)
        return JSONResponse({"success": False, **body}, status_code=exc.status)
    answer = {"success": True, "prediction": prediction.label, "score": prediction.score}
    return JSONResponse(answer)
