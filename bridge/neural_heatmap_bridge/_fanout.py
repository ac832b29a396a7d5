"""Fan-out of the shared upstream WebSocket to every gRPC stream, with resumable anomalies.

The parts, each in its own module (policies also in docs/bridge.md):

* ``_demand``: upstream subscriptions follow the streams' demand.
* ``_mailbox``: each stream's bounded buffers (coalescing, the anomaly queue).
* ``_anomaly_ring``: the ring of recent anomalies, when it is trusted, and how a
  stream catches up to it from its cursor (anomalies are never dropped).
* ``_stream_loop``: one stream's loop with its heartbeats and watchdog.
* ``_slow_readers``: a stream whose client stops reading is ended (RESOURCE_EXHAUSTED).
* ``_malloc``: memory that ended streams freed goes back to the system.
* ``_view``: the view state (filter, theme, layout), read again after every
  ``versions`` push that says it changed.

``Fanout`` ties them to the upstream connection (``_pump``): it routes upstream
messages to the mailboxes, the ring and the read cache (``_read_cache``: the
connection is its push channel, subscribed to ``versions`` on every connect),
and reacts to the connection's ends. An
upstream anomaly heartbeat naming a head beyond a current ring means the
subscription lost something, so it is renewed. An upstream that stops
answering (see ``_pump``) ends every stream with UNAVAILABLE, and new ones are
refused until it answers again.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

import grpc
from google.protobuf.message import Message
from neural_heatmap_contract.protocol import SEQUENCE_EXPIRED
from neural_heatmap_contract.routes import http, websocket
from neural_heatmap_contract.v1 import updates_pb2

from . import _convert as cv
from . import _errors
from ._anomaly_cache import AnomalyCache
from ._anomaly_ring import AnomalyRing
from ._config import BridgeConfig
from ._demand import Demand
from ._mailbox import Kind, Mailbox, Subscription
from ._malloc import Trimmer
from ._metrics import Metrics
from ._pump import Pump
from ._read_cache import ReadCache
from ._shared_updates import SharedUpdates
from ._slow_readers import SlowReaders
from ._stream_loop import StreamLoop
from ._upstream import CallOptions, Upstream
from ._view import ViewFeed

if TYPE_CHECKING:  # nats-py is the optional ``cluster`` extra, imported only when used
    from ._jetstream import JetStreamFeed, JetStreamReader

log = logging.getLogger("neural_heatmap_bridge.fanout")
# The upstream acknowledges the anomaly subscription by echoing its message type.
_ANOMALIES_ACK = websocket("SubscribeAnomalies").subscribe[0]


class Fanout:
    """The shared upstream WebSocket, the anomaly ring, and every stream's mailbox.

    Args:
        config: Queue, ring and page sizes.
        upstream: HTTP client (for heads and catch-up pages) and WebSocket session.
        metrics: Where drops, coalescing and reconnects are counted.
        anomalies: Converted anomalies by sequence (shared with ``GetAnomalies``).
        read_cache: The read cache whose versions arrive on this connection (None: none).
    """

    def __init__(
        self,
        config: BridgeConfig,
        upstream: Upstream,
        metrics: Metrics,
        anomalies: AnomalyCache | None = None,
        read_cache: ReadCache | None = None,
    ) -> None:
        self._config = config
        self._read_cache = read_cache
        self._anomaly_cache = anomalies or AnomalyCache(config.anomaly_cache)
        self._metrics = metrics
        self._pump = Pump(
            upstream,
            self._on_open,
            self._on_message,
            self._on_close,
            metrics,
            config.stall_timeout,
        )
        self._mailboxes: set[Mailbox] = set()
        self.shared = SharedUpdates()  # what streams yield, serialized once per update
        # --anomaly-log nats://...: anomalies come from the stream itself (``_jetstream``).
        self._stream_reader: JetStreamReader | None = None
        self._feed: JetStreamFeed | None = None
        if config.anomaly_log:
            from ._jetstream import JetStreamFeed, JetStreamReader

            self._stream_reader = JetStreamReader(config.anomaly_log, config.anomaly_stream)
        self._ring = AnomalyRing(config, self._stream_reader or upstream, self._anomaly_cache)
        if self._stream_reader is not None:
            self._feed = JetStreamFeed(
                self._stream_reader,
                self._ring,
                self._anomaly_cache,
                self._on_anomalies_acknowledged,
            )
        self._demand = Demand(
            self._pump, self._ring, self._mailboxes, config.heartbeat_interval, self._feed
        )
        self._loop = StreamLoop(
            self._ring, config.heartbeat_interval, config.stall_timeout, metrics
        )
        self._view = ViewFeed(upstream, config.upstream_timeout, self._put_view)
        self._slow = SlowReaders(config.slow_stream_timeout, metrics)
        self._trimmer = Trimmer()
        self._tasks: set[asyncio.Task[None]] = set()  # strong references until done
        self._closing: _errors.UpstreamError | None = None
        self._stalled: _errors.UpstreamError | None = None  # set while the upstream is stalled

    # ------------------------------------------------------------ lifecycle
    def start(self) -> None:
        """Connect now when the read cache needs the push channel (streams connect lazily)."""
        if self._read_cache is not None and self._read_cache.enabled:
            self._pump.start()

    async def close(self, err: _errors.UpstreamError) -> None:
        """End every stream with ``err`` and stop the upstream connection."""
        self._closing = err
        for mb in list(self._mailboxes):
            mb.close(err)
        await self._pump.stop()
        if self._feed is not None and self._stream_reader is not None:
            await self._feed.stop()
            await self._stream_reader.close()

    # ------------------------------------------------------------ upstream side
    async def _on_open(self) -> None:
        self._stalled = None
        if self._read_cache is not None and self._read_cache.enabled:
            await self._pump.send("subscribe_versions", {})
        await self._demand.resubscribe_all()

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
                self._ring.add(self._anomaly_cache.convert(data.get("anomalies")))
            elif kind == "versions":
                if self._read_cache is not None:
                    self._read_cache.on_versions(data)
                if self._view.on_versions(data) and self._wants_view():
                    self._spawn(self._view.refresh())
            elif kind == "anomaly_heartbeat":
                self._on_upstream_heartbeat(int(data["last_sequence"]))
            elif kind == "data":
                if data.get("request") == _ANOMALIES_ACK and data.get("status") == "ok":
                    self._on_anomalies_acknowledged()
            elif kind == "error":
                self._on_error(data)
        except (ValueError, TypeError, KeyError, AttributeError) as exc:
            log.warning("dropping malformed upstream %s: %s", kind, exc)

    def _wants_view(self) -> bool:
        return any(Kind.VIEW in mb.sub.kinds for mb in self._mailboxes)

    def _put_view(self, update: updates_pb2.ViewUpdate) -> None:
        for mb in self._mailboxes:
            if Kind.VIEW in mb.sub.kinds:
                mb.put_view(update)

    def _on_anomalies_acknowledged(self) -> None:
        """The ring is current: let catching-up streams go live without waiting for a poll."""
        self._ring.current = True
        for mb in self._mailboxes:
            if mb.catching_up:
                mb.wake.set()

    def _on_upstream_heartbeat(self, last_sequence: int) -> None:
        """The log-head watchdog: a current ring behind the upstream's head lost
        anomalies on the way, so stop trusting it and subscribe again from our head."""
        if not self._ring.head_is_behind(last_sequence):
            return
        log.warning(
            "upstream log head %d is ahead of the ring's %s: renewing the subscription",
            last_sequence,
            self._ring.head,
        )
        self._ring.distrust()
        self._spawn(self._demand.subscribe(Kind.ANOMALY))

    def _spawn(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _on_close(self, stalled: bool) -> None:
        self._view.on_close()
        if self._read_cache is not None:
            self._read_cache.on_close()
        self._ring.current = False
        if stalled and self._closing is None:
            # Clients must not wait on an upstream that stopped answering: end every
            # stream so they resume (here once it answers again, or elsewhere).
            self._stalled = _errors.stalled_upstream(
                "the upstream server stopped answering; resume with after_sequence = the "
                "last sequence you received",
            )
            for mb in list(self._mailboxes):
                mb.close(self._stalled)
        elif self._ring.sequenced and self._closing is None and self._feed is None:
            self._ring.distrust()

    def _on_error(self, data: dict[str, Any]) -> None:
        if data.get("code") != SEQUENCE_EXPIRED:
            log.warning("upstream WebSocket error: %s", data)
            return
        # The bridge's own resume point was pruned: start over from the log's head and
        # make every live stream re-read from its cursor (which then reports OUT_OF_RANGE).
        log.warning("upstream pruned the bridge's resume point; resetting the anomaly ring")
        self._ring.reset()
        self._spawn(self._resubscribe_anomalies())

    async def _resubscribe_anomalies(self) -> None:
        try:
            await self._ring.ensure_head()
        except _errors.UpstreamError as exc:
            log.warning("cannot reread anomaly head (%s); the next reconnect will", exc)
            return
        await self._demand.subscribe(Kind.ANOMALY)

    # ------------------------------------------------------------ stream side
    def _release(self, mb: Mailbox) -> None:
        """A stream ended by the slow-reader watchdog lets go of everything it buffered.

        Its handler still waits on its write (see ``_slow_readers``); once that returns,
        its loop ends (the call has its status).
        """
        self._mailboxes.discard(mb)
        self._ring.live.discard(mb)
        mb.release()

    async def stream(
        self,
        sub: Subscription,
        opts: CallOptions,
        context: grpc.aio.ServicerContext[Any, Any] | None = None,
    ) -> AsyncIterator[tuple[Kind, Message]]:
        """Yield ``(kind, update)`` for one stream until it is cancelled or closed.

        With ``context`` (the stream's call), a client that stops reading ends the
        stream (``_slow_readers``).

        Raises:
            UpstreamError: OUT_OF_RANGE when its resume point is pruned, UNAVAILABLE on
                shutdown or when the upstream is unreachable at the start.
        """
        if self._closing is not None:
            raise self._closing
        if self._stalled is not None:
            raise self._stalled
        mb = Mailbox(sub, self._config.queue_size, self._metrics, self.shared)
        if Kind.ANOMALY in sub.kinds:
            await self._ring.ensure_head()
            if not self._ring.sequenced:
                if sub.after_sequence is not None:
                    raise _errors.unimplemented(
                        f"{http('GetAnomalies').operation}?after_sequence",
                        "the upstream's anomalies carry no sequence",
                    )
                mb.catching_up = False
                self._ring.live.add(mb)
            elif sub.after_sequence is not None:
                mb.cursor = sub.after_sequence
            else:
                mb.cursor = await self._ring.log_head(opts)
        self._mailboxes.add(mb)
        # Only what was counted is uncounted: a stream cancelled while subscribing must not
        # drive another kind's demand negative (which would starve later streams).
        wanted: list[Kind] = []
        watch = (
            None
            if context is None
            else self._slow.watch(context, lambda: mb.cursor, lambda: self._release(mb))
        )
        try:
            for kind in sub.kinds:
                wanted.append(kind)  # want() counts before its first await
                await self._demand.want(kind)
            if Kind.VIEW in sub.kinds:
                await self._view.first(mb.put_view)  # the stream starts with the current view
            async for item in self._loop.run(mb):
                if watch is None:
                    yield item
                    continue
                watch.writing()  # until grpc asks for the next one: the write is done
                yield item
                watch.written()
        finally:
            if watch is not None:
                self._slow.forget(watch)
            self._mailboxes.discard(mb)
            self._ring.live.discard(mb)
            self._trimmer.stream_ended()
            for kind in wanted:
                await self._demand.unwant(kind, self._closing is not None)
