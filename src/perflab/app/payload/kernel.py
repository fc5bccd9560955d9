"""The big-body parsing kernel as the offloaders run it (registered in
`perflab.app.offload.kernels`): a body spooled on this machine travels as its bytes.

Usage: ``from perflab.app.payload.kernel import KERNEL; KERNEL.to_wire((source,))``
"""

from perflab.app.offload.kernels import Args, Kernel
from perflab.app.payload.service import summarize
from perflab.app.payload.spool import BodySource, MemoryBody


def _body_bytes(args: Args) -> Args:
    # A body spooled to /dev/shm is a path on this machine: the worker may be on another, so
    # the bytes travel. A body in memory travels as its buffer, with no extra copy.
    (source,) = args
    if isinstance(source, MemoryBody):
        return (source.buffer,)
    body: BodySource = source
    with body.open() as stream:
        return (stream.read(),)


def _memory_body(args: Args) -> Args:
    (data,) = args
    return (MemoryBody(data),)


KERNEL = Kernel(
    "parse_json",
    summarize,
    tuple[bytearray],
    dict[str, str | int | None],
    to_wire=_body_bytes,
    from_wire=_memory_body,
)
