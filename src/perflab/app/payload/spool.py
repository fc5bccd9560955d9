"""Where a large request body waits for its parser, without being copied on the way.

The body is written once as it streams in: into a bytearray when the parser runs in this
process (inline or thread offloader), or into a file in /dev/shm when it runs in a worker
process, so only the file's path is pickled across instead of 25 MB (plus the pickle's own copy
and the worker's copy). Either way the parser reads it in small slices. The file is removed
when the request ends, however it ends (a client disconnecting mid-body included); the files
of a server that was killed (SIGKILL, OOM) are removed by the next one to start
(`remove_stale_spool_files`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import tempfile
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Protocol

_READ_SLICE_BYTES = 1 << 16
_PREFIX = "perflab-body-"

log = logging.getLogger("perflab.payload")


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


async def read_up_to(chunks: AsyncIterator[bytes], limit: int) -> tuple[bytearray, bool]:
    """Read into memory until the body ends (True) or has passed `limit` bytes (False; the
    rest is still in `chunks`).

    Usage: `head, complete = await read_up_to(request.stream(), 65536)`
    """
    buffer = bytearray()
    async for chunk in chunks:
        buffer += chunk
        if len(buffer) > limit:
            return buffer, False
    return buffer, True


@contextlib.asynccontextmanager
async def received_body(
    chunks: AsyncIterator[bytes], *, spool: bool, head: bytearray | None = None
) -> AsyncIterator[BodySource]:
    """Collect a streamed body, after the `head` already read from it, into memory
    (`spool=False`) or a /dev/shm file (`spool=True`).

    Usage: `async with received_body(request.stream(), spool=True) as body: summarize(body)`
    """
    if not spool:
        buffer = head if head is not None else bytearray()
        async for chunk in chunks:
            buffer += chunk
        yield MemoryBody(buffer)
        return
    fd, path = tempfile.mkstemp(prefix=f"{_PREFIX}{os.getpid()}-", dir=spool_dir())
    try:
        size = 0
        with os.fdopen(fd, "wb", buffering=0) as file:
            if head:
                file.write(head)
                size = len(head)
            async for chunk in chunks:
                # A memory copy into tmpfs: 60-80 us per 64 KB chunk here, fine on the loop.
                file.write(chunk)
                size += len(chunk)
        yield SpooledBody(path, size)
    finally:
        # Freeing a 26 MB tmpfs file takes the kernel 2-5 ms (measured): in a thread, not the
        # loop. Shielded, so a request cancelled here (a client gone) still removes its file.
        removal = asyncio.get_running_loop().run_in_executor(None, _remove, path)
        await asyncio.shield(removal)


def _remove(path: str) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)


def remove_stale_spool_files(directory: Path | None = None) -> list[Path]:
    """Remove the spooled bodies of server processes that no longer run; return them.

    A server killed mid-request (SIGKILL, the OOM killer) never ran its cleanup, and /dev/shm
    is memory: called once at start, so each restart frees what the last crash left. Files of
    live processes (the other web workers) stay. A dead server's pid reused by another process
    keeps its files until that process ends too: the safe side of the mistake.

    Usage: `remove_stale_spool_files()` (in the lifespan, before serving)
    """
    removed: list[Path] = []
    for path in (directory or spool_dir()).glob(f"{_PREFIX}*-*"):
        pid_text = path.name[len(_PREFIX) :].split("-", 1)[0]
        if not pid_text.isdigit() or _is_running(int(pid_text)):
            continue
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
            removed.append(path)
    if removed:
        log.warning("removed %d body file(s) left by stopped servers", len(removed))
    return removed


def _is_running(pid: int) -> bool:
    try:
        os.kill(pid, 0)  # signal 0: no signal sent, only whether the process exists
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # exists, owned by another user
    return True
