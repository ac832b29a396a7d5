"""``ServerState``: one server process's resources and services, wired together.

The work is done by the services (``services``: decoding, ingest, anomaly log,
view, queries, exports; each module says why it exists). This module only
opens the shared resources (the activation store, the database and its anomaly
log, the WebSocket hub, the version counters, the metrics, the worker pools),
hands each service what it needs, and runs their background work until
shutdown. HTTP routes, WebSocket handlers and the built-in source call the
services through ``ServerState``, so both transports behave identically.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Any

from aiohttp import web

from .analytics import Analytics
from .anomalies import AnomalyDetector
from .config import ServerConfig
from .consumers import ConsumerStore
from .correlation import CorrelationCache
from .hub import Hub
from .metrics import ServerMetrics
from .persistence import SqliteViewStateStore, open_database
from .services import decoding, exports, queries
from .services.anomaly_log import AnomalyService, open_anomaly_log
from .services.decoding import RequestDecoder
from .services.exports import ExportService
from .services.ingest import IngestService
from .services.queries import QueryService
from .services.view import ViewService
from .shards.wiring import shard_anomaly_log, shard_node
from .store import ActivationStore, FrameBatch
from .versions import Versions
from .workers import Deadline, WorkClass, WorkPool, parse_deadline


class ServerState:
    """Everything one server process holds; see the module docstring.

    Attributes:
        config: The server's configuration.
        started: When the process started (``time.time()``), for ``/health``.
        store: The activation store.
        hub: The WebSocket fan-out.
        versions: The ``versions`` counters pushed to caches.
        metrics: The Prometheus metrics.
        consumers: Durable named consumers of the anomaly log.
        analytics: Plans the analytics (checks, snapshots) that ``queries`` runs.
        decoding: Request bodies and WebSocket messages to documents and frames.
        ingest: Stores frames, detects anomalies, pushes heatmaps.
        anomalies: Records anomalies durably and reads them back.
        view: The stored filter, theme and layout.
        queries: Runs planned analytics in the worker pool; the periodic pushes.
        exports: Server-side export files.
    """

    def __init__(self, config: ServerConfig) -> None:
        self.config = config
        self.started = time.time()
        self.store = ActivationStore(config.window, config.max_units, config.max_layers,
                                     config.memory_budget_bytes)
        conn = open_database(config.database_path)
        self._anomaly_log = (open_anomaly_log(conn, config) if config.shard_log is None
                             else shard_anomaly_log(conn, config))
        self.hub = Hub(config.ws_queue, config.heatmap_hz)
        self.versions = Versions(self._anomaly_log.bounds()[1])
        self.metrics = ServerMetrics(lambda: self.versions.anomalies,
                                     lambda: len(self.hub.connections),
                                     lambda: self.store.bytes_held, config.memory_budget_bytes)
        self.consumers = ConsumerStore(conn, self._anomaly_log, config.consumer_ack_deadline)
        self._pool = WorkPool(config.workers, [
            WorkClass(queries.WORK_CLASS, config.max_pending_analytics, "--max-pending-analytics"),
            WorkClass(exports.WORK_CLASS, config.max_pending_exports, "--max-pending-exports")])
        # json.loads holds the GIL, so large JSON is decoded in another process (started
        # on first use); the batches are still stored on the loop, in arrival order.
        self._decoder_pool = WorkPool(1, [
            WorkClass(decoding.WORK_CLASS, config.max_pending_ingest, "--max-pending-ingest")],
            processes=True)
        self._tasks: list[asyncio.Task[None]] = []

        self.view = ViewService(SqliteViewStateStore(conn), self.hub, self.versions,
                                lambda: self.store.models)
        self.anomalies = AnomalyService(self._anomaly_log, config.anomaly_log != "sqlite",
                                        config.max_anomaly_limit, self.hub, self.versions,
                                        self.metrics)
        correlations = CorrelationCache()
        self.analytics = Analytics(self.store, correlations, config, self.view.stored_filter)
        self.queries = QueryService(self.analytics, self._pool, self.hub, self.deadline,
                                    config.correlation_interval, config.temporal_interval)
        self.exports = ExportService(config.exports_path, self.store, correlations,
                                     self._anomaly_log, self.view.stored_filter,
                                     self.view.get_theme, config.max_matrix_labels, self._pool)
        self.decoding = RequestDecoder(self.store, config.max_units, config.max_frames,
                                       self._decoder_pool, self.deadline)
        detector = AnomalyDetector(config.anomaly_cooldown)
        found: list[dict[str, Any]] = []  # the sharded shape's anomalies, published by owners
        self.ingest = IngestService(self.store, detector, config.max_new_layers,
                                    self.anomalies.record if config.shard_log is None
                                    else found.extend,
                                    self.view.stored_filter, self.hub, self.versions,
                                    self.metrics)
        self.shards = None if config.shard_log is None else shard_node(
            config, self.store, detector, self.ingest, found, self._anomaly_log,
            self.anomalies.stored, self.metrics)

    async def accept_frames(self, batches: list[FrameBatch]) -> int:
        """Ingestion, from every transport: stored here, or in the sharded shape
        published to the frames stream (its partition's owner stores it)."""
        if self.shards is not None:
            return await self.shards.publish(batches)
        return self.ingest.accept(batches)

    def deadline(self, header: str | None = None) -> Deadline:
        """A request's deadline: ``X-Request-Timeout-Ms`` capped by --max-request-seconds."""
        return parse_deadline(header, self.config.max_request_seconds)

    async def start_background(self) -> None:
        """Start the services' background work (periodic pushes, the anomaly outbox) and,
        in the sharded shape, connect to NATS and start owning partitions."""
        if self.shards is not None:
            await self.shards.start()
        for work in (*self.queries.background(), *self.anomalies.background()):
            self.add_task(asyncio.create_task(work))

    def add_task(self, task: asyncio.Task[None]) -> None:
        """Own a task so that shutdown cancels it."""
        self._tasks.append(task)

    def stop_work(self) -> None:
        """Shutdown begins: refuse new jobs and stop running ones at their next check."""
        self._pool.stop()
        self._decoder_pool.stop()

    async def close(self) -> None:
        """Stop background work, close sockets and the database."""
        self.stop_work()
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self.shards is not None:
            await self.shards.close()
        await self.hub.close_all()
        self._anomaly_log.close()


STATE = web.AppKey("state", ServerState)
