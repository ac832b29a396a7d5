"""How ``ServerState`` builds the sharded shape's parts from its own (only with --shard-log).

Kept here so that ``service.py`` names the sharded shape in two lines and imports
nats-py (the optional ``cluster`` extra) only when the shape is chosen.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..anomalies import AnomalyDetector
    from ..config import ServerConfig
    from ..metrics import ServerMetrics
    from ..persistence import AnomalyLog
    from ..services.ingest import IngestService
    from ..store import ActivationStore, FrameBatch
    from .node import ShardNode


def shard_anomaly_log(conn: sqlite3.Connection, config: ServerConfig) -> AnomalyLog:
    """The local copy of the anomaly stream every shard writes."""
    from .anomaly_log import ShardAnomalyLog
    return ShardAnomalyLog(conn, config.anomaly_retention)


def shard_node(config: ServerConfig, store: ActivationStore, detector: AnomalyDetector,
               ingest: IngestService, found: list[dict[str, Any]], anomaly_log: AnomalyLog,
               on_stored: Callable[[list[dict[str, Any]]], None],
               metrics: ServerMetrics) -> ShardNode:
    """The server's ``ShardNode``: its owners apply frames through ``ingest`` (whose
    anomalies land in ``found`` instead of the log), rebuild a partition taken over in a
    store and detector of its own before handing them over, and forget models from the
    store and the detector when a partition leaves; the store asks it before answering
    404 for a model (503 while the model's partition is being rebuilt here). Two metrics
    show it: ``nh_server_shard_partitions`` (consumed here now) and
    ``nh_server_shard_dropped_frames_total`` (refused by this owner's limits)."""
    from prometheus_client import Counter, Gauge

    from .anomaly_log import ShardAnomalyLog
    from .node import ShardNode, ShardSettings
    assert config.shard_log is not None and isinstance(anomaly_log, ShardAnomalyLog)

    def apply(batch: FrameBatch) -> list[dict[str, Any]]:
        found.clear()
        ingest.accept([batch])
        out = list(found)
        found.clear()
        return out

    def replay() -> tuple[Callable[[FrameBatch], None], Callable[[], None]]:
        from ..anomalies import AnomalyDetector
        from ..store import ActivationStore
        staged = ActivationStore(store.capacity, store.max_units, store.max_layers)
        staged_detector = AnomalyDetector(detector.cooldown)

        def apply_silently(batch: FrameBatch) -> None:
            staged.validate([(0, batch)])
            staged.append(batch)
            staged_detector.detect(batch)

        def adopt() -> None:
            store.adopt(staged)
            detector.adopt(staged_detector)
        return apply_silently, adopt

    def forget(model_id: str) -> None:
        store.forget_model(model_id)
        detector.forget_model(model_id)

    settings = ShardSettings(
        url=config.shard_log, owner=config.shard_id, shard_of=config.shard_of,
        lease=config.shard_lease, prefix=config.shard_prefix, window=config.window,
        max_bytes=config.shard_max_bytes, max_ack_pending=config.shard_max_ack_pending,
        replicas=config.shard_replicas, anomaly_stream=config.anomaly_stream,
        anomaly_retention=config.anomaly_retention, anomaly_max_age=config.anomaly_max_age,
        anomaly_dedup_window=config.anomaly_dedup_window)
    dropped = Counter("nh_server_shard_dropped_frames", "Frames the stream accepted that "
                      "this server's limits refused when it applied them as their owner",
                      registry=metrics.registry)
    node = ShardNode(settings, apply, replay, forget, lambda: list(store.models), anomaly_log,
                     on_stored, dropped.inc)
    Gauge("nh_server_shard_partitions", "Partitions this server owns and consumes now",
          registry=metrics.registry).set_function(lambda: len(node.owned()))
    store.unknown_model_hook = node.check_takeover
    return node
