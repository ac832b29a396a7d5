"""The stored view state (filter, theme, layout) pushed on ``StreamUpdates``.

A dashboard must show a theme set anywhere (Python, the CLI, another page)
within moments, without polling. The server pushes a ``versions`` message
after every change of the view state (``view`` counter, docs/http-api.md) on
the WebSocket the bridge holds; when the counter (or the server's epoch, or
the connection) changes, the bridge reads the whole view once and hands the
``ViewUpdate`` to every stream that asked for ``UPDATE_TYPE_VIEW``. A stream
that opens gets the current view first: the one in memory when it was read
after the newest push (so a thousand pages reconnecting cost one read, not a
thousand), else a fresh read.

Reads are serialized (one at a time, each started after the previous one
ended), so the view a stream receives last is never older than one it got
before: a slow read cannot overwrite a newer one.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Callable
from typing import Any

from neural_heatmap_contract.routes import http
from neural_heatmap_contract.v1 import updates_pb2

from . import _convert as cv
from . import _errors
from ._scalars import timestamp
from ._upstream import CallOptions, Upstream

log = logging.getLogger("neural_heatmap_bridge.view")


class ViewFeed:
    """Reads the view when it changed and hands it to the streams that want it.

    Args:
        upstream: The server's HTTP API.
        timeout: Seconds each read of the view may take (``--upstream-timeout``).
        deliver: Called with every view read, in order.
    """

    def __init__(
        self,
        upstream: Upstream,
        timeout: float,
        deliver: Callable[[updates_pb2.ViewUpdate], None],
    ) -> None:
        self._up = upstream
        self._timeout = timeout
        self._deliver = deliver
        self._lock = asyncio.Lock()
        self._seen: tuple[Any, Any] | None = None  # (epoch, view counter) last pushed
        self._latest: updates_pb2.ViewUpdate | None = None
        self._latest_at: tuple[Any, Any] | None = None  # the push _latest was read after

    def on_versions(self, data: dict[str, Any]) -> bool:
        """A ``versions`` push: True when the view moved since the last read (read again)."""
        seen = (data.get("epoch"), data.get("view"))
        if seen == self._seen:
            return False
        self._seen = seen
        return True

    def on_close(self) -> None:
        """The push connection ended: the next ``versions`` message reads the view again."""
        self._seen = None

    async def refresh(self) -> None:
        """Read the view and deliver it to every stream; an unreachable server is logged
        (the next push, or the reconnect's, reads it again)."""
        async with self._lock:
            await self._read_and_deliver()

    async def first(self, put: Callable[[updates_pb2.ViewUpdate], None]) -> None:
        """The current view for one new stream (``put``): from memory while it was read
        after the newest push, else read (and then delivered to every stream)."""
        async with self._lock:
            if self._latest is not None and self._seen is not None \
                    and self._latest_at == self._seen:
                put(self._latest)
                return
            await self._read_and_deliver()

    async def _read_and_deliver(self) -> None:
        seen = self._seen  # the read reflects at least this push
        try:
            update = await self.read()
        except _errors.UpstreamError as exc:
            log.warning("cannot read the view state for live streams: %s", exc)
            return
        self._latest, self._latest_at = update, seen
        self._deliver(update)

    async def read(self) -> updates_pb2.ViewUpdate:
        """The stored filter, theme and layout as one ``ViewUpdate``."""
        opts = CallOptions(self._timeout, uuid.uuid4().hex)
        filt, theme, layout = await asyncio.gather(
            self._up.get_json(http("GetFilter").path, opts),
            self._up.get_json(http("GetTheme").path, opts),
            self._up.get_json(http("GetLayout").path, opts),
        )
        return updates_pb2.ViewUpdate(
            timestamp=timestamp(time.time()),
            filter=cv.filter_from_json(_inner(filt, "filter")),
            theme=cv.theme_from_json(_inner(theme, "theme")),
            layout=cv.layout_from_json(_inner(layout, "layout")),
        )


def _inner(doc: dict[str, Any], key: str) -> dict[str, Any]:
    """The server answers ``{key: {...}}`` or the object itself (as the Get RPCs read it)."""
    inner = doc.get(key)
    return inner if isinstance(inner, dict) else doc
