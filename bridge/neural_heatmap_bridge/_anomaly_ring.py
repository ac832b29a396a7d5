"""The bridge's ring of recent anomalies, and how a stream catches up to it.

A stream delivers sequences strictly increasing, each once: it keeps a cursor,
first catches up (from the ring when the ring reaches back to its cursor, else
by paging ``GET /api/anomalies``), then reads live. A cursor pruned from the
server's log ends the stream with OUT_OF_RANGE.

The ring is trusted only while it is *current*: the upstream WebSocket is
connected and has acknowledged the anomaly subscription made on that
connection (the server acknowledges first, then replays from the bridge's last
sequence, then sends live ones, so from the acknowledgement on nothing after
the ring's head can be missed). Otherwise anomalies logged meanwhile would
wait in no ring: so when a connection ends every live stream drops back to
catching up, and catching-up streams page the server's log (polling every
``POLL_INTERVAL`` seconds once they have read it all) until the ring is current
again. Cursors make the hand-over exact both ways.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from typing import Any, Protocol

import grpc
from neural_heatmap_contract import policy
from neural_heatmap_contract.routes import http
from neural_heatmap_contract.v1 import analytics_pb2

from . import _errors
from ._anomaly_cache import AnomalyCache
from ._config import BridgeConfig
from ._mailbox import Mailbox
from ._upstream import CallOptions, Query

log = logging.getLogger("neural_heatmap_bridge.fanout")

# Failed log reads worth repeating (the unary retry set every client shares).
_TRANSIENT = frozenset(grpc.StatusCode[name] for name in policy.UNARY_RETRY_CODES)
# The log's head and pages: GetAnomalies' route (JetStreamReader answers it too).
_ANOMALIES = http("GetAnomalies").path


class AnomalyLogReader(Protocol):
    """Where heads and catch-up pages come from: the server (``Upstream``) or, when the
    log is a JetStream stream, the stream itself (``_jetstream.JetStreamReader``)."""

    async def get_json(
        self, path: str, opts: CallOptions, params: Query | None = None
    ) -> dict[str, Any]:
        """``GET /api/anomalies`` (``limit`` alone: the head; ``after_sequence``: a page)."""


class AnomalyRing:
    """Recent anomalies by sequence, the upstream log's head, and the live streams.

    Args:
        config: Ring and page sizes, timeouts.
        upstream: Where heads and catch-up pages are read (the server, or the stream).
        cache: Converted anomalies by sequence (shared with ``GetAnomalies``).
    """

    def __init__(
        self, config: BridgeConfig, upstream: AnomalyLogReader, cache: AnomalyCache
    ) -> None:
        self._config = config
        self._up = upstream
        self._cache = cache
        self._ring: deque[analytics_pb2.Anomaly] = deque(maxlen=config.ring_size)
        self.head: int | None = None  # last sequence the bridge has seen
        self.current = False  # the ring will receive everything after head (see above)
        self.sequenced: bool | None = None  # does the upstream number anomalies?
        self.live: set[Mailbox] = set()  # anomaly mailboxes reading from the ring
        self._head_lock = asyncio.Lock()

    def _opts(self) -> CallOptions:
        return CallOptions(self._config.upstream_timeout, "")

    async def ensure_head(self) -> None:
        """Learn the upstream log's head (and whether it numbers anomalies at all)."""
        async with self._head_lock:
            if self.head is not None or self.sequenced is False:
                return
            doc = await self._up.get_json(_ANOMALIES, self._opts(), {"limit": "1"})
            if "last_sequence" in doc:
                self.sequenced = True
                self.head = int(doc["last_sequence"] or 0)
            else:
                self.sequenced = False

    def resume_point(self) -> int | None:
        """The ``after_sequence`` of the bridge's own upstream subscription."""
        return self.head if self.sequenced and self.head is not None else None

    def add(self, items: list[analytics_pb2.Anomaly]) -> None:
        """Anomalies from the upstream WebSocket: into the ring, then to every live stream."""
        if self.sequenced:
            fresh = []
            for a in items:
                if self.head is not None and a.sequence <= self.head:
                    continue  # a replay overlapping what we have
                self.head = a.sequence
                self._ring.append(a)
                fresh.append(a)
            items = fresh
        if items:
            for mb in self.live:
                mb.put_anomalies(items)

    def head_is_behind(self, upstream_head: int) -> bool:
        """Whether a current ring missed anomalies up to the upstream's heartbeat head.

        The upstream queues a heartbeat only behind every anomaly up to the head it
        names, so on a current ring a head beyond ours means anomalies went missing
        on the way.
        """
        if not (self.current and self.sequenced and self.head is not None):
            return False
        return upstream_head > self.head

    def distrust(self) -> None:
        """The ring may miss anomalies: every live stream catches up from its cursor."""
        self.current = False
        for mb in self.live:
            mb.overflowed = True
            mb.wake.set()

    def reset(self) -> None:
        """The bridge's own resume point was pruned: start over from the log's head."""
        self.head = None
        self._ring.clear()
        self.distrust()

    async def log_head(self, opts: CallOptions) -> int:
        """The server log's newest sequence now ("only new ones" start after it)."""
        try:
            doc = await self._up.get_json(_ANOMALIES, opts, {"limit": "1"})
            return int(doc.get("last_sequence") or 0)
        except _errors.UpstreamError as exc:
            if exc.code in _TRANSIENT and self.head is not None:
                return self.head
            raise

    async def catch_up(self, mb: Mailbox) -> list[analytics_pb2.Anomaly]:
        """One step of catching up: go live if the ring reaches the cursor, else read a page."""
        assert mb.cursor is not None
        if not await mb.sub.hooks.may_catch_up(mb):
            return []
        if self.current and self.head is not None:
            ring_first = self._ring[0].sequence if self._ring else self.head + 1
            if mb.cursor >= ring_first - 1:
                # Atomic (no await): snapshot the ring and start receiving what follows it.
                snapshot = [a for a in self._ring if a.sequence > mb.cursor]
                mb.catching_up = False
                self.live.add(mb)
                return mb.take(snapshot)
        params = {"after_sequence": str(mb.cursor), "limit": str(self._config.page_size)}
        # A page answers in milliseconds; waiting longer than the stall bound would keep
        # the stream from its watchdog and from seeing it was closed.
        page_opts = CallOptions(min(self._config.upstream_timeout, self._config.stall_timeout), "")
        try:
            doc = await self._up.get_json(_ANOMALIES, page_opts, params)
        except _errors.UpstreamError as exc:
            if exc.code not in _TRANSIENT:
                if exc.code is grpc.StatusCode.OUT_OF_RANGE:
                    raise exc.annotated(
                        f"anomalies after sequence {mb.cursor} were pruned from the server's "
                        "log; resubscribe without after_sequence (or after the log's "
                        "first_sequence) and accept the gap"
                    ) from exc
                raise
            await mb.pause()  # upstream down: try again (the pump reconnects meanwhile)
            return []
        page = self._cache.convert(doc.get("anomalies"))
        if not page:
            await mb.pause()  # read it all; the ring is not current yet (or is being reset)
        return mb.take(page)
