"""A loopback TCP proxy that can cut WebSocket connections while HTTP keeps working.

The real server cannot be told to drop one client's WebSocket and refuse new
ones while its HTTP routes answer, so this proxy stands between bridge and
server: every connection is forwarded byte for byte; a connection whose
request line is ``GET /ws`` counts as a WebSocket. ``cut_websockets()``
closes those and refuses new ones until ``allow_websockets()``.
"""

from __future__ import annotations

import asyncio
import contextlib

from tests.support._process import free_port


class WsCuttingProxy:
    """Forward ``127.0.0.1:port`` to ``upstream_port``; see the module docstring."""

    def __init__(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self.port = free_port()
        self.ws_allowed = True
        self._ws_writers: set[asyncio.StreamWriter] = set()
        self._server: asyncio.Server | None = None

    @property
    def url(self) -> str:
        """The proxy's ``http://127.0.0.1:<port>``."""
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> None:
        """Listen."""
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", self.port)

    async def stop(self) -> None:
        """Close the listener and every connection."""
        self.cut_websockets()
        if self._server is not None:
            self._server.close()

    def cut_websockets(self) -> None:
        """Close every forwarded WebSocket and refuse new ones."""
        self.ws_allowed = False
        for writer in list(self._ws_writers):
            writer.transport.abort()
        self._ws_writers.clear()

    def allow_websockets(self) -> None:
        """Forward WebSockets again."""
        self.ws_allowed = True

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(b"\r\n")
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
            writer.transport.abort()
            return
        is_ws = head.startswith(b"GET /ws ")
        if is_ws and not self.ws_allowed:
            writer.transport.abort()
            return
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.upstream_port)
        if is_ws:
            self._ws_writers.update((writer, up_writer))
        up_writer.write(head)
        await asyncio.gather(self._pipe(reader, up_writer), self._pipe(up_reader, writer))

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(1 << 16):
                writer.write(data)
                await writer.drain()
        except ConnectionError:
            pass
        finally:
            self._ws_writers.discard(writer)
            with contextlib.suppress(Exception):
                writer.transport.abort()
