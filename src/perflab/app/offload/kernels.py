"""Kernels by name: what a job on the wire names instead of carrying a pickled callable.

A queue job says "blur" and carries the arguments as typed msgpack (perflab.app.offload.wire);
the worker looks the name up here and decodes the arguments with the types declared here, so
the same job runs in a local process or in a `perflab worker` on another machine, and a worker
never executes code that a message named.

Each entry is loaded on first use, so a worker serving only `parse_json` never imports OpenCV.
To add a kernel: declare it in its domain's `kernel.py` (the function, the types its arguments
and result travel as, its per-process warm-up, and its batch form if it has one) and add a
line to `_REGISTRY`.
"""

from __future__ import annotations

import functools
import importlib
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


# name -> (the kernel's "module:function", the "module:attribute" of its `Kernel`). Each domain
# declares its kernel in its own `kernel.py`, imported on first use: a worker serving only
# `parse_json` never imports OpenCV, and this package never imports the domains that use it
# (their routers import the offloaders, so a static import back would be a cycle).
_REGISTRY: dict[str, tuple[str, str]] = {
    "blur": ("perflab.app.faceblur.service:blur_image", "perflab.app.faceblur.kernel:KERNEL"),
    "parse_json": ("perflab.app.payload.service:summarize", "perflab.app.payload.kernel:KERNEL"),
    "classify": (
        "perflab.app.classify.service:classify_image",
        "perflab.app.classify.kernel:KERNEL",
    ),
    "cpu": ("perflab.app.diag.service:burn_cpu", "perflab.app.diag.kernel:KERNEL"),
}
_BY_REFERENCE = {reference: name for name, (reference, _) in _REGISTRY.items()}


def names() -> tuple[str, ...]:
    """Every registered kernel name, in registry order."""
    return tuple(_REGISTRY)


@functools.cache
def kernel_named(name: str) -> Kernel:
    """The kernel registered as `name`; ValueError naming the registered ones if there is none."""
    try:
        _, where = _REGISTRY[name]
    except KeyError:
        raise ValueError(f"no kernel named {name!r}; registered: {', '.join(names())}") from None
    module, _, attribute = where.partition(":")
    kernel = getattr(importlib.import_module(module), attribute)
    if not isinstance(kernel, Kernel) or kernel.name != name:
        raise TypeError(f"{where} is not the Kernel named {name!r}")
    return kernel


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
