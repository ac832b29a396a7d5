"""The one upstream WebSocket connection every stream of the bridge shares.

``Pump`` keeps a connection to the upstream's ``/ws`` open: on a drop it
reconnects with exponential backoff and full jitter (delay uniform in
``[0, min(cap, base * 2**attempt)]``, as AWS's architecture blog recommends, so
many bridges do not reconnect in lock-step), and on every (re)connect it calls
``on_open`` so the owner can resubscribe. Incoming JSON messages go to
``on_message``; what they mean is the owner's business (``_fanout``).
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp

from . import _errors
from ._metrics import Metrics
from ._upstream import Upstream

log = logging.getLogger("neural_heatmap_bridge.pump")

BACKOFF_BASE = 0.05
BACKOFF_CAP = 2.0


class Pump:
    """Owns the shared upstream WebSocket.

    Args:
        upstream: Supplies the session, URL and headers.
        on_open: Awaited after each successful connect (resubscribe here).
        on_message: Called with ``(type, data)`` for every message received.
        metrics: Where reconnects are counted.
    """

    def __init__(
        self,
        upstream: Upstream,
        on_open: Callable[[], Awaitable[None]],
        on_message: Callable[[str, dict[str, Any]], None],
        metrics: Metrics,
    ) -> None:
        self._upstream = upstream
        self._on_open = on_open
        self._on_message = on_message
        self._metrics = metrics
        self._ws: aiohttp.ClientWebSocketResponse | None = None
        self._task: asyncio.Task[None] | None = None
        self.connected = asyncio.Event()

    def start(self) -> None:
        """Start the connection loop (idempotent)."""
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run(), name="nh-pump")

    async def stop(self) -> None:
        """Close the connection and stop reconnecting."""
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    async def send(self, kind: str, data: dict[str, Any]) -> None:
        """Send a message if connected; when not, ``on_open`` will resend state anyway."""
        ws = self._ws
        if ws is not None and not ws.closed:
            try:
                await ws.send_str(json.dumps({"type": kind, "data": data}))
            except (aiohttp.ClientError, ConnectionError, RuntimeError) as exc:
                log.debug("send %s failed: %s", kind, exc)

    async def _run(self) -> None:
        attempt = 0
        while True:
            try:
                async with self._upstream.session.ws_connect(
                    self._upstream.ws_url(),
                    headers=self._upstream.headers(),
                    heartbeat=5.0,
                    max_msg_size=0,
                    autoping=True,
                ) as ws:
                    self._ws = ws
                    await self._on_open()
                    self.connected.set()
                    attempt = 0
                    log.info("upstream WebSocket connected")
                    async for msg in ws:
                        if msg.type == aiohttp.WSMsgType.TEXT:
                            self._dispatch(msg.data)
                        elif msg.type in (aiohttp.WSMsgType.ERROR, aiohttp.WSMsgType.CLOSE):
                            break
            except (aiohttp.ClientError, OSError, TimeoutError, _errors.UpstreamError) as exc:
                log.info("upstream WebSocket unavailable: %s", exc)
            finally:
                self._ws = None
                self.connected.clear()
            delay = random.uniform(0.0, min(BACKOFF_CAP, BACKOFF_BASE * 2**attempt))
            attempt += 1
            self._metrics.upstream_reconnects.inc()
            await asyncio.sleep(delay)

    def _dispatch(self, text: str) -> None:
        try:
            msg = json.loads(text)
            kind, data = msg["type"], msg.get("data") or {}
        except (ValueError, KeyError, TypeError):
            log.warning("ignoring malformed upstream message: %.200s", text)
            return
        if isinstance(kind, str) and isinstance(data, dict):
            self._on_message(kind, data)
