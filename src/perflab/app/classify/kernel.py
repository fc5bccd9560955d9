"""The classifier kernel as the offloaders run it, with its batch form (one model run for N
images; registered in `perflab.app.offload.kernels`).

Usage: ``from perflab.app.classify.kernel import KERNEL; KERNEL.batch([(jpeg,), (jpeg,)])``
"""

from typing import Any

from perflab.app.classify.service import Prediction, classify_batch, classify_image, warm_up
from perflab.app.offload.kernels import Args, Kernel


def _batch(jobs: list[Args]) -> list[Any]:
    return list(classify_batch([data for (data,) in jobs]))


KERNEL = Kernel("classify", classify_image, tuple[bytes], Prediction, warm_up, batch=_batch)
