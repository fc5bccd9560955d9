"""Test photos for the classifier, all from installed packages (never downloaded).

foolbox ships 20 labelled ImageNet validation photos (512x512 JPEG, the label in the file name,
`imagenet_<index>_<class id>.jpg`). foolbox is installed with `--no-deps` for them alone, so
it is located, never imported (its import needs eagerpy).
"""

from __future__ import annotations

import importlib.util
import io
from functools import cache
from pathlib import Path

from PIL import Image


def foolbox_data_dir() -> Path:
    spec = importlib.util.find_spec("foolbox")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("the photos come from foolbox: pip install --no-deps foolbox")
    return Path(spec.submodule_search_locations[0]) / "data"


@cache
def labelled_photos() -> tuple[tuple[bytes, int], ...]:
    """The 20 (JPEG bytes, ImageNet class id) pairs, in file order."""
    paths = sorted(foolbox_data_dir().glob("imagenet_*_*.jpg"))
    assert len(paths) == 20, f"expected foolbox's 20 ImageNet photos, found {len(paths)}"
    return tuple((path.read_bytes(), int(path.stem.rsplit("_", 1)[1])) for path in paths)


def photo(index: int = 0) -> bytes:
    return labelled_photos()[index][0]


def reencode(data: bytes, format: str, mode: str | None = None, **params: object) -> bytes:
    """`data` decoded and written again as `format` (in `mode`, if given)."""
    image: Image.Image = Image.open(io.BytesIO(data))
    if mode is not None:
        image = image.convert(mode)
    out = io.BytesIO()
    image.save(out, format, **params)
    return out.getvalue()
