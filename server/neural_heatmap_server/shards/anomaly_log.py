"""The one anomaly stream with one writer per partition, and every server's copy of it.

Writing (``PartitionWriter``): the owner of partition ``p`` publishes its anomalies on
``<stream>.anomalies.p<p>``. Two headers make it exact: ``Nats-Msg-Id`` names the
anomaly by the frame it came from (frames-stream sequence, frame index in the message,
type), so an anomaly published again after a takeover (its frame was judged but not yet
acknowledged) is answered ``duplicate`` with its first sequence; and
``Nats-Expected-Last-Subject-Sequence`` is the partition subject's head as this owner
knows it, so a server that lost its lease without noticing (a long pause) cannot write
there any more: the per-subject check replaces the single writer's stream-wide one.
The stream still numbers every anomaly of every partition in one global order.

Reading (``ShardAnomalyLog`` and its feed): each server follows the whole stream with an
ordered consumer into its SQLite copy (the same table as the single server's), so
``GET /api/anomalies`` on any server answers for every shard, and an anomaly reaches
subscribers (``on_stored``) only once the stream holds it: durable before visible.
"""

from __future__ import annotations

import asyncio
import json
import logging
import sqlite3
from collections.abc import Callable
from typing import Any

import nats
from nats.js import JetStreamContext, api
from nats.js.errors import APIError, NotFoundError
from neural_heatmap_contract.protocol import (
    anomaly_filter,
    anomaly_subject,
    partition_anomaly_subject,
)

from ..persistence import AnomalyLog, AnomalyQuery, SqliteAnomalyLog

log = logging.getLogger(__name__)

# JetStream's error codes for a failed expected-last-(subject-)sequence check (10071 from
# nats-server 2.15 here; 10164 is the same check's other form, which nats-py's KV handles too)
WRONG_LAST_SEQUENCE = (10071, 10164)
BOUNDS_REFRESH = 1.0  # seconds between reads of the stream's first sequence


def anomaly_stream_config(stream: str, retention: int, max_age: float, dedup_window: float,
                          replicas: int) -> api.StreamConfig:
    """The anomaly stream of the sharded shape (every partition's subject)."""
    return api.StreamConfig(
        name=stream, subjects=[f"{anomaly_subject(stream)}.>"],
        retention=api.RetentionPolicy.LIMITS,
        storage=api.StorageType.FILE, max_msgs=retention, max_age=max_age or None,
        duplicate_window=dedup_window, num_replicas=replicas, discard=api.DiscardPolicy.OLD)


class Fenced(Exception):
    """Another server wrote the partition's subject: this one no longer owns it."""


class PartitionWriter:
    """The single writer of one partition's anomaly subject while its lease is held."""

    def __init__(self, js: JetStreamContext, stream: str, p: int) -> None:
        self._js = js
        self._stream = stream
        self.subject = partition_anomaly_subject(stream, p)
        self._head = 0

    async def start(self) -> None:
        """Learn the subject's head (the previous owner's last anomaly)."""
        try:
            self._head = int((await self._js.get_last_msg(self._stream, self.subject)).seq or 0)
        except NotFoundError:
            self._head = 0

    async def publish(self, anomalies: list[tuple[str, dict[str, Any]]]) -> None:
        """Publish ``(message id, anomaly)`` pairs in order.

        Raises:
            Fenced: the subject moved under us (another owner).
            nats.errors.Error, TimeoutError: NATS did not take one; the caller retries
                the whole frame message (ids make the retry exact).
        """
        for msg_id, anomaly in anomalies:
            headers = {"Nats-Msg-Id": msg_id,
                       "Nats-Expected-Last-Subject-Sequence": str(self._head)}
            try:
                ack = await self._js.publish(self.subject, json.dumps(anomaly).encode(),
                                             stream=self._stream, headers=headers)
            except APIError as exc:
                if exc.err_code in WRONG_LAST_SEQUENCE:
                    raise Fenced(f"{self.subject}: {exc.description}") from exc
                raise
            if not ack.duplicate:
                self._head = int(ack.seq)


class ShardAnomalyLog(AnomalyLog):
    """``AnomalyLog`` over this server's copy of the sharded anomaly stream.

    Args:
        conn: The server's SQLite connection (the copy).
        retention: Anomalies kept in the copy (the stream's ``max_msgs``).
    """

    def __init__(self, conn: sqlite3.Connection, retention: int) -> None:
        self._conn = conn
        self._copy = SqliteAnomalyLog(conn, retention)
        self._stream_first = 1

    def append(self, anomalies: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Not a path in the sharded shape: partition owners publish (``PartitionWriter``)."""
        raise AssertionError("in the sharded shape anomalies are published by partition owners")

    def flush(self) -> list[dict[str, Any]]:
        return []  # nothing is held back here: owners retry their own publishes

    def bounds(self) -> tuple[int, int]:
        """The copy's bounds (what this server has read of the stream so far)."""
        first, head = self._copy.bounds()
        return max(first, self._stream_first), head

    def query(self, query: AnomalyQuery) -> list[dict[str, Any]]:
        first, _ = self.bounds()
        return [a for a in self._copy.query(query) if a["sequence"] >= first]

    def close(self) -> None:
        self._conn.close()

    async def follow(self, js: JetStreamContext, stream: str,
                     on_stored: Callable[[list[dict[str, Any]]], None]) -> None:
        """Copy the stream from the copy's head on, for ever (reconnecting after errors)."""
        while True:
            try:
                await self._follow(js, stream, on_stored)
            except (TimeoutError, OSError, nats.errors.Error) as exc:
                log.warning("anomaly feed interrupted: %s", exc or type(exc).__name__)
            await asyncio.sleep(BOUNDS_REFRESH)

    async def _follow(self, js: JetStreamContext, stream: str,
                      on_stored: Callable[[list[dict[str, Any]]], None]) -> None:
        await self._refresh(js, stream)
        start = self._copy.bounds()[1] + 1
        sub = await js.subscribe(anomaly_filter(stream), stream=stream, ordered_consumer=True,
                                 deliver_policy=api.DeliverPolicy.BY_START_SEQUENCE,
                                 config=api.ConsumerConfig(opt_start_seq=start))
        try:
            while True:
                try:
                    msg = await sub.next_msg(timeout=BOUNDS_REFRESH)
                except TimeoutError:
                    await self._refresh(js, stream)
                    continue
                batch = [msg]
                while sub.pending_msgs:  # take what already arrived, stored in one commit
                    batch.append(await sub.next_msg(timeout=BOUNDS_REFRESH))
                on_stored(self._store(batch))
        finally:
            await sub.unsubscribe()

    async def _refresh(self, js: JetStreamContext, stream: str) -> None:
        state = (await js.stream_info(stream)).state
        self._stream_first = state.first_seq if state.messages else state.last_seq + 1

    def _store(self, msgs: list[Any]) -> list[dict[str, Any]]:
        stored = []
        cur = self._conn.cursor()
        cur.execute("BEGIN")
        try:
            for msg in msgs:
                body = json.loads(msg.data)
                sequence = int(msg.metadata.sequence.stream)
                self._copy.insert(cur, body, sequence)
                stored.append({"sequence": sequence, **body})
            self._copy.prune(cur, stored[-1]["sequence"])
            cur.execute("COMMIT")
        except BaseException:
            cur.execute("ROLLBACK")
            raise
        return stored
