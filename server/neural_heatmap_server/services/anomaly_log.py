"""The durable anomaly log: recording anomalies, retrying the outbox, reading them back.

Why a service: "durable before visible" (docs/reliability.md) is one rule with
three users (ingestion, the JetStream outbox and the readers): an anomaly is
published to subscribers and counted in the ``versions`` only after the log
stored it, and a reader resuming from a pruned sequence gets 410
``sequence_expired`` the same way over HTTP and the WebSocket. Which backend
stores the log (SQLite or a JetStream stream) is decided here too.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Coroutine, Mapping
from typing import Any

from neural_heatmap_contract.protocol import SEQUENCE_EXPIRED, is_pruned, pruned_message

from .. import queries
from ..anomalies import SEVERITY_RANK
from ..config import ServerConfig
from ..errors import ApiError
from ..hub import Hub
from ..metrics import ServerMetrics
from ..persistence import AnomalyLog, AnomalyQuery, SqliteAnomalyLog
from ..versions import Versions

REPLAY_CHUNK = 100  # anomalies per update message of a subscription's replay
OUTBOX_FLUSH_INTERVAL = 1.0  # seconds between retries of anomalies NATS did not take


def open_anomaly_log(conn: sqlite3.Connection, config: ServerConfig) -> AnomalyLog:
    """The anomaly log ``--anomaly-log`` names: SQLite here, or a JetStream stream."""
    if config.anomaly_log == "sqlite":
        return SqliteAnomalyLog(conn, config.anomaly_retention)
    # Imported here: nats-py is the optional ``cluster`` extra, not needed for SQLite.
    from ..jetstream_log import JetStreamAnomalyLog
    return JetStreamAnomalyLog(
        conn, config.anomaly_log, config.anomaly_stream, config.anomaly_retention,
        max_age=config.anomaly_max_age, dedup_window=config.anomaly_dedup_window,
        replicas=config.anomaly_replicas)


class AnomalyService:
    """Writes anomalies to the log before anyone sees them, and reads them back.

    Args:
        log: The anomaly log (see ``open_anomaly_log``).
        has_outbox: True when the log keeps an outbox to retry (JetStream).
        max_limit: ``--max-anomaly-limit``, the most anomalies one read may ask for.
        hub: The WebSocket fan-out (anomaly subscribers, version listeners).
        versions: The version counters (``anomalies`` follows the log's head).
        metrics: Counts recorded anomalies by severity.
    """

    def __init__(self, log: AnomalyLog, has_outbox: bool, max_limit: int, hub: Hub,
                 versions: Versions, metrics: ServerMetrics) -> None:
        self._log = log
        self._has_outbox = has_outbox
        self._max_limit = max_limit
        self._hub = hub
        self._versions = versions
        self._metrics = metrics

    def record(self, found: list[dict[str, Any]]) -> None:
        """Append anomalies to the log, then publish what it stored.

        The caller publishes the ``versions`` (ingestion does once per call, for
        the frames and the anomalies together).
        """
        self.stored(self._log.append(found))

    def stored(self, stored: list[dict[str, Any]]) -> None:
        """Publish anomalies the log holds now (from ``record``, or in the sharded shape
        from the copy of the anomaly stream that every shard writes)."""
        if stored:
            self._versions.anomalies = int(stored[-1]["sequence"])
        self._hub.publish_anomalies(stored, SEVERITY_RANK)
        for anomaly in stored:
            self._metrics.anomalies.labels(anomaly["severity"]).inc()

    def check_after_sequence(self, after_sequence: int | None) -> tuple[int, int]:
        """``(first, last)`` sequence; 410 when ``after_sequence`` was pruned."""
        first, last = self._log.bounds()
        if after_sequence is not None and is_pruned(after_sequence, first):
            raise ApiError(SEQUENCE_EXPIRED, pruned_message(after_sequence + 1, first),
                           after_sequence=after_sequence,
                           first_sequence=first, last_sequence=last)
        return first, last

    def read(self, params: Mapping[str, Any]) -> dict[str, Any]:
        """``GET /api/anomalies`` (and ``get_anomalies``)."""
        query = queries.anomaly_query(params, self._max_limit)
        first, last = self.check_after_sequence(query.after_sequence)
        return {"anomalies": self._log.query(query), "last_sequence": last,
                "first_sequence": first}

    def replay(self, query: AnomalyQuery) -> list[list[dict[str, Any]]]:
        """Logged anomalies after ``query.after_sequence`` in chunks (for a subscription)."""
        chunks = []
        after = query.after_sequence
        while after is not None:
            rows = self._log.query(AnomalyQuery(
                min_severity=query.min_severity, model_ids=query.model_ids,
                after_sequence=after, limit=REPLAY_CHUNK))
            if not rows:
                break
            chunks.append(rows)
            after = rows[-1]["sequence"]
        return chunks

    def background(self) -> list[Coroutine[Any, Any, None]]:
        """The work that runs until shutdown: the outbox flush, when the log has one."""
        return [self._flush_outbox()] if self._has_outbox else []

    async def _flush_outbox(self) -> None:
        """Publish anomalies an unreachable NATS did not take, and push them when it does."""
        while True:
            await asyncio.sleep(OUTBOX_FLUSH_INTERVAL)
            stored = self._log.flush()
            if stored:
                self._versions.anomalies = int(stored[-1]["sequence"])
                self._hub.publish_anomalies(stored, SEVERITY_RANK)
                self._hub.publish_versions(self._versions.message())
