"""Kernels by name: what a job on the wire names instead of carrying a pickled callable.

A queue job says "blur" and carries the arguments as typed msgpack (perflab.app.offload.wire);
the worker looks the name up here and decodes the arguments with the types declared here, so
the same job runs in a local process or in a `perflab worker` on another machine, and a worker
never executes code that a message named.

Each entry is loaded on first use, so a worker serving only `parse_json` never imports OpenCV.
To add a kernel: write its loader (the function, the types its arguments and result travel as,
its per-process warm-up, and its batch form if it has one) and add a line to `_REGISTRY`.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from perflab.config import Settings

Args = tuple[Any, ...]


def _same(args: Args) -> Args:
    return args


@dataclass(frozen=True)
class Kernel:
    """A named kernel and how its jobs travel.

    `args_type` and `result_type` are what msgspec decodes the arguments and the result as
    (e.g. `tuple[bytes, BlurOptions]`). `to_wire` adapts the arguments the API passes before
    they are encoded (a spooled body becomes its bytes), `from_wire` adapts them back after
    decoding in the worker. `warm_up` runs once in each worker process before its first job.
    """

    name: str
    function: Callable[..., Any]
    args_type: Any
    result_type: Any
    warm_up: Callable[[Settings | None], None] | None = None
    to_wire: Callable[[Args], Args] = _same
    from_wire: Callable[[Args], Args] = _same
    # Runs several jobs' arguments in one call (one model run for N images); each result may
    # be the `PerflabError` of that item alone. None: the worker runs jobs one at a time.
    batch: Callable[[list[Args]], list[Any]] | None = None


def _blur() -> Kernel:
    from perflab.app.faceblur.service import BlurOptions, BlurResult, blur_image, warm_up

    return Kernel("blur", blur_image, tuple[bytes, BlurOptions], BlurResult, warm_up)


def _parse_json() -> Kernel:
    from perflab.app.payload.service import summarize
    from perflab.app.payload.spool import BodySource, MemoryBody

    def body_bytes(args: Args) -> Args:
        # A body spooled to /dev/shm is a path on this machine: the worker may be on another,
        # so the bytes travel. A body in memory travels as its buffer, with no extra copy.
        (source,) = args
        if isinstance(source, MemoryBody):
            return (source.buffer,)
        body: BodySource = source
        with body.open() as stream:
            return (stream.read(),)

    def memory_body(args: Args) -> Args:
        (data,) = args
        return (MemoryBody(data),)

    return Kernel(
        "parse_json",
        summarize,
        tuple[bytearray],
        dict[str, str | int | None],
        to_wire=body_bytes,
        from_wire=memory_body,
    )


def _classify() -> Kernel:
    from perflab.app.classify.service import Prediction, classify_batch, classify_image, warm_up

    def batch(jobs: list[Args]) -> list[Any]:
        return list(classify_batch([data for (data,) in jobs]))

    return Kernel("classify", classify_image, tuple[bytes], Prediction, warm_up, batch=batch)


def _cpu() -> Kernel:
    from perflab.app.diag.service import burn_cpu

    return Kernel("cpu", burn_cpu, tuple[int], dict[str, int])


# name -> ("module:function" of the kernel, its loader). The reference lets the API find a
# function's name without importing every kernel's module.
_REGISTRY: dict[str, tuple[str, Callable[[], Kernel]]] = {
    "blur": ("perflab.app.faceblur.service:blur_image", _blur),
    "parse_json": ("perflab.app.payload.service:summarize", _parse_json),
    "classify": ("perflab.app.classify.service:classify_image", _classify),
    "cpu": ("perflab.app.diag.service:burn_cpu", _cpu),
}
_BY_REFERENCE = {reference: name for name, (reference, _) in _REGISTRY.items()}


def names() -> tuple[str, ...]:
    """Every registered kernel name, in registry order."""
    return tuple(_REGISTRY)


@functools.cache
def kernel_named(name: str) -> Kernel:
    """The kernel registered as `name`; ValueError naming the registered ones if there is none."""
    try:
        _, load = _REGISTRY[name]
    except KeyError:
        raise ValueError(f"no kernel named {name!r}; registered: {', '.join(names())}") from None
    return load()


def kernel_for(function: Callable[..., Any]) -> Kernel:
    """The registered kernel whose function this is (what `QueueOffloader.run` is handed)."""
    reference = f"{function.__module__}:{function.__qualname__}"
    name = _BY_REFERENCE.get(reference)
    if name is None:
        raise ValueError(
            f"{reference} is not a registered kernel: add it to perflab.app.offload.kernels "
            "to run it through the queue"
        )
    return kernel_named(name)
