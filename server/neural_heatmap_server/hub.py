"""WebSocket fan-out: per-connection subscriptions and bounded send queues.

Policy (docs/http-api.md, "Slow clients"): every connection has its own queue
of at most ``--ws-queue`` messages and its own sender task, so a slow client
only ever slows itself.

- Heatmap, correlation and temporal updates are *droppable*: while an update
  of the same kind (per layer for heatmaps) is still queued, a newer one
  replaces it in place (newest wins); when the queue is full, new ones are
  dropped for that connection and counted.
- Anomaly updates and answers to requests are never dropped. If an anomaly
  update finds the queue full, the connection is closed with code 1013 (try
  again later) so the client resumes with ``after_sequence``.
- An anomaly subscription that asked for heartbeats gets an
  ``anomaly_heartbeat`` carrying the log head whenever it has been sent no
  anomaly for that long and its queue is empty (so the head it names never
  runs ahead of the anomalies queued before it); see ``ws``.
- ``versions`` messages (see ``versions``) coalesce like droppable updates (only the
  newest matters) but are never dropped: a cache that missed one could serve a
  stale answer, so a full queue closes the connection with 1013 instead.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from aiohttp import WSCloseCode, WSMsgType, web

from .wire import dumps

log = logging.getLogger(__name__)


@dataclass
class HeatmapSubscription:
    """Which layers a connection wants heatmaps of (None: per the stored filter)."""

    model_ids: set[str] | None = None
    layer_ids: set[str] | None = None


@dataclass
class AnomalySubscription:
    """Which anomalies a connection wants live."""

    min_rank: int = 0
    model_ids: set[str] | None = None
    heartbeat: float | None = None  # seconds of anomaly silence before a heartbeat


@dataclass(eq=False)  # identity semantics: connections live in a set
class Connection:
    """One WebSocket client: subscriptions, queue and sender."""

    ws: web.WebSocketResponse
    max_queue: int
    heatmap: HeatmapSubscription | None = None
    correlations: bool = False
    temporal: bool = False
    anomalies: AnomalySubscription | None = None
    dropped: int = 0
    closed: bool = False
    last_anomaly_at: float = field(default_factory=time.monotonic)  # anomaly or heartbeat
    _queue: deque[list[Any]] = field(default_factory=deque)  # [coalescing key, text]
    _pending: dict[str, list[Any]] = field(default_factory=dict)
    _wakeup: asyncio.Event = field(default_factory=asyncio.Event)
    _closing: asyncio.Task[bool] | None = None

    def send(self, message: dict[str, Any]) -> None:
        """Queue an answer (never dropped; a client flooding requests is closed)."""
        if len(self._queue) >= 2 * self.max_queue:
            self.close(WSCloseCode.TRY_AGAIN_LATER, "send queue overflow")
            return
        self._push(["", dumps(message)])

    def send_text(self, text: str | bytes) -> None:
        """``send`` for a message a worker has already encoded (bytes: UTF-8 JSON, sent
        as a text frame without being decoded and encoded again on the event loop)."""
        if len(self._queue) >= 2 * self.max_queue:
            self.close(WSCloseCode.TRY_AGAIN_LATER, "send queue overflow")
            return
        self._push(["", text])

    def offer_update(self, key: str, text: str) -> None:
        """Queue a droppable update (coalesced by ``key``)."""
        entry = self._pending.get(key)
        if entry is not None:
            entry[1] = text
            return
        if len(self._queue) >= self.max_queue:
            self.dropped += 1
            return
        entry = [key, text]
        self._pending[key] = entry
        self._push(entry)

    def offer_anomalies(self, text: str) -> None:
        """Queue an anomaly update; a full queue closes the connection with 1013."""
        if len(self._queue) >= self.max_queue:
            self.close(WSCloseCode.TRY_AGAIN_LATER,
                       "anomaly queue full; resume with after_sequence")
            return
        self.last_anomaly_at = time.monotonic()
        self._push(["", text])

    def offer_versions(self, text: str) -> None:
        """Queue a ``versions`` message: replaces a queued one, closes on a full queue."""
        entry = self._pending.get("versions")
        if entry is not None:
            entry[1] = text
            return
        if len(self._queue) >= self.max_queue:
            self.close(WSCloseCode.TRY_AGAIN_LATER, "versions queue full; subscribe again")
            return
        entry = ["versions", text]
        self._pending["versions"] = entry
        self._push(entry)

    def offer_heartbeat(self, text: str) -> bool:
        """Queue an ``anomaly_heartbeat`` only when nothing is queued (an idle connection).

        A heartbeat behind queued messages would say nothing the queue does not, and
        it must never overtake anomalies queued before it.
        """
        if self._queue or self.closed:
            return False
        self.last_anomaly_at = time.monotonic()
        self._push(["", text])
        return True

    def _push(self, entry: list[Any]) -> None:
        if self.closed:
            return
        self._queue.append(entry)
        self._wakeup.set()

    def close(self, code: int, reason: str) -> None:
        """Close the socket soon (from synchronous code)."""
        if self.closed:
            return
        self.stop()
        self._closing = asyncio.get_running_loop().create_task(
            self.ws.close(code=code, message=reason.encode()))

    def stop(self) -> None:
        """Mark closed, drop whatever is queued and let the sender task finish."""
        self.closed = True
        self._queue.clear()
        self._pending.clear()
        self._wakeup.set()

    async def run_sender(self) -> None:
        """Drain the queue to the socket until the connection closes."""
        while not self.closed:
            await self._wakeup.wait()
            self._wakeup.clear()
            while self._queue and not self.closed:
                entry = self._queue.popleft()
                if entry[0] and self._pending.get(entry[0]) is entry:
                    del self._pending[entry[0]]
                try:
                    if isinstance(entry[1], bytes):
                        await self.ws.send_frame(entry[1], WSMsgType.TEXT)
                    else:
                        await self.ws.send_str(entry[1])
                except (ConnectionError, RuntimeError):
                    self.closed = True
                    return


class Hub:
    """All live connections and the fan-out of server-pushed updates.

    Args:
        max_queue: Per-connection queue bound (``--ws-queue``).
        heatmap_hz: Most heatmap updates per layer per second.
    """

    def __init__(self, max_queue: int, heatmap_hz: float) -> None:
        self.max_queue = max_queue
        self.heatmap_interval = 1.0 / heatmap_hz
        self.connections: set[Connection] = set()
        self.version_listeners: set[Connection] = set()  # subscribed to ``versions``
        # Newest sequence handed to publish_anomalies: what a heartbeat may name as the head
        # (the log's own head may run ahead of it while an append is being published).
        self.last_published: int | None = None
        self._last_heatmap: dict[tuple[str, str], float] = {}

    def open(self, ws: web.WebSocketResponse) -> Connection:
        """Register a new connection."""
        conn = Connection(ws, self.max_queue)
        self.connections.add(conn)
        return conn

    def discard(self, conn: Connection) -> None:
        """Forget a closed connection."""
        conn.stop()
        self.connections.discard(conn)
        self.version_listeners.discard(conn)

    def wants_heatmap(self, model_id: str, layer_id: str, default_models: list[str] | None,
                      default_layers: list[str] | None) -> list[Connection]:
        """Connections that should get this layer's heatmap now (rate limit applied).

        The rate-limit slot is only used up by ``heatmap_sent``, so a frame the
        filter hides entirely does not delay the next one.
        """
        now = time.monotonic()
        key = (model_id, layer_id)
        if now - self._last_heatmap.get(key, -1e9) < self.heatmap_interval:
            return []
        out = []
        for conn in self.connections:
            sub = conn.heatmap
            if sub is None or conn.closed:
                continue
            models = sub.model_ids if sub.model_ids is not None else (
                set(default_models) if default_models else None)
            layers = sub.layer_ids if sub.layer_ids is not None else (
                set(default_layers) if default_layers else None)
            if models is not None and model_id not in models:
                continue
            if layers is not None and layer_id not in layers and \
                    f"{model_id}/{layer_id}" not in layers:
                continue
            out.append(conn)
        return out

    def heatmap_sent(self, model_id: str, layer_id: str) -> None:
        """Start the layer's rate-limit interval (a heatmap was just sent)."""
        self._last_heatmap[(model_id, layer_id)] = time.monotonic()

    def publish_anomalies(self, anomalies: list[dict[str, Any]], rank: dict[str, int]) -> None:
        """Push ``anomaly_update`` to every anomaly subscriber (filtered per connection)."""
        if anomalies and "sequence" in anomalies[-1]:
            self.last_published = int(anomalies[-1]["sequence"])
        for conn in list(self.connections):
            sub = conn.anomalies
            if sub is None or conn.closed:
                continue
            chosen = [a for a in anomalies if rank[a["severity"]] >= sub.min_rank
                      and (sub.model_ids is None or a["model_id"] in sub.model_ids)]
            if chosen:
                conn.offer_anomalies(dumps(anomaly_update(chosen, rank)))

    def publish_update(self, kind: str, attr: str, payload: dict[str, Any]) -> None:
        """Push a droppable ``correlation_update``/``temporal_update`` to subscribers."""
        text = dumps({"type": kind, "data": payload})
        for conn in list(self.connections):
            if getattr(conn, attr) and not conn.closed:
                conn.offer_update(kind, text)

    def publish_versions(self, message: dict[str, Any]) -> None:
        """Push the ``versions`` message to every connection subscribed to it."""
        if not self.version_listeners:
            return
        text = dumps(message)
        for conn in list(self.version_listeners):
            if not conn.closed:
                conn.offer_versions(text)

    def has_subscribers(self, attr: str) -> bool:
        """Whether any open connection has ``attr`` set."""
        return any(getattr(c, attr) and not c.closed for c in self.connections)

    async def close_all(self) -> None:
        """Close every connection (shutdown)."""
        for conn in list(self.connections):
            with contextlib.suppress(Exception):
                await conn.ws.close(code=WSCloseCode.GOING_AWAY, message=b"server shutdown")
            self.discard(conn)


def anomaly_update(anomalies: list[dict[str, Any]], rank: dict[str, int]) -> dict[str, Any]:
    """The ``anomaly_update`` message; severity/description of the worst anomaly."""
    worst = max(anomalies, key=lambda a: (rank[a["severity"]], a["score"]))
    return {"type": "anomaly_update",
            "data": {"timestamp": time.time(), "anomalies": anomalies,
                     "severity": worst["severity"], "description": worst["description"]}}
