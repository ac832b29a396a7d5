"""Fan-out of the shared upstream WebSocket to every gRPC stream, with resumable anomalies.

Policies (also in docs/bridge.md):

* Upstream subscriptions follow demand: heatmap, correlation and temporal
  updates are subscribed upstream while at least one stream wants them; the
  upstream heatmap subscription names the union of the streams' models (and
  layers) when every heatmap stream names some, and is resent as that changes.
  Anomalies stay subscribed once any stream asked for them, so the bridge's
  in-memory ring of recent anomalies stays current for resuming clients.
* Each stream has a ``_Mailbox``. Heatmap updates coalesce per
  ``(model, layer)`` (newest wins), correlation and temporal updates keep only
  the newest one; each replacement of an unread update is counted. Memory per
  stream is bounded by the number of layers plus ``--queue-size`` anomalies
  (a single upstream batch is always taken into an empty queue, so one big
  batch alone is not an overflow).
* Anomalies are never dropped. The bridge subscribes upstream with
  ``after_sequence`` = the last sequence it has seen, so a reconnect replays
  exactly what it missed. A stream delivers sequences strictly increasing,
  each once: it keeps a cursor, first catches up (from the ring when the ring
  reaches back to its cursor, else by paging ``GET /api/anomalies``), then
  reads live. If its live queue overflows it is not blocked and nothing is
  lost: it finishes what is queued, then catches up again from its cursor.
  A cursor pruned from the server's log ends the stream with OUT_OF_RANGE.
* The ring is trusted only while it is *current*: the upstream WebSocket is
  connected and has acknowledged the anomaly subscription made on that
  connection (the server acknowledges first, then replays from the bridge's
  last sequence, then sends live ones, so from the acknowledgement on nothing
  after the ring's head can be missed). Otherwise the WebSocket may be down
  or not yet resubscribed while HTTP works, and anomalies logged meanwhile
  would wait in no ring: so when a connection ends every live stream drops
  back to catching up, and catching-up streams page the server's log (polling
  every ``POLL_INTERVAL`` seconds once they have read it all) until the ring
  is current again. Cursors make the hand-over exact both ways.
* Liveness (docs/reliability.md, "Liveness"): every anomaly stream (and the
  anomaly part of ``StreamUpdates``) gets an ``AnomalyHeartbeat`` whenever it
  has sent no anomaly (nor heartbeat) for ``--heartbeat-interval`` seconds; a
  heartbeat names the log head the bridge knows. A stream whose
  cursor stays behind a head it was told, without advancing, for
  ``--stall-timeout`` seconds is stuck by definition: its own watchdog ends it
  with UNAVAILABLE so the client resumes. The upstream is asked for its own
  ``anomaly_heartbeat``: one naming a head beyond the ring while the ring is
  current means the subscription lost something, so it is renewed. An
  upstream that stops answering (see ``_pump``) ends every stream with
  UNAVAILABLE, and new ones are refused until it answers again.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
import math
import time
from collections import OrderedDict, deque
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import grpc
from google.protobuf.message import Message
from neural_heatmap_contract.v1 import analytics_pb2, updates_pb2

from . import _convert as cv
from . import _errors
from ._anomaly_cache import AnomalyCache
from ._config import BridgeConfig
from ._faults import Fault
from ._metrics import Metrics
from ._pump import Pump
from ._upstream import CallOptions, Upstream

log = logging.getLogger("neural_heatmap_bridge.fanout")

_TRANSIENT = (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED)
# How often a caught-up stream re-reads the server's log while the ring is not current.
POLL_INTERVAL = 0.5
# The upstream's accepted range of heartbeat_interval (docs/http-api.md).
_UPSTREAM_HEARTBEAT_RANGE = (0.1, 60.0)


class Kind(enum.Enum):
    """Kinds of live update; the value is the field name in ``StreamUpdatesResponse``."""

    HEATMAP = "heatmap"
    CORRELATION = "correlation"
    TEMPORAL = "temporal"
    ANOMALY = "anomaly"


_UPSTREAM_NAME = {
    Kind.HEATMAP: "heatmap",
    Kind.CORRELATION: "correlations",
    Kind.TEMPORAL: "temporal",
    Kind.ANOMALY: "anomalies",
}


@dataclass
class Subscription:
    """What one stream asked for."""

    kinds: set[Kind]
    model_ids: set[str] = field(default_factory=set)
    layer_ids: set[str] = field(default_factory=set)
    min_severity: int = 0
    after_sequence: int | None = None
    fault: Fault | None = None  # test-only, see _faults


class _Mailbox:
    """One stream's bounded buffers (see the module docstring for the policy)."""

    def __init__(self, sub: Subscription, queue_size: int, metrics: Metrics) -> None:
        self.sub = sub
        self.heatmap: OrderedDict[tuple[str, str], updates_pb2.HeatmapUpdate] = OrderedDict()
        self.correlation: updates_pb2.CorrelationUpdate | None = None
        self.temporal: updates_pb2.TemporalUpdate | None = None
        self.anomalies: list[analytics_pb2.Anomaly] = []
        self.cursor: int | None = None  # last sequence passed (delivered or filtered out)
        self.catching_up = Kind.ANOMALY in sub.kinds
        self.overflowed = False
        self.closed: _errors.UpstreamError | None = None
        self.wake = asyncio.Event()
        self.anomaly_sent_at = -math.inf  # last anomaly update or heartbeat (monotonic)
        self.told: int | None = None  # head named in the last heartbeat
        self.behind_since: float | None = None  # when the cursor was last seen behind it
        self._queue_size = queue_size
        self._metrics = metrics

    def put_heatmap(self, update: updates_pb2.HeatmapUpdate) -> None:
        if self.sub.model_ids and update.model_id not in self.sub.model_ids:
            return
        if self.sub.layer_ids and update.layer not in self.sub.layer_ids:
            return
        key = (update.model_id, update.layer)
        if self.heatmap.pop(key, None) is not None:
            self._metrics.coalesced.labels("heatmap").inc()
        self.heatmap[key] = update
        self.wake.set()

    def put_correlation(self, update: updates_pb2.CorrelationUpdate) -> None:
        if self.correlation is not None:
            self._metrics.coalesced.labels("correlation").inc()
        self.correlation = update
        self.wake.set()

    def put_temporal(self, update: updates_pb2.TemporalUpdate) -> None:
        if self.temporal is not None:
            self._metrics.coalesced.labels("temporal").inc()
        self.temporal = update
        self.wake.set()

    def put_anomalies(self, items: list[analytics_pb2.Anomaly]) -> None:
        if self.overflowed:
            return
        if self.anomalies and len(self.anomalies) + len(items) > self._queue_size:
            # Not lost: they are in the ring or the server's log; the stream re-reads them.
            self.overflowed = True
            self._metrics.anomaly_overflows.inc()
        else:
            self.anomalies.extend(items)
        self.wake.set()

    def close(self, err: _errors.UpstreamError) -> None:
        self.closed = err
        self.wake.set()

    def take(self, items: list[analytics_pb2.Anomaly]) -> list[analytics_pb2.Anomaly]:
        """Advance the cursor over ``items`` and return those this stream wants."""
        out = []
        for a in items:
            if self.cursor is not None and a.sequence:
                if a.sequence <= self.cursor:
                    continue
                self.cursor = a.sequence
                self.behind_since = None  # progress
            if self.sub.model_ids and a.model_id not in self.sub.model_ids:
                continue
            if a.severity < self.sub.min_severity:
                continue
            out.append(a)
        return out

    def drain(self) -> list[tuple[Kind, Message]]:
        """Everything buffered, oldest kind first, anomalies last."""
        out: list[tuple[Kind, Message]] = [(Kind.HEATMAP, u) for u in self.heatmap.values()]
        self.heatmap.clear()
        if self.correlation is not None:
            out.append((Kind.CORRELATION, self.correlation))
            self.correlation = None
        if self.temporal is not None:
            out.append((Kind.TEMPORAL, self.temporal))
            self.temporal = None
        if self.anomalies:
            wanted = self.take(self.anomalies)
            self.anomalies = []
            if wanted:
                out.append((Kind.ANOMALY, cv.anomaly_update(wanted)))
                self.anomaly_sent_at = time.monotonic()
        return out


