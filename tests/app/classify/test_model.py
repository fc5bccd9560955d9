"""The graph, the model cache (built once, reused, rebuilt when stale) and the process session."""

from __future__ import annotations

import shutil
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import onnx
import pytest

from perflab.app.classify import model
from perflab.app.classify.graph import same_pads
from perflab.app.classify.model import (
    CACHE_KEY_PROP,
    cache_key,
    ensure_model,
    model_path,
    open_session,
    process_session,
)
from perflab.app.classify.shape import INPUT_NAME, OUTPUT_NAME


@pytest.fixture
def builds(monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    """Every model build in this test, by path."""
    built: list[Path] = []
    real_build = model.build_model_file

    def counting_build(path: Path) -> None:
        built.append(path)
        real_build(path)

    monkeypatch.setattr(model, "build_model_file", counting_build)
    return built


def test_tensorflow_same_padding() -> None:
    assert same_pads(224, 3, 2) == [0, 0, 1, 1]  # the odd pixel goes after
    assert same_pads(56, 5, 2) == [1, 1, 2, 2]
    assert same_pads(14, 5, 1) == [2, 2, 2, 2]
    assert same_pads(7, 1, 1) == [0, 0, 0, 0]


def test_the_model_has_a_dynamic_batch_and_its_cache_key(model_dir: Path) -> None:
    proto = onnx.load(str(model_path(model_dir)))
    (graph_input,) = proto.graph.input
    dims = graph_input.type.tensor_type.shape.dim
    assert graph_input.name == INPUT_NAME
    assert dims[0].dim_param == "batch"
    assert [d.dim_value for d in dims[1:]] == [3, 224, 224]
    assert [o.name for o in proto.graph.output] == [OUTPUT_NAME]
    assert {p.key: p.value for p in proto.metadata_props}[CACHE_KEY_PROP] == cache_key()
    # Batch norms are folded: only these operators remain.
    ops = {node.op_type for node in proto.graph.node}
    assert ops == {"Conv", "Clip", "Add", "GlobalAveragePool", "Flatten", "Gemm"}


def test_built_once_then_reused(tmp_path: Path, builds: list[Path]) -> None:
    path = ensure_model(tmp_path)
    stat = path.stat()
    assert ensure_model(tmp_path) == path
    open_session(tmp_path)
    assert builds == [path]
    assert path.stat().st_mtime_ns == stat.st_mtime_ns
    assert sorted(p.name for p in tmp_path.iterdir()) == [".build.lock", path.name]


def test_a_new_builder_version_rebuilds_and_removes_the_stale_model(
    tmp_path: Path, builds: list[Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    old = ensure_model(tmp_path)
    monkeypatch.setattr(model, "BUILDER_VERSION", model.BUILDER_VERSION + 1)
    new = ensure_model(tmp_path)
    assert new != old
    assert builds == [old, new]
    assert not old.exists()
    assert new.exists()
    assert CACHE_KEY_PROP in {p.key for p in onnx.load(str(new)).metadata_props}


def test_a_model_with_another_key_under_this_name_is_rebuilt(
    tmp_path: Path, builds: list[Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    old = ensure_model(tmp_path)
    monkeypatch.setattr(model, "BUILDER_VERSION", model.BUILDER_VERSION + 1)
    shutil.copy(old, model_path(tmp_path))  # right name, stale content
    session = open_session(tmp_path)
    assert session.get_modelmeta().custom_metadata_map[CACHE_KEY_PROP] == cache_key()
    assert builds == [old, model_path(tmp_path)]


def test_an_unreadable_model_is_rebuilt(tmp_path: Path, builds: list[Path]) -> None:
    path = ensure_model(tmp_path)
    path.write_bytes(path.read_bytes()[:1000])
    session = open_session(tmp_path)
    logits = session.run(None, {INPUT_NAME: np.zeros((2, 3, 224, 224), np.float32)})[0]
    assert logits.shape == (2, 1000)
    assert builds == [path, path]


def test_builders_starting_together_build_once(tmp_path: Path, builds: list[Path]) -> None:
    # flock excludes separate open files even within one process, so threads stand in for
    # the worker processes that warm up at the same moment.
    start = threading.Barrier(4)
    paths: list[Path] = []

    def build() -> None:
        start.wait()
        paths.append(ensure_model(tmp_path))

    threads = [threading.Thread(target=build) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(builds) == 1
    assert len(set(paths)) == 1
    assert len(paths) == 4
    assert not list(tmp_path.glob("*.tmp"))


def test_one_session_per_process(model_dir: Path, tmp_path: Path) -> None:
    first = process_session(model_dir)
    assert process_session(model_dir) is first
    other = process_session(tmp_path)
    assert other is not first
    assert process_session(tmp_path) is other
    assert process_session(model_dir) is not other


def test_serving_a_model_does_not_import_the_graph_builder() -> None:
    # `import onnx` costs about a second; every server and every pool worker would pay it at
    # start if the serving path reached graph.py (shape.py holds what serving needs).
    probe = (
        "import sys, perflab.app.main, perflab.app.classify.service;"
        "print(sorted(m for m in ('onnx', 'perflab.app.classify.graph') if m in sys.modules))"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=120
    )
    assert loaded.stdout.strip() == "[]"
