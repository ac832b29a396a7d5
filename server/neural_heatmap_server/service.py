"""The server's operations, shared by the HTTP routes, the WebSocket and the source.

``ServerState`` owns the activation store, the anomaly detector, the durable
anomaly log, the view state, the worker pools and the WebSocket hub, and does
ingestion, anomaly reads and view state itself. Queries are parsed in
``queries``, answered by ``analytics`` (``state.analytics``) and exports
gathered in ``export_gathering``. Every operation takes already-decoded
parameters (a mapping of query values or WebSocket ``data``), so both
transports behave identically.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import sqlite3
import time
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

import numpy as np
from aiohttp import web
from neural_heatmap_contract.protocol import SEQUENCE_EXPIRED, is_pruned, pruned_message
from neural_heatmap_contract.tracing import span

from . import queries
from .analytics import Analytics
from .anomalies import SEVERITY_RANK, AnomalyDetector
from .config import ServerConfig
from .consumers import ConsumerStore
from .correlation import CorrelationCache
from .errors import ApiError, invalid
from .export_gathering import plan_export
from .exports import ExportNames, StagedExport, list_exports, sweep_staging
from .hub import Hub
from .ingest import decode_large, parse_json_frames
from .layout_canvas import unit_location
from .metrics import ServerMetrics
from .persistence import (
    AnomalyLog,
    AnomalyQuery,
    SqliteAnomalyLog,
    SqliteViewStateStore,
    ViewStateStore,
    open_database,
)
from .store import ActivationStore, FrameBatch, LayerWindow, frame_activity
from .versions import Versions
from .view_state import (
    DEFAULT_THEME,
    filter_warnings,
    validate_filter,
    validate_layout,
    validate_theme,
    visible_units,
)
from .wire import dumps, finite_list, loads
from .workers import Deadline, WorkClass, WorkPool, parse_deadline

log = logging.getLogger(__name__)

T = TypeVar("T")

REPLAY_CHUNK = 100
ANALYTICS, EXPORTS, INGEST = "analytics", "exports", "ingest"
MAX_DOCUMENT_BYTES = 1 << 20  # a filter, theme, layout, compare, export or query message
INLINE_JSON_BYTES = 256 << 10  # larger JSON is decoded (and its frames parsed) in a process


OUTBOX_FLUSH_INTERVAL = 1.0  # seconds between retries of anomalies NATS did not take


def open_anomaly_log(conn: sqlite3.Connection, config: ServerConfig) -> AnomalyLog:
    """The anomaly log ``--anomaly-log`` names: SQLite here, or a JetStream stream."""
    if config.anomaly_log == "sqlite":
        return SqliteAnomalyLog(conn, config.anomaly_retention)
    # Imported here: nats-py is the optional ``cluster`` extra, not needed for SQLite.
    from .jetstream_log import JetStreamAnomalyLog
    return JetStreamAnomalyLog(
        conn, config.anomaly_log, config.anomaly_stream, config.anomaly_retention,
        max_age=config.anomaly_max_age, dedup_window=config.anomaly_dedup_window,
        replicas=config.anomaly_replicas)


class ServerState:
    """Everything one server process holds; see the module docstring."""

    def __init__(self, config: ServerConfig) -> None:
        self.config = config
        self.started = time.time()
        self.store = ActivationStore(config.window, config.max_units, config.max_layers,
                                     config.memory_budget_bytes)
        self.detector = AnomalyDetector(config.anomaly_cooldown)
        conn = open_database(config.database_path)
        self.anomaly_log = open_anomaly_log(conn, config)
        self.view: ViewStateStore = SqliteViewStateStore(conn)
        self.consumers = ConsumerStore(conn, self.anomaly_log, config.consumer_ack_deadline)
        # The filter is read for every ingested batch (heatmap fan-out), so it is
        # kept in memory and only written through to SQLite when it changes.
        self._filter: dict[str, Any] = self.view.get("filter") or {}
        self.hub = Hub(config.ws_queue, config.heatmap_hz)
        self.versions = Versions(self.anomaly_log.bounds()[1])
        self.correlations = CorrelationCache()
        self.analytics = Analytics(self.store, self.correlations, config, lambda: self._filter)
        sweep_staging(config.exports_path)
        self.export_names = ExportNames()
        self.pool = WorkPool(config.workers, [
            WorkClass(ANALYTICS, config.max_pending_analytics, "--max-pending-analytics"),
            WorkClass(EXPORTS, config.max_pending_exports, "--max-pending-exports")])
        # json.loads holds the GIL, so large JSON is decoded in another process (started
        # on first use); the batches are still stored on the loop, in arrival order.
        self.decoder = WorkPool(1, [
            WorkClass(INGEST, config.max_pending_ingest, "--max-pending-ingest")],
            processes=True)
        self._tasks: list[asyncio.Task[None]] = []
        self.metrics = ServerMetrics(lambda: self.versions.anomalies,
                                     lambda: len(self.hub.connections),
                                     lambda: self.store.bytes_held, config.memory_budget_bytes)

    def deadline(self, header: str | None = None) -> Deadline:
        """A request's deadline: ``X-Request-Timeout-Ms`` capped by --max-request-seconds."""
        return parse_deadline(header, self.config.max_request_seconds)

    async def offload(self, deadline: Deadline, job: Callable[[], T],
                      work_class: str = ANALYTICS, name: str | None = None) -> T:
        """Run ``job`` (made by a ``plan_*`` method) in the worker pool.

        Traced as a child span ``analytic <name>`` of the request's span, so a
        trace shows the work apart from the waiting and the encoding around it.
        """
        with span(f"analytic {name or work_class}", **{"nh.work_class": work_class}):
            return await self.pool.run(work_class, deadline, job)

    # ---- ingestion -------------------------------------------------------------------

    def ingest(self, batches: list[FrameBatch]) -> int:
        """Store validated batches, detect and log anomalies, push updates.

        Returns:
            The number of frames accepted.
        """
        batches = [b for b in batches if len(b.timestamps)]  # an empty body creates nothing
        self._check_new_layers(batches)
        self.store.validate(list(enumerate(batches)))
        found: list[dict[str, Any]] = []
        try:
            for batch in batches:
                window = self.store.append(batch)
                found.extend(self.detector.detect(batch))
                self._push_heatmap(window, batch)
            if found:
                stored = self.anomaly_log.append(found)
                if stored:
                    self.versions.anomalies = int(stored[-1]["sequence"])
                self.hub.publish_anomalies(stored, SEVERITY_RANK)
                for anomaly in stored:
                    self.metrics.anomalies.labels(anomaly["severity"]).inc()
        finally:  # whatever was stored must reach the caches, even if a step failed
            if batches:
                self.versions.frames = self.store.version
                self.hub.publish_versions(self.versions.message())
        frames = sum(len(b.timestamps) for b in batches)
        self.metrics.ingest_frames.inc(frames)
        return frames

    async def read_document(self, raw: bytes) -> Any:
        """Decode a small JSON document (filter, theme, layout, compare, export request).

        Raises:
            ApiError: 413 beyond ``MAX_DOCUMENT_BYTES`` (validating a bigger document
                would hold the event loop); 400 for malformed JSON.
        """
        if len(raw) > MAX_DOCUMENT_BYTES:
            raise ApiError("payload_too_large", f"a body of {len(raw)} bytes exceeds the limit "
                           f"of {MAX_DOCUMENT_BYTES} bytes for this request", bytes=len(raw),
                           limit=MAX_DOCUMENT_BYTES)
        return loads(raw)

    async def read_frames(self, raw: bytes, now: float) -> list[FrameBatch]:
        """Decode and parse a JSON ingest body, in the decoder process when it is large."""
        if len(raw) <= INLINE_JSON_BYTES:
            return parse_json_frames(loads(raw), self.units_of, self.config.max_units,
                                     self.config.max_frames, now)
        _, batches = await self._decode_large(raw, now, message=False)
        assert batches is not None
        return batches

    async def read_message(self, text: str, now: float) -> tuple[Any, list[FrameBatch] | None]:
        """Decode a WebSocket message; a large ``ingest_activations`` comes back parsed.

        Returns:
            ``(message, batches)``: batches are set for a large ingest message (its
            ``data`` is then left out); a large message of another type keeps only
            its ``type`` (the caller refuses it, see ``MAX_DOCUMENT_BYTES``).
        """
        if len(text) <= INLINE_JSON_BYTES:
            return loads(text), None
        return await self._decode_large(text, now, message=True)

    async def _decode_large(self, raw: bytes | str, now: float,
                            message: bool) -> tuple[Any, list[FrameBatch] | None]:
        known = {(m, layer): w.units for m, layers in self.store.models.items()
                 for layer, w in layers.items()}
        job = functools.partial(decode_large, raw, known, self.config.max_units,
                                self.config.max_frames, now, message, MAX_DOCUMENT_BYTES)
        return await self.decoder.run(INGEST, self.deadline(), job)

    def units_of(self, key: tuple[str, str]) -> int | None:
        window = self.store.layer_or_none(*key)
        return window.units if window is not None else None

    def _check_new_layers(self, batches: list[FrameBatch]) -> None:
        """At most ``--max-new-layers`` new windows per ingest call (400 beyond).

        Each new window preallocates ``--window x units`` floats and adds a label
        to every later correlation push, so one call naming thousands of fresh
        one-unit layers would amplify into megabytes per subscriber per push.
        """
        new = {(b.model_id, b.layer_id) for b in batches
               if self.store.layer_or_none(b.model_id, b.layer_id) is None}
        limit = self.config.max_new_layers
        if len(new) > limit:
            raise invalid(f"one ingest call may create at most {limit} new layers "
                          f"(--max-new-layers), this one creates {len(new)}",
                          new_layers=len(new), limit=limit,
                          constraint=f"new layers per call <= {limit}")

    def _push_heatmap(self, window: LayerWindow, batch: FrameBatch) -> None:
        """Send the batch's newest frame to heatmap subscribers, through the stored filter.

        Units outside ``spatial_bounds`` or ``intensity_range`` become ``null``
        and ``intensity``/``location`` describe the remaining units only; when no
        finite unit remains there is nothing to show and nothing is sent (nor is
        the layer's rate-limit slot used up).
        """
        filt = self._filter
        targets = self.hub.wants_heatmap(batch.model_id, batch.layer_id,
                                         filt.get("model_ids"), filt.get("layer_ids"))
        if not targets:
            return
        values = batch.values[-1]
        shown = visible_units(values, filt)
        if shown is not None:
            if not np.isfinite(values[shown]).any():
                return
            values = np.where(shown, values, np.float32(np.nan))
        magnitude = np.where(np.isfinite(values), values, -np.inf)
        width, height = window.canvas
        payload = {"type": "heatmap_update", "data": {
            "timestamp": float(batch.timestamps[-1]), "model_id": batch.model_id,
            "layer": batch.layer_id, "intensity": float(frame_activity(values[None, :])[0]),
            "location": unit_location(int(np.argmax(magnitude)), window.units),
            "step": int(batch.steps[-1]) if batch.steps[-1] >= 0 else None,
            "width": width, "height": height, "values": finite_list(values)}}
        text = dumps(payload)
        self.hub.heatmap_sent(batch.model_id, batch.layer_id)
        for conn in targets:
            conn.offer_update(f"heatmap:{batch.model_id}/{batch.layer_id}", text)

    # ---- anomalies -------------------------------------------------------------------

    def check_after_sequence(self, after_sequence: int | None) -> tuple[int, int]:
        """``(first, last)`` sequence; 410 when ``after_sequence`` was pruned."""
        first, last = self.anomaly_log.bounds()
        if after_sequence is not None and is_pruned(after_sequence, first):
            raise ApiError(SEQUENCE_EXPIRED, pruned_message(after_sequence + 1, first),
                           after_sequence=after_sequence,
                           first_sequence=first, last_sequence=last)
        return first, last

    def anomalies(self, params: Mapping[str, Any]) -> dict[str, Any]:
        """``GET /api/anomalies``."""
        query = queries.anomaly_query(params, self.config.max_anomaly_limit)
        first, last = self.check_after_sequence(query.after_sequence)
        return {"anomalies": self.anomaly_log.query(query), "last_sequence": last,
                "first_sequence": first}

    def replay_anomalies(self, query: AnomalyQuery) -> list[list[dict[str, Any]]]:
        """Logged anomalies after ``query.after_sequence`` in chunks (for a subscription)."""
        chunks = []
        after = query.after_sequence
        while after is not None:
            rows = self.anomaly_log.query(AnomalyQuery(
                min_severity=query.min_severity, model_ids=query.model_ids,
                after_sequence=after, limit=REPLAY_CHUNK))
            if not rows:
                break
            chunks.append(rows)
            after = rows[-1]["sequence"]
        return chunks

    # ---- view state ------------------------------------------------------------------

    def get_filter(self) -> dict[str, Any]:
        """The stored filter (``{}`` when none); a copy, so callers cannot change it."""
        return dict(self._filter)

    def filter_warnings(self) -> list[str]:
        """What ``set_filter`` would warn about the stored filter now (``filter_warnings``)."""
        return filter_warnings(self._filter, self.store.models)

    def set_filter(self, body: Any) -> dict[str, Any]:
        """Validate and store the filter; ``{}`` clears it. The answer's ``warnings`` name
        ids that match nothing known and say when the filter hides every layer."""
        filt = validate_filter(body)
        if filt:
            self.view.put("filter", filt)
        else:
            self.view.delete("filter")
        self._filter = filt
        self._view_changed()
        return {"status": "ok", "filter": filt,
                "warnings": filter_warnings(filt, self.store.models)}

    def get_theme(self) -> dict[str, Any]:
        """The stored theme (thermal by default)."""
        return self.view.get("theme") or dict(DEFAULT_THEME)

    def set_theme(self, body: Any) -> dict[str, Any]:
        """Validate and store the theme."""
        theme = validate_theme(body)
        self.view.put("theme", theme)
        self._view_changed()
        return {"status": "ok", **theme}

    def get_layout(self) -> dict[str, Any]:
        """The stored layout (``{}`` when none)."""
        return self.view.get("layout") or {}

    def set_layout(self, body: Any) -> dict[str, Any]:
        """Validate and store the layout (replacing the previous one)."""
        layout = validate_layout(body)
        self.view.put("layout", layout)
        self._view_changed()
        return {"status": "ok", "layout": layout}

    def _view_changed(self) -> None:
        """A filter, theme or layout was stored: tell the caches (``versions``)."""
        self.versions.view += 1
        self.hub.publish_versions(self.versions.message())

    # ---- exports ---------------------------------------------------------------------

    async def export(self, body: Any, deadline: Deadline,
                     gone: Callable[[], bool] | None = None) -> dict[str, Any]:
        """Write a server-side export: gathered here, staged by a worker, published here.

        Published (renamed into place) only when this caller gets its answer; at the
        deadline, or when ``gone()`` says the caller left, the worker stops and the
        staged files are removed (``exports``).

        Raises:
            ApiError: 409 ``already_exists`` while another export of the name runs.
        """
        planned = plan_export(body, self.store, self.correlations, self.config.exports_path,
                              self._filter, self.config.max_matrix_labels, self.anomaly_log,
                              self.get_theme())
        with self.export_names.reserve(planned.filename), span("analytic export",
                                                               **{"nh.work_class": EXPORTS}):
            staged = await self.pool.run(EXPORTS, deadline, planned.job, gone,
                                         StagedExport.discard)
            try:
                return staged.publish()
            except BaseException:
                staged.discard()
                raise

    def exports(self) -> dict[str, Any]:
        """``GET /api/exports``."""
        return {"exports": list_exports(self.config.exports_path)}

    # ---- background pushes -------------------------------------------------------------

    def start_background(self) -> None:
        """Start the periodic correlation/temporal pushes."""
        self._tasks.append(asyncio.create_task(self._periodic(
            self.config.correlation_interval, "correlations", self._correlation_update)))
        self._tasks.append(asyncio.create_task(self._periodic(
            self.config.temporal_interval, "temporal", self._temporal_update)))
        if self.config.anomaly_log != "sqlite":
            self._tasks.append(asyncio.create_task(self._flush_outbox()))

    async def _flush_outbox(self) -> None:
        """Publish anomalies an unreachable NATS did not take, and push them when it does."""
        while True:
            await asyncio.sleep(OUTBOX_FLUSH_INTERVAL)
            stored = self.anomaly_log.flush()
            if stored:
                self.versions.anomalies = int(stored[-1]["sequence"])
                self.hub.publish_anomalies(stored, SEVERITY_RANK)
                self.hub.publish_versions(self.versions.message())

    def add_task(self, task: asyncio.Task[None]) -> None:
        """Own a task so that shutdown cancels it."""
        self._tasks.append(task)

    async def _correlation_update(self) -> None:
        job, truncated = self.analytics.plan_correlation_push()
        payload = (await self.offload(self.deadline(), job)).to_json()
        if truncated:
            payload["metadata"]["truncated"] = truncated
        self.hub.publish_update("correlation_update", "correlations", payload)

    async def _temporal_update(self) -> None:
        payload = await self.offload(self.deadline(), self.analytics.plan_temporal_push())
        self.hub.publish_update("temporal_update", "temporal", payload)

    async def _periodic(self, interval: float, attr: str, push: Any) -> None:
        while True:
            await asyncio.sleep(interval)
            if self.hub.has_subscribers(attr):
                try:
                    await push()
                except ApiError as exc:
                    log.warning("periodic %s update skipped: %s", attr, exc.message)
                except Exception:
                    log.exception("periodic %s update failed", attr)

    def stop_work(self) -> None:
        """Shutdown begins: refuse new jobs and stop running ones at their next check."""
        self.pool.stop()
        self.decoder.stop()

    async def close(self) -> None:
        """Stop background work, close sockets and the database."""
        self.stop_work()
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self.hub.close_all()
        self.anomaly_log.close()


STATE = web.AppKey("state", ServerState)
