"""One live stream's side of the fan-out: what it asked for and its bounded buffers.

Heatmap updates coalesce per ``(model, layer)`` (newest wins), correlation and
temporal updates keep only the newest one; each replacement of an unread update
is counted; so does the view state (filter, theme, layout: only the newest matters).
Memory per stream is bounded by the number of layers plus
``--queue-size`` anomalies (a single upstream batch is always taken into an
empty queue, so one big batch alone is not an overflow). An overflowing
anomaly queue loses nothing: the stream re-reads from its cursor
(``_anomaly_ring``).
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import math
import time
from collections import OrderedDict
from dataclasses import dataclass, field

from google.protobuf.message import Message
from neural_heatmap_contract.v1 import analytics_pb2, updates_pb2

from . import _errors
from ._metrics import Metrics
from ._shared_updates import SharedUpdates
from ._stream_hooks import NO_HOOKS, StreamHooks

# How often a caught-up stream re-reads the server's log while the ring is not current.
POLL_INTERVAL = 0.5


class Kind(enum.Enum):
    """Kinds of live update; the value is the field name in ``StreamUpdatesResponse``."""

    HEATMAP = "heatmap"
    CORRELATION = "correlation"
    TEMPORAL = "temporal"
    ANOMALY = "anomaly"
    VIEW = "view"


@dataclass
class Subscription:
    """What one stream asked for."""

    kinds: set[Kind]
    model_ids: set[str] = field(default_factory=set)
    layer_ids: set[str] = field(default_factory=set)
    min_severity: int = 0
    after_sequence: int | None = None
    hooks: StreamHooks = NO_HOOKS  # see _stream_hooks


class Mailbox:
    """One stream's bounded buffers (see the module docstring for the policy).

    Args:
        sub: What the stream asked for.
        queue_size: ``--queue-size`` (anomalies buffered).
        metrics: Where coalescing and overflows are counted.
        shared: Where an anomaly selection becomes an update shared with the streams
            that selected the same (``_shared_updates``).
    """

    def __init__(
        self,
        sub: Subscription,
        queue_size: int,
        metrics: Metrics,
        shared: SharedUpdates | None = None,
    ) -> None:
        self.sub = sub
        self._shared = shared if shared is not None else SharedUpdates()
        self.heatmap: OrderedDict[tuple[str, str], updates_pb2.HeatmapUpdate] = OrderedDict()
        self.correlation: updates_pb2.CorrelationUpdate | None = None
        self.temporal: updates_pb2.TemporalUpdate | None = None
        self.view: updates_pb2.ViewUpdate | None = None
        self.anomalies: list[analytics_pb2.Anomaly] = []
        self.cursor: int | None = None  # last sequence passed (delivered or filtered out)
        self.catching_up = Kind.ANOMALY in sub.kinds
        self.overflowed = False
        self.closed: _errors.UpstreamError | None = None
        self.released = False  # ended from outside, its status sent (see ``release``)
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

    def put_view(self, update: updates_pb2.ViewUpdate) -> None:
        if self.view is not None:
            self._metrics.coalesced.labels("view").inc()
        self.view = update
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

    def release(self) -> None:
        """Drop everything buffered: the stream has its status already (``_slow_readers``)
        and its loop ends as soon as its pending write returns."""
        self.heatmap.clear()
        self.correlation = self.temporal = self.view = None
        self.anomalies = []
        self.released = True
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
        """Everything buffered: the view first (what follows is drawn in it), anomalies last."""
        out: list[tuple[Kind, Message]] = []
        if self.view is not None:
            out.append((Kind.VIEW, self.view))
            self.view = None
        out.extend((Kind.HEATMAP, u) for u in self.heatmap.values())
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
                out.append((Kind.ANOMALY, self._shared.anomaly_update(wanted)))
                self.anomaly_sent_at = time.monotonic()
        return out

    async def pause(self) -> None:
        """Wait ``POLL_INTERVAL``, or less if something arrives for the stream or it closes.

        The stream loop drains (and checks ``closed``) after every catch-up step, so the
        wake-up can be consumed here.
        """
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.wake.wait(), POLL_INTERVAL)
        self.wake.clear()