class Fanout:
    """The shared upstream WebSocket, the anomaly ring, and every stream's mailbox.

    Args:
        config: Queue, ring and page sizes.
        upstream: HTTP client (for heads and catch-up pages) and WebSocket session.
        metrics: Where drops, coalescing and reconnects are counted.
        anomalies: Converted anomalies by sequence (shared with ``GetAnomalies``).
    """

    def __init__(
        self,
        config: BridgeConfig,
        upstream: Upstream,
        metrics: Metrics,
        anomalies: AnomalyCache | None = None,
    ) -> None:
        self._config = config
        self._anomaly_cache = anomalies or AnomalyCache(config.anomaly_cache)
        self._up = upstream
        self._metrics = metrics
        self._pump = Pump(
            upstream,
            self._on_open,
            self._on_message,
            self._on_close,
            metrics,
            config.stall_timeout,
        )
        self._mailboxes: set[_Mailbox] = set()
        self._live: set[_Mailbox] = set()  # anomaly mailboxes reading from the ring
        self._wanted: dict[Kind, int] = dict.fromkeys(Kind, 0)
        self._anomalies_on = False
        self._ring: deque[analytics_pb2.Anomaly] = deque(maxlen=config.ring_size)
        self._head: int | None = None  # last sequence the bridge has seen
        self._current = False  # the ring will receive everything after _head (see above)
        self._tasks: set[asyncio.Task[None]] = set()  # strong references until done
        self._sequenced: bool | None = None  # does the upstream number anomalies?
        self._head_lock = asyncio.Lock()
        self._closing: _errors.UpstreamError | None = None
        self._heatmap_sent: dict[str, Any] | None = None  # None: not subscribed upstream
        self._stalled: _errors.UpstreamError | None = None  # set while the upstream is stalled

    # ------------------------------------------------------------ lifecycle
    async def close(self, err: _errors.UpstreamError) -> None:
        """End every stream with ``err`` and stop the upstream connection."""
        self._closing = err
        for mb in list(self._mailboxes):
            mb.close(err)
        await self._pump.stop()

    # ------------------------------------------------------------ upstream side
    def _opts(self) -> CallOptions:
        return CallOptions(self._config.upstream_timeout, "")

    async def _ensure_head(self) -> None:
        """Learn the upstream log's head (and whether it numbers anomalies at all)."""
        async with self._head_lock:
            if self._head is not None or self._sequenced is False:
                return
            doc = await self._up.get_json("/api/anomalies", self._opts(), {"limit": "1"})
            if "last_sequence" in doc:
                self._sequenced = True
                self._head = int(doc["last_sequence"] or 0)
            else:
                self._sequenced = False

    def _subscribe_data(self, kind: Kind) -> dict[str, Any]:
        if kind is Kind.ANOMALY:
            low, high = _UPSTREAM_HEARTBEAT_RANGE
            data: dict[str, Any] = {
                "heartbeat_interval": min(high, max(low, self._config.heartbeat_interval))
            }
            if self._sequenced and self._head is not None:
                data["after_sequence"] = self._head
            return data
        if kind is Kind.HEATMAP:
            return self._heatmap_data()
        return {}

    def _heatmap_data(self) -> dict[str, Any]:
        """The narrowest upstream heatmap subscription that covers every heatmap stream."""
        subs = [mb.sub for mb in self._mailboxes if Kind.HEATMAP in mb.sub.kinds]
        data: dict[str, Any] = {}
        if subs and all(s.model_ids for s in subs):
            data["model_ids"] = sorted(set().union(*(s.model_ids for s in subs)))
        if subs and all(s.layer_ids for s in subs):
            data["layer_ids"] = sorted(set().union(*(s.layer_ids for s in subs)))
        return data

    async def _update_heatmap(self) -> None:
        """Resend the upstream heatmap subscription when the streams' union changed."""
        data = self._heatmap_data() if self._wanted[Kind.HEATMAP] else None
        if data == self._heatmap_sent:
            return
        self._heatmap_sent = data
        if data is None:
            await self._pump.send("unsubscribe_heatmap", {})
        else:
            self._pump.start()
            await self._pump.send("subscribe_heatmap", data)

    async def _on_open(self) -> None:
        self._stalled = None
        if self._anomalies_on:
            await self._ensure_head()
        if self._wanted[Kind.HEATMAP]:
            self._heatmap_sent = self._heatmap_data()
        for kind in Kind:
            if self._wanted[kind] or (kind is Kind.ANOMALY and self._anomalies_on):
                await self._pump.send(
                    f"subscribe_{_UPSTREAM_NAME[kind]}", self._subscribe_data(kind)
                )

    async def _want(self, kind: Kind) -> None:
        self._wanted[kind] += 1
        if kind is Kind.HEATMAP:
            await self._update_heatmap()
            return
        if kind is Kind.ANOMALY:
            if self._anomalies_on:
                return
            await self._ensure_head()
            self._anomalies_on = True
        elif self._wanted[kind] > 1:
            return
        self._pump.start()
        await self._pump.send(f"subscribe_{_UPSTREAM_NAME[kind]}", self._subscribe_data(kind))

    async def _unwant(self, kind: Kind) -> None:
        self._wanted[kind] -= 1
        if self._closing is not None:
            return
        if kind is Kind.HEATMAP:
            await self._update_heatmap()
        elif self._wanted[kind] == 0 and kind is not Kind.ANOMALY:
            await self._pump.send(f"unsubscribe_{_UPSTREAM_NAME[kind]}", {})

    def _on_message(self, kind: str, data: dict[str, Any]) -> None:
        try:
            if kind == "heatmap_update":
                heat = cv.heatmap_update(data)
                for mb in self._mailboxes:
                    if Kind.HEATMAP in mb.sub.kinds:
                        mb.put_heatmap(heat)
            elif kind == "correlation_update":
                corr = cv.correlation_update(data)
                for mb in self._mailboxes:
                    if Kind.CORRELATION in mb.sub.kinds:
                        mb.put_correlation(corr)
            elif kind == "temporal_update":
                temp = cv.temporal_update(data)
                for mb in self._mailboxes:
                    if Kind.TEMPORAL in mb.sub.kinds:
                        mb.put_temporal(temp)
            elif kind == "anomaly_update":
                self._on_anomalies(self._anomaly_cache.convert(data.get("anomalies")))
            elif kind == "anomaly_heartbeat":
                self._on_upstream_heartbeat(int(data["last_sequence"]))
            elif kind == "data":
                if data.get("request") == "subscribe_anomalies" and data.get("status") == "ok":
                    self._on_anomalies_acknowledged()
            elif kind == "error":
                self._on_error(data)
        except (ValueError, TypeError, KeyError, AttributeError) as exc:
            log.warning("dropping malformed upstream %s: %s", kind, exc)

    def _on_anomalies(self, items: list[analytics_pb2.Anomaly]) -> None:
        if self._sequenced:
            fresh = []
            for a in items:
                if self._head is not None and a.sequence <= self._head:
                    continue  # a replay overlapping what we have
                self._head = a.sequence
                self._ring.append(a)
                fresh.append(a)
            items = fresh
        if items:
            for mb in self._live:
                mb.put_anomalies(items)

    def _on_anomalies_acknowledged(self) -> None:
        """The ring is current: let catching-up streams go live without waiting for a poll."""
        self._current = True
        for mb in self._mailboxes:
            if mb.catching_up:
                mb.wake.set()

    def _on_upstream_heartbeat(self, last_sequence: int) -> None:
        """Check the ring against the upstream's head (the log-head watchdog).

        The upstream queues a heartbeat only behind every anomaly up to the head it
        names, so on a current ring a head beyond ours means anomalies went missing
        on the way: stop trusting the ring and subscribe again from our head.
        """
        if not (self._current and self._sequenced and self._head is not None):
            return
        if last_sequence <= self._head:
            return
        log.warning(
            "upstream log head %d is ahead of the ring's %d: renewing the subscription",
            last_sequence,
            self._head,
        )
        self._current = False
        self._demote_live()
        self._spawn(self._pump.send("subscribe_anomalies", self._subscribe_data(Kind.ANOMALY)))

    def _spawn(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _demote_live(self) -> None:
        """Make every live anomaly stream catch up from its cursor (ring no longer trusted)."""
        for mb in self._live:
            mb.overflowed = True
            mb.wake.set()

    def _on_close(self, stalled: bool) -> None:
        self._current = False
        if stalled and self._closing is None:
            # Clients must not wait on an upstream that stopped answering: end every
            # stream so they resume (here once it answers again, or elsewhere).
            self._stalled = _errors.UpstreamError(
                grpc.StatusCode.UNAVAILABLE,
                "UPSTREAM_STALLED",
                "the upstream server stopped answering; resume with after_sequence = the "
                "last sequence you received",
            )
            for mb in list(self._mailboxes):
                mb.close(self._stalled)
        elif self._sequenced and self._closing is None:
            self._demote_live()

    def _on_error(self, data: dict[str, Any]) -> None:
        if data.get("code") != "sequence_expired":
            log.warning("upstream WebSocket error: %s", data)
            return
        # The bridge's own resume point was pruned: start over from the log's head and
        # make every live stream re-read from its cursor (which then reports OUT_OF_RANGE).
        log.warning("upstream pruned the bridge's resume point; resetting the anomaly ring")
        self._head = None
        self._current = False
        self._ring.clear()
        self._demote_live()
        self._spawn(self._resubscribe_anomalies())

    async def _resubscribe_anomalies(self) -> None:
        try:
            await self._ensure_head()
        except _errors.UpstreamError as exc:
            log.warning("cannot reread anomaly head (%s); the next reconnect will", exc)
            return
        await self._pump.send("subscribe_anomalies", self._subscribe_data(Kind.ANOMALY))

    # ------------------------------------------------------------ stream side
    async def stream(
        self, sub: Subscription, opts: CallOptions
    ) -> AsyncIterator[tuple[Kind, Message]]:
        """Yield ``(kind, update)`` for one stream until it is cancelled or closed.

        Raises:
            UpstreamError: OUT_OF_RANGE when its resume point is pruned, UNAVAILABLE on
                shutdown or when the upstream is unreachable at the start.
        """
        if self._closing is not None:
            raise self._closing
        if self._stalled is not None:
            raise self._stalled
        mb = _Mailbox(sub, self._config.queue_size, self._metrics)
        if Kind.ANOMALY in sub.kinds:
            await self._ensure_head()
            if not self._sequenced:
                if sub.after_sequence is not None:
                    raise _errors.unimplemented(
                        "GET /api/anomalies?after_sequence",
                        "the upstream's anomalies carry no sequence",
                    )
                mb.catching_up = False
                self._live.add(mb)
            elif sub.after_sequence is not None:
                mb.cursor = sub.after_sequence
            else:
                mb.cursor = await self._log_head(opts)
        self._mailboxes.add(mb)
        # Only what was counted is uncounted: a stream cancelled while subscribing must not
        # drive another kind's demand negative (which would starve later streams).
        wanted: list[Kind] = []
        try:
            for kind in sub.kinds:
                wanted.append(kind)  # _want counts before its first await
                await self._want(kind)
            beats = Kind.ANOMALY in sub.kinds
            mb.anomaly_sent_at = time.monotonic()  # the first heartbeat after one idle interval
            while True:
                if mb.closed is not None:
                    raise mb.closed
                if mb.catching_up:
                    batch = await self._catch_up(mb)
                    if batch:
                        mb.anomaly_sent_at = time.monotonic()
                        yield Kind.ANOMALY, cv.anomaly_update(batch)
                    for item in mb.drain():
                        yield item
                else:
                    with contextlib.suppress(TimeoutError):
                        async with asyncio.timeout(self._until_heartbeat(mb) if beats else None):
                            await mb.wake.wait()
                    mb.wake.clear()
                    for item in mb.drain():
                        yield item
                    if mb.overflowed and mb.closed is None:
                        self._live.discard(mb)
                        mb.overflowed = False
                        mb.catching_up = True
                if beats and self._until_heartbeat(mb) <= 0:
                    self._check_progress(mb)
                    yield Kind.ANOMALY, self._heartbeat(mb)
                    if sub.fault is Fault.FREEZE:  # test-only (see _faults)
                        await asyncio.get_running_loop().create_future()  # until cancelled
        finally:
            self._mailboxes.discard(mb)
            self._live.discard(mb)
            for kind in wanted:
                await self._unwant(kind)

    def _until_heartbeat(self, mb: _Mailbox) -> float:
        """Seconds until ``mb``'s next heartbeat is due (its wait must not outlast that)."""
        return max(0.0, mb.anomaly_sent_at + self._config.heartbeat_interval - time.monotonic())

    def _heartbeat(self, mb: _Mailbox) -> updates_pb2.AnomalyHeartbeat:
        """The next heartbeat for ``mb``; remember the head it names for the watchdog."""
        head = self._head if self._sequenced and self._head is not None else 0
        now = time.monotonic()
        if mb.cursor is not None and mb.cursor < head:
            mb.told = head
            if mb.behind_since is None:
                mb.behind_since = now
        mb.anomaly_sent_at = now
        beat = updates_pb2.AnomalyHeartbeat(last_sequence=head)
        beat.timestamp.GetCurrentTime()
        return beat

    def _check_progress(self, mb: _Mailbox) -> None:
        """The per-stream watchdog: end a stream stuck behind a head it was told.

        Raises:
            UpstreamError: UNAVAILABLE when the cursor has stayed behind that head,
                without advancing, for ``--stall-timeout`` seconds.
        """
        if mb.behind_since is None or mb.told is None or mb.cursor is None:
            return
        if mb.cursor >= mb.told:
            mb.behind_since = None
            return
        stuck_for = time.monotonic() - mb.behind_since
        if stuck_for >= self._config.stall_timeout:
            self._metrics.stalled_streams.inc()
            raise _errors.UpstreamError(
                grpc.StatusCode.UNAVAILABLE,
                "STREAM_STALLED",
                f"the stream made no progress past sequence {mb.cursor} for {stuck_for:.1f} s "
                f"although the log reached {mb.told}; resume with after_sequence = the last "
                "sequence you received",
            )

    async def _log_head(self, opts: CallOptions) -> int:
        """The server log's newest sequence now ("only new ones" start after it)."""
        try:
            doc = await self._up.get_json("/api/anomalies", opts, {"limit": "1"})
            return int(doc.get("last_sequence") or 0)
        except _errors.UpstreamError as exc:
            if exc.code in _TRANSIENT and self._head is not None:
                return self._head
            raise

    async def _catch_up(self, mb: _Mailbox) -> list[analytics_pb2.Anomaly]:
        """One step of catching up: go live if the ring reaches the cursor, else read a page."""
        assert mb.cursor is not None
        if mb.sub.fault is Fault.MUTE:
            await _pause(mb)  # test-only: this stream never reads (see _faults)
            return []
        if self._current and self._head is not None:
            ring_first = self._ring[0].sequence if self._ring else self._head + 1
            if mb.cursor >= ring_first - 1:
                # Atomic (no await): snapshot the ring and start receiving what follows it.
                snapshot = [a for a in self._ring if a.sequence > mb.cursor]
                mb.catching_up = False
                self._live.add(mb)
                return mb.take(snapshot)
        params = {"after_sequence": str(mb.cursor), "limit": str(self._config.page_size)}
        # A page answers in milliseconds; waiting longer than the stall bound would keep
        # the stream from its watchdog and from seeing it was closed.
        page_opts = CallOptions(min(self._config.upstream_timeout, self._config.stall_timeout), "")
        try:
            doc = await self._up.get_json("/api/anomalies", page_opts, params)
        except _errors.UpstreamError as exc:
            if exc.code not in _TRANSIENT:
                if exc.code is grpc.StatusCode.OUT_OF_RANGE:
                    raise _errors.UpstreamError(
                        grpc.StatusCode.OUT_OF_RANGE,
                        "SEQUENCE_EXPIRED",
                        f"anomalies after sequence {mb.cursor} were pruned from the server's "
                        "log; resubscribe without after_sequence (or after the log's "
                        "first_sequence) and accept the gap",
                        **exc.metadata,
                    ) from exc
                raise
            await _pause(mb)  # upstream down: try again (the pump reconnects meanwhile)
            return []
        page = self._anomaly_cache.convert(doc.get("anomalies"))
        if not page:
            await _pause(mb)  # read it all; the ring is not current yet (or is being reset)
        return mb.take(page)


async def _pause(mb: _Mailbox) -> None:
    """Wait ``POLL_INTERVAL``, or less if something arrives for the stream or it closes.

    The stream loop drains (and checks ``closed``) after every catch-up step, so the
    wake-up can be consumed here.
    """
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(mb.wake.wait(), POLL_INTERVAL)
    mb.wake.clear()
