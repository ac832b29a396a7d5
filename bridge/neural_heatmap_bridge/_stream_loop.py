"""One stream's loop: catch up, read live, heartbeats and the per-stream watchdog.

Liveness (docs/reliability.md, "Liveness"): every anomaly stream (and the
anomaly part of ``StreamUpdates``) gets an ``AnomalyHeartbeat`` whenever it has
sent no anomaly (nor heartbeat) for ``--heartbeat-interval`` seconds; a
heartbeat names the log head the bridge knows. A stream whose cursor stays
behind a head it was told, without advancing, for ``--stall-timeout`` seconds
is stuck by definition: its own watchdog ends it with UNAVAILABLE so the client
resumes.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator

from google.protobuf.message import Message
from neural_heatmap_contract.v1 import updates_pb2

from . import _convert as cv
from . import _errors
from ._anomaly_ring import AnomalyRing
from ._mailbox import Kind, Mailbox
from ._metrics import Metrics


class StreamLoop:
    """Runs one stream's mailbox until it is closed or cancelled.

    Args:
        ring: The anomaly ring (catch-up, the head a heartbeat names).
        heartbeat_interval: ``--heartbeat-interval`` seconds.
        stall_timeout: ``--stall-timeout`` seconds (the watchdog's bound).
        metrics: Where stalled streams are counted.
    """

    def __init__(
        self, ring: AnomalyRing, heartbeat_interval: float, stall_timeout: float, metrics: Metrics
    ) -> None:
        self._ring = ring
        self._heartbeat_interval = heartbeat_interval
        self._stall_timeout = stall_timeout
        self._metrics = metrics

    async def run(self, mb: Mailbox) -> AsyncIterator[tuple[Kind, Message]]:
        """Yield ``(kind, update)`` for ``mb``.

        Raises:
            UpstreamError: the error the mailbox was closed with, OUT_OF_RANGE from
                catching up, UNAVAILABLE from the watchdog.
        """
        beats = Kind.ANOMALY in mb.sub.kinds
        mb.anomaly_sent_at = time.monotonic()  # the first heartbeat after one idle interval
        while not mb.released:  # released: the call has its status, nothing more to send
            if mb.closed is not None:
                raise mb.closed
            if mb.catching_up:
                batch = await self._ring.catch_up(mb)
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
                    self._ring.live.discard(mb)
                    mb.overflowed = False
                    mb.catching_up = True
            if beats and self._until_heartbeat(mb) <= 0:
                self._check_progress(mb)
                yield Kind.ANOMALY, self._heartbeat(mb)
                await mb.sub.hooks.heartbeat_sent(mb)

    def _until_heartbeat(self, mb: Mailbox) -> float:
        """Seconds until ``mb``'s next heartbeat is due (its wait must not outlast that)."""
        return max(0.0, mb.anomaly_sent_at + self._heartbeat_interval - time.monotonic())

    def _heartbeat(self, mb: Mailbox) -> updates_pb2.AnomalyHeartbeat:
        """The next heartbeat for ``mb``; remember the head it names for the watchdog."""
        head = self._ring.resume_point() or 0
        now = time.monotonic()
        if mb.cursor is not None and mb.cursor < head:
            mb.told = head
            if mb.behind_since is None:
                mb.behind_since = now
        mb.anomaly_sent_at = now
        beat = updates_pb2.AnomalyHeartbeat(last_sequence=head)
        beat.timestamp.GetCurrentTime()
        return beat

    def _check_progress(self, mb: Mailbox) -> None:
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
        if stuck_for >= self._stall_timeout:
            self._metrics.stalled_streams.inc()
            raise _errors.stalled_stream(
                f"the stream made no progress past sequence {mb.cursor} for {stuck_for:.1f} s "
                f"although the log reached {mb.told}; resume with after_sequence = the last "
                "sequence you received",
            )
