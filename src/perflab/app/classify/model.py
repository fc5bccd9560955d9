"""The built ONNX model, cached on disk, and the one onnxruntime session each process holds.

Building the graph from the weights takes a fraction of a second, but every worker process of
every server would pay it at start, so the `.onnx` is cached in a model directory
(`PERFLAB_MODEL_DIR`; default `$XDG_CACHE_HOME/perflab/models`):

    efficientnet-lite0-w<weights package version>-b<BUILDER_VERSION>.onnx

The key is in the name and, to catch a file renamed or overwritten by hand, in the model's
metadata too. A missing file is built; a file with a stale key or that onnxruntime cannot load is
rebuilt; files with other keys are removed. Builders take an exclusive `flock` in the directory,
so workers starting together build once, and write to a temporary file renamed into place, so
no reader ever sees half a model (even where the lock does not hold, as on some network disks).

Each process keeps one session (`process_session`), with its thread pools sized explicitly:
parallelism comes from the offloader's worker processes, one per core, and a session that also
spread over every core would fight them for it. Measured on the 2-core box
(benchmarks/micro/classify_kernel.py): a session on 2 threads spends 10-25% more CPU per image
than on 1, and two single-threaded processes classify at least as many images per second as one
two-threaded one.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt
import onnxruntime as ort  # type: ignore[import-untyped]  # ships no type information

from perflab.app.classify.weights import load_state_dict, weights_version

log = logging.getLogger("perflab.classify")

MODEL_NAME = "efficientnet-lite0"
# Bump when graph.py changes what it builds: every cached model is then rebuilt.
BUILDER_VERSION = 1
CACHE_KEY_PROP = "perflab.cache_key"
INTRA_OP_THREADS = 1
INTER_OP_THREADS = 1


class Session(Protocol):
    """The part of `onnxruntime.InferenceSession` used here."""

    def run(
        self, output_names: list[str] | None, input_feed: dict[str, npt.NDArray[np.float32]]
    ) -> list[Any]: ...

    def get_modelmeta(self) -> Any: ...


def default_model_dir() -> Path:
    """Where built models are cached unless told otherwise (a user cache directory)."""
    cache = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(cache) / "perflab" / "models"


def cache_key() -> str:
    return f"w{weights_version()}-b{BUILDER_VERSION}"


def model_path(model_dir: Path) -> Path:
    return model_dir / f"{MODEL_NAME}-{cache_key()}.onnx"


def ensure_model(model_dir: Path, *, rebuild: bool = False) -> Path:
    """The cached model's path, built first when missing (or when `rebuild`).

    Usage: `open_session(ensure_model(default_model_dir()))`
    """
    path = model_path(model_dir)
    if path.exists() and not rebuild:
        return path
    model_dir.mkdir(parents=True, exist_ok=True)
    with _build_lock(model_dir):
        # Another process may have built it while this one waited for the lock.
        if rebuild or not path.exists():
            build_model_file(path)
        _remove_stale(model_dir, keep=path)
    return path


def build_model_file(path: Path) -> None:
    """Build the model from the installed weights and write it to `path` atomically."""
    # Imported here, not at the top: only a missing model needs the `onnx` package (shape.py).
    from perflab.app.classify.graph import build_model

    model = build_model(load_state_dict(), {CACHE_KEY_PROP: cache_key()})
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(model.SerializeToString())
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    log.info("built %s", path)


@contextlib.contextmanager
def _build_lock(model_dir: Path) -> Iterator[None]:
    with open(model_dir / ".build.lock", "a+b") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _remove_stale(model_dir: Path, keep: Path) -> None:
    # Runs under the build lock, so no temporary file here is still being written.
    for old in (*model_dir.glob(f"{MODEL_NAME}-*.onnx"), *model_dir.glob(f".{MODEL_NAME}-*.tmp")):
        if old != keep:
            with contextlib.suppress(FileNotFoundError):
                old.unlink()
                log.info("removed stale model %s", old)


def open_session(model_dir: Path, *, intra_op_threads: int = INTRA_OP_THREADS) -> Session:
    """A new session on the cached model, rebuilding it once if stale or unreadable."""
    path = ensure_model(model_dir)
    try:
        session = _new_session(path, intra_op_threads)
        stored = session.get_modelmeta().custom_metadata_map.get(CACHE_KEY_PROP)
        if stored == cache_key():
            return session
        log.warning("%s holds model %s, not %s: rebuilding", path, stored, cache_key())
    except Exception as exc:  # onnxruntime raises its own unexported exception types
        log.warning("cannot load %s (%s): rebuilding", path, exc)
    return _new_session(ensure_model(model_dir, rebuild=True), intra_op_threads)


def _new_session(path: Path, intra_op_threads: int) -> Session:
    options = ort.SessionOptions()
    options.intra_op_num_threads = intra_op_threads
    options.inter_op_num_threads = INTER_OP_THREADS
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    # Idle pool threads spinning for work would steal the core from the next process's job.
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    session: Session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    return session


_lock = threading.Lock()
_held: tuple[int, Path, Session] | None = None


def process_session(model_dir: Path | None = None) -> Session:
    """This process's session, opened on first use; threads share it (`run` is thread-safe).

    A forked child opens its own (a session's state does not survive a fork), and asking for
    another model directory replaces it: never more than one per process.
    """
    global _held
    directory = model_dir or default_model_dir()
    with _lock:
        if _held is None or _held[0] != os.getpid() or _held[1] != directory:
            _held = (os.getpid(), directory, open_session(directory))
        return _held[2]
