"""Where a large request body waits for its parser, without being copied on the way.

The body is written once as it streams in: into a bytearray when the parser runs in this
process (inline or thread offloader), or into a file in /dev/shm when it runs in a worker
process, so only the file's path is pickled across instead of 25 MB (plus the pickle's own copy
and the worker's copy). Either way the parser reads it in small slices. The file is removed
when the request ends, however it ends (a client disconnecting mid-body included).
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Protocol

_READ_SLICE_BYTES = 1 << 16


def spool_dir() -> Path:
    """/dev/shm (memory, shared with worker processes) when usable, else the temp directory."""
    shm = Path("/dev/shm")
    if shm.is_dir() and os.access(shm, os.W_OK):
        return shm
    return Path(tempfile.gettempdir())


class BodySource(Protocol):
    """A received body that a kernel, in this process or another, can open and read."""

    @property
    def size(self) -> int: ...

    def open(self) -> contextlib.AbstractContextManager[BinaryIO]: ...


class _ViewReader:
    """A read-only file over a buffer: hands out slices, never a copy of the whole body."""

    def __init__(self, buffer: bytearray) -> None:
        self._view = memoryview(buffer)
        self._position = 0

    def read(self, size: int = -1) -> bytes:
        if size < 0:
            size = len(self._view) - self._position
        start = self._position
        self._position = min(len(self._view), start + size)
        return bytes(self._view[start : self._position])


@dataclass
class MemoryBody:
    buffer: bytearray

    @property
    def size(self) -> int:
        return len(self.buffer)

    @contextlib.contextmanager
    def open(self) -> Iterator[BinaryIO]:
        yield _ViewReader(self.buffer)  # type: ignore[misc]  # read() is all parsers use


@dataclass
class SpooledBody:
    path: str
    size: int

    @contextlib.contextmanager
    def open(self) -> Iterator[BinaryIO]:
        with open(self.path, "rb", buffering=_READ_SLICE_BYTES) as stream:
            yield stream


@contextlib.asynccontextmanager
async def received_body(chunks: AsyncIterator[bytes], *, spool: bool) -> AsyncIterator[BodySource]:
    """Collect a streamed body into memory (`spool=False`) or a /dev/shm file (`spool=True`).

    Usage: `async with received_body(request.stream(), spool=True) as body: summarize(body)`
    """
    if not spool:
        buffer = bytearray()
        async for chunk in chunks:
            buffer += chunk
        yield MemoryBody(buffer)
        return
    fd, path = tempfile.mkstemp(prefix=f"perflab-body-{os.getpid()}-", dir=spool_dir())
    try:
        size = 0
        with os.fdopen(fd, "wb", buffering=0) as file:
            async for chunk in chunks:
                # A memory copy into tmpfs: microseconds per chunk, fine on the event loop.
                file.write(chunk)
                size += len(chunk)
        yield SpooledBody(path, size)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)
