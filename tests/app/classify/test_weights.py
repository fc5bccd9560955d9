"""The legacy `.pth` reader: the real weights, a hand-written file, and files it must refuse."""

from __future__ import annotations

import io
import pickle
import struct
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest

from perflab.app.classify.weights import (
    WeightsFormatError,
    load_state_dict,
    read_state_dict,
    weights_path,
    weights_version,
)

CALLS: list[object] = []


def record_call(*args: object) -> None:
    """What a hostile file would run if the reader let it name any global."""
    CALLS.append(args)


def _str(text: str) -> bytes:  # BINUNICODE
    raw = text.encode()
    return b"X" + struct.pack("<I", len(raw)) + raw


def _int(value: int) -> bytes:  # BININT
    return b"J" + struct.pack("<i", value)


def _ints(values: tuple[int, ...]) -> bytes:
    return b"(" + b"".join(map(_int, values)) + b"t"


def _global(module: str, name: str) -> bytes:
    return b"c" + module.encode() + b"\n" + name.encode() + b"\n"


def legacy_pth(
    tensors: dict[str, tuple[str, int, tuple[int, ...], tuple[int, ...]]],
    storages: dict[str, npt.NDArray[np.float32]],
    *,
    storage_global: tuple[str, str] = ("torch", "FloatStorage"),
    rebuild_global: tuple[str, str] = ("torch._utils", "_rebuild_tensor_v2"),
) -> bytes:
    """A legacy file as torch.save writes one; name -> (storage key, offset, size, stride)."""
    state = b"\x80\x02" + _global("collections", "OrderedDict") + b")R"
    for name, (key, offset, size, stride) in tensors.items():
        persistent_id = (
            b"(" + _str("storage") + _global(*storage_global) + _str(key) + _str("cpu")
        ) + (_int(storages[key].size) + b"Nt")
        state += _str(name) + _global(*rebuild_global) + b"(" + persistent_id + b"Q"
        state += _int(offset) + _ints(size) + _ints(stride) + b"\x89"
        state += _global("collections", "OrderedDict") + b")Rt" + b"Rs"
    state += b"."
    out = io.BytesIO()
    for header in (0x1950A86A20F9469CFC6C, 1001, {"little_endian": True}):
        pickle.dump(header, out, protocol=2)
    out.write(state)
    pickle.dump(list(storages), out, protocol=2)
    for data in storages.values():
        out.write(struct.pack("<q", data.size) + data.astype("<f4").tobytes())
    return out.getvalue()


STORAGE = {"0": np.arange(12, dtype=np.float32)}


def test_the_shipped_weights_are_efficientnet_lite0() -> None:
    state = load_state_dict()
    assert weights_path().name.endswith(".pth")
    assert weights_version() == "0.1.0"
    assert len(state) == 296
    assert state["_conv_stem.weight"].shape == (32, 3, 3, 3)
    assert state["_fc.weight"].shape == (1000, 1280)
    assert state["_fc.weight"].dtype == np.float32
    assert state["_bn0.num_batches_tracked"].dtype == np.int64
    assert all(array.flags.c_contiguous for array in state.values())


def test_offsets_and_strides_are_views_into_shared_storage() -> None:
    tensors = {
        "matrix": ("0", 0, (3, 4), (4, 1)),
        "transposed": ("0", 0, (4, 3), (1, 4)),
        "tail": ("0", 8, (4,), (1,)),
    }
    state = read_state_dict(io.BytesIO(legacy_pth(tensors, STORAGE)))
    matrix = np.arange(12, dtype=np.float32).reshape(3, 4)
    np.testing.assert_array_equal(state["matrix"], matrix)
    np.testing.assert_array_equal(state["transposed"], matrix.T)
    np.testing.assert_array_equal(state["tail"], [8, 9, 10, 11])


@pytest.mark.parametrize(
    "hostile",
    [
        {"storage_global": ("tests.app.classify.test_weights", "record_call")},
        {"rebuild_global": ("tests.app.classify.test_weights", "record_call")},
        {"rebuild_global": ("builtins", "eval")},
        {"storage_global": ("torch", "FloatStorage.__class__")},
    ],
)
def test_unexpected_globals_are_refused_before_anything_runs(
    hostile: dict[str, tuple[str, str]],
) -> None:
    data = legacy_pth({"w": ("0", 0, (12,), (1,))}, STORAGE, **hostile)
    with pytest.raises(WeightsFormatError, match="global"):
        read_state_dict(io.BytesIO(data))
    assert CALLS == []


def test_a_global_in_a_header_pickle_is_refused() -> None:
    data = pickle.dumps(record_call, protocol=2) + legacy_pth({}, {})
    with pytest.raises(WeightsFormatError):
        read_state_dict(io.BytesIO(data))


def test_a_tensor_reaching_outside_its_storage_is_refused() -> None:
    data = legacy_pth({"w": ("0", 4, (3, 4), (4, 1))}, STORAGE)
    with pytest.raises(WeightsFormatError, match="outside"):
        read_state_dict(io.BytesIO(data))


@pytest.mark.parametrize("cut", [0, 10, 200, -20])
def test_a_truncated_file_is_refused(cut: int) -> None:
    data = legacy_pth({"w": ("0", 0, (12,), (1,))}, STORAGE)
    with pytest.raises(WeightsFormatError):
        read_state_dict(io.BytesIO(data[:cut]))


def test_a_zip_format_file_is_refused(tmp_path: Path) -> None:
    # What torch.save writes by default since 1.6: a zip archive, not this legacy stream.
    path = tmp_path / "new.pth"
    path.write_bytes(b"PK\x03\x04" + b"\0" * 100)
    with pytest.raises(WeightsFormatError):
        load_state_dict(path)
