"""The one upstream WebSocket connection every stream of the bridge shares.

``Pump`` keeps a connection to the upstream's ``/ws`` open: on a drop it
reconnects with the backoff every client shares (``neural_heatmap_contract.backoff``,
numbers from protos/policy/retry.json): exponential with "equal jitter" (delay
uniform in ``[d/2, d]``, from AWS's architecture blog): the jitter keeps many bridges
from reconnecting in lock-step, and the floor of ``d/2`` bounds the reconnect rate
even against an upstream that accepts the WebSocket and drops it at once. For the
same reason the backoff
starts over only after a connection has stayed up for ``STABLE_AFTER``
seconds; a handshake alone proves nothing (a broken WS handler accepts and
closes). On every (re)connect it calls ``on_open`` so the owner can
resubscribe, and ``on_close`` when that connection ends. Incoming JSON
messages go to ``on_message``; what they mean is the owner's business
(``_fanout``).

Stall detection: an upstream that keeps its socket open but stops answering
(a stopped process, a wedged event loop) is caught two ways, both within
``stall_timeout`` seconds: WebSocket ping/pong (aiohttp's ``heartbeat``: a
ping after two thirds of it without traffic, the pong due within the last
third, which tolerates a server loop busy for a moment) and, once the upstream
has sent one ``anomaly_heartbeat`` on this connection (so it is known to send
them), silence: no message at all for ``stall_timeout``. A handshake that does
not finish in that time counts too. ``on_close(stalled=True)`` then tells the
owner, who ends its streams so clients resume elsewhere or later.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
from neural_heatmap_contract.backoff import backoff_delay

from . import _errors
from ._metrics import Metrics
from ._upstream import Upstream

log = logging.getLogger("neural_heatmap_bridge.pump")

# A connection that lasted this long proves the upstream works: the backoff starts over.
STABLE_AFTER = 2.0


class Pump:
    """Owns the shared upstream WebSocket.

    Args:
        upstream: Supplies the session, URL and headers.
        on_open: Awaited after each successful connect (resubscribe here).
        on_message: Called with ``(type, data)`` for every message received.
        on_close: Called with ``stalled`` when a connection that reached ``on_open``
            ends (``stalled``: it stopped answering rather than closed), so the owner
            stops trusting what it has not been told since.
        metrics: Where reconnects are counted.
        stall_timeout: Seconds of unanswered ping or of silence that mean "stalled".
    """

    def __init__(
        self,
        upstream: Upstream,
        on_open: Callable[[], Awaitable[None]],
        on_message: Callable[[str, dict[str, Any]], None],
        on_close: Callable[[bool], None],
        metrics: Metrics,
        stall_timeout: float = 6.0,
    ) -> None:
        self._upstream = upstream
        self._on_open = on_open
        self._on_message = on_message
        self._on_close = on_close
        self._metrics = metrics
        self._stall_timeout = stall_timeout
        self._heartbeats_seen = False  # the upstream sends anomaly_heartbeat on this connection
        self._ws: aiohttp.ClientWebSocketResponse | None = None
        self._task: asyncio.Task[None] | None = None

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
                # Bounded: an upstream that stopped reading must not hold a stream's open.
                await asyncio.wait_for(
                    ws.send_str(json.dumps({"type": kind, "data": data})), self._stall_timeout
                )
            except (aiohttp.ClientError, ConnectionError, RuntimeError, TimeoutError) as exc:
                log.debug("send %s failed: %s", kind, exc)

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        attempt = 0
        while True:
            opened_at: float | None = None
            lasted: float | None = None
            self._heartbeats_seen = False
            try:
                ws = await asyncio.wait_for(
                    self._upstream.session.ws_connect(
                        self._upstream.ws_url(),
                        headers=self._upstream.headers(),
                        heartbeat=self._stall_timeout * 2 / 3,
                        max_msg_size=0,
                        autoping=True,
                        timeout=aiohttp.ClientWSTimeout(ws_close=1.0),
                    ),
                    self._stall_timeout,
                )
                async with ws:
                    self._ws = ws
                    opened_at = loop.time()
                    log.info("upstream WebSocket connected")
                    await self._on_open()
                    stalled = await self._receive(ws)
                    # Tell the owner before closing: closing a stalled socket waits.
                    self._ws = None
                    self._on_close(stalled)
                    lasted = loop.time() - opened_at
                    opened_at = None
            except TimeoutError:
                log.warning("upstream WebSocket handshake not answered: stalled")
            except (aiohttp.ClientError, OSError, _errors.UpstreamError) as exc:
                log.info("upstream WebSocket unavailable: %s", exc)
            finally:
                self._ws = None
                if opened_at is not None:
                    lasted = loop.time() - opened_at
                    self._on_close(False)
            if lasted is not None:
                log.info("upstream WebSocket closed after %.1f s", lasted)
                if lasted >= STABLE_AFTER:
                    attempt = 0
            delay = backoff_delay(attempt)
            attempt += 1
            self._metrics.upstream_reconnects.inc()
            await asyncio.sleep(delay)

    async def _receive(self, ws: aiohttp.ClientWebSocketResponse) -> bool:
        """Dispatch messages until the connection ends; True when it ended by stalling."""
        while True:
            limit = self._stall_timeout if self._heartbeats_seen else None
            try:
                msg = await ws.receive(timeout=limit)
            except TimeoutError:
                log.warning("upstream WebSocket silent for %.1f s: stalled", limit)
                return True
            if msg.type == aiohttp.WSMsgType.TEXT:
                self._dispatch(msg.data)
            elif msg.type == aiohttp.WSMsgType.ERROR:
                stalled = isinstance(ws.exception(), aiohttp.ServerTimeoutError)
                if stalled:
                    log.warning("upstream WebSocket stalled: %s", ws.exception())
                return stalled
            elif msg.type in (
                aiohttp.WSMsgType.CLOSE,
                aiohttp.WSMsgType.CLOSING,
                aiohttp.WSMsgType.CLOSED,
            ):
                return False

    def _dispatch(self, text: str) -> None:
        try:
            msg = json.loads(text)
            kind, data = msg["type"], msg.get("data") or {}
        except (ValueError, KeyError, TypeError):
            log.warning("ignoring malformed upstream message: %.200s", text)
            return
        if not isinstance(kind, str) or not isinstance(data, dict):
            return
        if kind == "anomaly_heartbeat":
            self._heartbeats_seen = True
        self._on_message(kind, data)
