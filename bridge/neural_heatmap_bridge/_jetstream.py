"""Anomalies read from the NATS JetStream stream directly (``--anomaly-log nats://...``).

When the server's anomaly log is a JetStream stream, every bridge reads it
itself instead of through the server: the ring's head and catch-up pages come
from the stream (``JetStreamReader``, which answers ``get_json("/api/anomalies")``
in the server's shape, so ``_anomaly_ring`` is unchanged), and one ordered
consumer per bridge feeds the ring live (``JetStreamFeed``), fanned out
in-process to every stream. Any number of bridges then serve anomaly streams
without holding the server's WebSocket, and keep serving them while the server
is down.

An ordered consumer delivers the stream's messages in sequence order, each
once; nats-py recreates it from the last sequence it delivered when NATS drops
it (a restart, a missed idle heartbeat), so a NATS restart on the same store
loses nothing. While the connection is down the ring is not trusted (streams
catch up by pages once it is back) and a page read answers UNAVAILABLE, which
streams treat as "try again".
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

import nats
from nats.aio.client import Client
from nats.js import api
from neural_heatmap_contract import errors as table
from neural_heatmap_contract.backoff import backoff_delay
from neural_heatmap_contract.protocol import (
    SEQUENCE_EXPIRED,
    anomaly_filter,
    is_pruned,
    nats_servers,
    pruned_message,
)
from neural_heatmap_contract.routes import http

from . import _errors
from ._anomaly_cache import AnomalyCache
from ._anomaly_ring import AnomalyRing
from ._upstream import CallOptions, Query

log = logging.getLogger("neural_heatmap_bridge.jetstream")

ROUTE = "JetStream anomaly stream"


def _anomaly(msg: Any) -> dict[str, Any]:
    """A stream message as the server's anomaly document (with its stream sequence)."""
    doc = json.loads(msg.data)
    doc["sequence"] = int(msg.metadata.sequence.stream)
    return dict(doc)


class JetStreamReader:
    """The anomaly stream's head and pages by sequence, shaped like ``GET /api/anomalies``.

    Args:
        url: ``nats://host:port`` (comma-separate several for a cluster).
        stream: The stream name the server writes (``--anomaly-stream``).
    """

    def __init__(self, url: str, stream: str) -> None:
        self._url = url
        self.stream = stream
        self.subject = anomaly_filter(stream)  # one server's subject, or every shard's
        self._nc: Client | None = None
        self._lock = asyncio.Lock()

    async def jetstream(self) -> Any:
        """The JetStream context, connecting on first use (NATS then reconnects by itself)."""
        async with self._lock:
            if self._nc is None:
                try:
                    self._nc = await nats.connect(
                        nats_servers(self._url),
                        max_reconnect_attempts=-1,
                        reconnect_time_wait=0.5,
                        connect_timeout=2,
                    )
                except (OSError, TimeoutError, nats.errors.Error) as exc:
                    raise _errors.unavailable(ROUTE, str(exc) or type(exc).__name__) from exc
            return self._nc.jetstream()

    async def bounds(self, timeout: float) -> tuple[int, int]:
        """The stream's ``(first, last)`` sequence; ``(last + 1, last)`` when empty."""
        js = await self.jetstream()
        try:
            info = await js.stream_info(self.stream)
        except (OSError, TimeoutError, nats.errors.Error) as exc:
            raise _errors.unavailable(ROUTE, str(exc) or type(exc).__name__) from exc
        state = info.state
        return (state.first_seq if state.messages else state.last_seq + 1), state.last_seq

    async def get_json(
        self, path: str, opts: CallOptions, params: Query | None = None
    ) -> dict[str, Any]:
        """``GET /api/anomalies`` answered from the stream: ``limit`` alone reads only the
        head; ``after_sequence`` reads up to ``limit`` anomalies after it.

        Raises:
            UpstreamError: OUT_OF_RANGE when ``after_sequence`` was pruned from the
                stream, UNAVAILABLE while NATS does not answer.
        """
        assert path == http("GetAnomalies").path, path
        query = dict(params or {})
        first, last = await self.bounds(opts.timeout)
        doc: dict[str, Any] = {"anomalies": [], "first_sequence": first, "last_sequence": last}
        if "after_sequence" not in query:
            return doc  # the ring asks only for the head this way
        after, limit = int(query["after_sequence"]), int(query.get("limit", "1000"))
        if is_pruned(after, first):
            raise _errors.UpstreamError.of(
                table.row_for_answer(410, SEQUENCE_EXPIRED),
                pruned_message(after + 1, first, f" from the {ROUTE}"),
                route=ROUTE,
                first_sequence=first,
                last_sequence=last,
            )
        if after >= last:
            return doc
        doc["anomalies"] = await self._read(after + 1, last, limit, opts.timeout)
        return doc

    async def _read(
        self, start: int, last: int, limit: int, timeout: float
    ) -> list[dict[str, Any]]:
        """Up to ``limit`` anomalies from ``start`` through ``last``, in order."""
        js = await self.jetstream()
        out: list[dict[str, Any]] = []
        try:
            sub = await js.subscribe(
                self.subject,
                stream=self.stream,
                ordered_consumer=True,
                deliver_policy=api.DeliverPolicy.BY_START_SEQUENCE,
                config=api.ConsumerConfig(opt_start_seq=start),
            )
            try:
                while len(out) < limit:
                    doc = _anomaly(await sub.next_msg(timeout=timeout))
                    out.append(doc)
                    if doc["sequence"] >= last:
                        break
            finally:
                await sub.unsubscribe()
        except (OSError, TimeoutError, nats.errors.Error) as exc:
            if not out:
                raise _errors.unavailable(ROUTE, str(exc) or type(exc).__name__) from exc
        return out

    async def close(self) -> None:
        """Close the NATS connection."""
        if self._nc is not None:
            await self._nc.close()


class JetStreamFeed:
    """One ordered consumer that feeds the bridge's anomaly ring live.

    Args:
        reader: The stream (and its NATS connection).
        ring: The ring every anomaly stream of this bridge reads.
        cache: Converts anomaly documents (shared with ``GetAnomalies``).
        on_current: Called once the consumer delivers everything after the ring's head.
    """

    def __init__(
        self, reader: JetStreamReader, ring: AnomalyRing, cache: AnomalyCache, on_current: Any
    ) -> None:
        self._reader = reader
        self._ring = ring
        self._cache = cache
        self._on_current = on_current
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Start feeding (idempotent)."""
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run(), name="nh-jetstream")

    async def stop(self) -> None:
        """Stop feeding."""
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    async def _run(self) -> None:
        attempt = 0
        while True:
            try:
                await self._follow()
            except (OSError, TimeoutError, nats.errors.Error, _errors.UpstreamError) as exc:
                log.warning("JetStream feed interrupted: %s", exc or type(exc).__name__)
            self._ring.distrust()
            await asyncio.sleep(backoff_delay(attempt))
            attempt += 1

    async def _follow(self) -> None:
        js = await self._reader.jetstream()
        await self._ring.ensure_head()
        start = (self._ring.head or 0) + 1
        sub = await js.subscribe(
            self._reader.subject,
            stream=self._reader.stream,
            ordered_consumer=True,
            deliver_policy=api.DeliverPolicy.BY_START_SEQUENCE,
            config=api.ConsumerConfig(opt_start_seq=start),
        )
        try:
            # From here on the consumer delivers every sequence after the ring's head.
            self._ring.current = True
            self._on_current()
            async for msg in sub.messages:
                self._ring.add(self._cache.convert([_anomaly(msg)]))
        finally:
            await sub.unsubscribe()
