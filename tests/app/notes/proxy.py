"""A TCP proxy in front of PostgreSQL that a test can take down and bring back: from the
service's side, exactly a database restart, without touching the shared server behind it.

It can also go silent (`black_hole`): connections stay open, and whatever is sent one way or
both is dropped, with no error, as on a network that died without a word. The service's side
cannot tell that from a server that never answers.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Coroutine
from typing import Any


class TcpProxy:
    """Usage: `proxy = TcpProxy(port, "127.0.0.1", 5432); proxy.start(); ...; proxy.stop()`"""

    def __init__(self, listen_port: int, target_host: str, target_port: int) -> None:
        self.listen_port = listen_port
        self.target = (target_host, target_port)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._dropping = {"to_server": False, "to_client": False}

    def _run(self, coroutine: Coroutine[Any, Any, None]) -> None:
        asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(timeout=10)

    def start(self) -> None:
        self._run(self._start())

    def stop(self) -> None:
        """Close the listener and every open connection, as a stopping database does."""
        self._run(self._stop())

    def black_hole(self, *, to_server: bool = True, to_client: bool = True) -> None:
        """Drop what is sent from now on: to the server, to the client, or both."""
        self._dropping.update(to_server=to_server, to_client=to_client)

    def restore(self) -> None:
        """Forward everything again (what was dropped stays lost)."""
        self._dropping.update(to_server=False, to_client=False)

    def close(self) -> None:
        self.stop()
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._loop.close()

    async def _start(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", self.listen_port)

    async def _stop(self) -> None:
        if self._server is not None:
            self._server.close()
            self._server = None
        for writer in list(self._writers):
            writer.close()
        self._writers.clear()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.target)
        except OSError:
            writer.close()
            return
        self._writers |= {writer, up_writer}
        await asyncio.gather(
            self._pipe(reader, up_writer, "to_server"), self._pipe(up_reader, writer, "to_client")
        )

    async def _pipe(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, direction: str
    ) -> None:
        with contextlib.suppress(OSError, asyncio.IncompleteReadError):
            while data := await reader.read(65536):
                if self._dropping[direction]:
                    continue
                writer.write(data)
                await writer.drain()
        writer.close()
        self._writers.discard(writer)
