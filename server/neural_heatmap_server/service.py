"""The server's operations, shared by the HTTP routes, the WebSocket and the source.

``ServerState`` owns the activation store, the anomaly detector, the durable
anomaly log, the view state and the WebSocket hub. Each public method is one
operation of the API taking already-decoded parameters (a mapping of query
values or WebSocket ``data``), so both transports behave identically.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import time
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

import numpy as np
from aiohttp import web

from . import temporal
from .alignment import time_mask
from .anomalies import SEVERITIES, SEVERITY_RANK, AnomalyDetector
from .compare import check_compare, compare_models
from .config import ServerConfig
from .correlation import (
    GRANULARITIES,
    CorrelationCache,
    CorrelationQuery,
    CorrelationResult,
    select_windows,
)
from .errors import ApiError, invalid
from .exports import FORMATS, ExportRequest, list_exports, safe_name, write_export
from .hub import Hub
from .ingest import decode_large, parse_json_frames
from .layout_canvas import unit_location
from .params import opt_choice, opt_float, opt_int, opt_list, opt_str
from .persistence import (
    AnomalyLog,
    AnomalyQuery,
    SqliteAnomalyLog,
    SqliteViewStateStore,
    ViewStateStore,
    open_database,
)
from .store import ActivationStore, Float32Array, FrameBatch, LayerWindow, frame_activity
from .view_state import (
    DEFAULT_THEME,
    validate_filter,
    validate_layout,
    validate_theme,
    visible_units,
)
from .wire import dumps, finite_list, loads
from .workers import Deadline, WorkClass, WorkPool, check_deadline, parse_deadline

log = logging.getLogger(__name__)

T = TypeVar("T")

MAX_ANOMALY_LIMIT = 10000
MAX_SEQUENCE = 2**63 - 1  # SQLite integers are int64
REPLAY_CHUNK = 100
MAX_UNITS_DETAIL = 1 << 20  # unit locations one /api/models?include_units=true may list
ANALYTICS, EXPORTS, INGEST = "analytics", "exports", "ingest"
MAX_DOCUMENT_BYTES = 1 << 20  # a filter, theme, layout, compare, export or query message
INLINE_JSON_BYTES = 256 << 10  # larger JSON is decoded (and its frames parsed) in a process


class ServerState:
    """Everything one server process holds; see the module docstring."""

    def __init__(self, config: ServerConfig) -> None:
        self.config = config
        self.started = time.time()
        self.store = ActivationStore(config.window, config.max_units,
                                     config.max_layers)
        self.detector = AnomalyDetector(config.anomaly_cooldown)
        conn = open_database(config.database_path)
        self.anomaly_log: AnomalyLog = SqliteAnomalyLog(conn, config.anomaly_retention)
        self.view: ViewStateStore = SqliteViewStateStore(conn)
        # The filter is read for every ingested batch (heatmap fan-out), so it is
        # kept in memory and only written through to SQLite when it changes.
        self._filter: dict[str, Any] = self.view.get("filter") or {}
        self.hub = Hub(config.ws_queue, config.heatmap_hz)
        self.correlations = CorrelationCache()
        self.pool = WorkPool(config.workers, [
            WorkClass(ANALYTICS, config.max_pending_analytics, "--max-pending-analytics"),
            WorkClass(EXPORTS, config.max_pending_exports, "--max-pending-exports")])
        # json.loads holds the GIL, so large JSON is decoded in another process (started
        # on first use); the batches are still stored on the loop, in arrival order.
        self.decoder = WorkPool(1, [
            WorkClass(INGEST, config.max_pending_ingest, "--max-pending-ingest")],
            processes=True)
        self._tasks: list[asyncio.Task[None]] = []

    def deadline(self, header: str | None = None) -> Deadline:
        """A request's deadline: ``X-Request-Timeout-Ms`` capped by --max-request-seconds."""
        return parse_deadline(header, self.config.max_request_seconds)

    async def offload(self, deadline: Deadline, job: Callable[[], T],
                      work_class: str = ANALYTICS) -> T:
        """Run ``job`` (made by a ``plan_*`` method) in the worker pool."""
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
        for batch in batches:
            window = self.store.append(batch)
            found.extend(self.detector.detect(window, batch))
            self._push_heatmap(window, batch)
        if found:
            stored = self.anomaly_log.append(found)
            self.hub.publish_anomalies(stored, SEVERITY_RANK)
        return sum(len(b.timestamps) for b in batches)

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

    # ---- discovery -------------------------------------------------------------------

    def plan_models(self, include_units: bool) -> Callable[[], dict[str, Any]]:
        """``GET /api/models``: the summary is read now, unit locations in the job.

        Raises:
            ApiError: 400 when unit locations would list more than ``MAX_UNITS_DETAIL``.
        """
        out = []
        shapes: list[tuple[dict[str, Any], int]] = []
        for model_id, layers in self.store.models.items():
            layer_docs = []
            for w in layers.values():
                width, height = w.canvas
                doc: dict[str, Any] = {"layer_id": w.layer_id, "units": w.units, "width": width,
                                       "height": height, "frames": w.total_frames,
                                       "window_frames": w.count}
                shapes.append((doc, w.units))
                layer_docs.append(doc)
            out.append({
                "model_id": model_id, "frames": sum(w.total_frames for w in layers.values()),
                "first_timestamp": min(w.first_timestamp for w in layers.values()),
                "last_timestamp": max(w.last_timestamp for w in layers.values()),
                "layers": layer_docs})
        if include_units:
            total = sum(units for _, units in shapes)
            if total > MAX_UNITS_DETAIL:
                raise invalid(f"include_units would list {total} units, more than the limit of "
                              f"{MAX_UNITS_DETAIL}; ask without include_units",
                              units=total, limit=MAX_UNITS_DETAIL,
                              constraint=f"units listed <= {MAX_UNITS_DETAIL}")

        def job() -> dict[str, Any]:
            if include_units:
                for doc, units in shapes:
                    check_deadline()
                    doc["units_detail"] = [{"index": i, **unit_location(i, units)}
                                           for i in range(units)]
            return {"models": out}
        return job

    # ---- analytics -------------------------------------------------------------------

    def correlation_query(self, params: Mapping[str, Any],
                          max_labels: int | None = None) -> CorrelationQuery:
        """Parse a correlation request; absent parameters fall back to the stored filter."""
        filt = self._filter
        model_ids, layer_ids = opt_list(params, "model_ids"), opt_list(params, "layer_ids")
        start, end = opt_float(params, "start_time"), opt_float(params, "end_time")
        time_range = self.filter_time_range()
        if start is None and end is None and time_range:
            start, end = time_range
        return CorrelationQuery(
            model_ids=model_ids or filt.get("model_ids"),
            layer_ids=layer_ids or filt.get("layer_ids"),
            granularity=opt_choice(params, "granularity", GRANULARITIES) or "layer",
            start_time=start, end_time=end,
            strict_models=model_ids is not None, strict_layers=layer_ids is not None,
            max_labels=max_labels or self.config.max_matrix_labels)

    def plan_correlation(self, params: Mapping[str, Any]) -> Callable[[], CorrelationResult]:
        """Check a correlation request and snapshot its data; the job computes it.

        Raises:
            ApiError: 400/404 from ``select_windows``, before any work is admitted.
        """
        query = self.correlation_query(params)
        windows = select_windows(self.store, query)
        cached = self.correlations.peek(self.store.version, query)
        if cached is not None:  # no copy needed: the data has not changed since
            return lambda: cached
        snapshot = self.store.snapshot(windows, values=query.granularity == "unit")
        return lambda: self.correlations.get(snapshot, query)

    def plan_temporal_patterns(self, params: Mapping[str, Any]
                               ) -> Callable[[], list[dict[str, Any]]]:
        """``GET /api/temporal``: parameters checked now, patterns found in the job."""
        kinds = temporal.parse_pattern_types(opt_list(params, "pattern_types"))
        model_id, layer_id = opt_str(params, "model_id"), opt_str(params, "layer_id")
        time_window = opt_float(params, "time_window")
        if time_window is not None and not time_window > 0:
            raise invalid("time_window must be a positive number of milliseconds",
                          field="time_window", time_window=time_window)
        windows = self.store.select([model_id] if model_id else None,
                                    [layer_id] if layer_id else None)
        snapshot = self.store.snapshot(windows, values=False)
        time_range = self.filter_time_range()
        return lambda: temporal.temporal_patterns(snapshot, model_id, layer_id, time_range,
                                                  time_window, kinds)

    def plan_temporal_stats(self, params: Mapping[str, Any]) -> Callable[[], dict[str, Any]]:
        """``GET /api/temporal/stats``."""
        model_id = opt_str(params, "model_id")
        snapshot = self.store.snapshot(self.store.select([model_id] if model_id else None,
                                                         None), values=False)
        time_range = self.filter_time_range()
        return lambda: temporal.temporal_stats(snapshot, model_id, time_range)

    def plan_compare(self, body: Any) -> Callable[[], dict[str, Any]]:
        """``POST /api/compare``: ids de-duplicated and capped now, CKA in the job."""
        if not isinstance(body, dict):
            raise invalid("the body must be a JSON object")
        model_ids, metrics = check_compare(self.store, opt_list(body, "model_ids") or [],
                                           opt_list(body, "metrics"),
                                           self.config.max_compare_models)
        windows = [w for m in model_ids for w in self.store.models[m].values()]
        snapshot = self.store.snapshot(windows)
        return lambda: compare_models(snapshot, model_ids, metrics)

    # ---- anomalies -------------------------------------------------------------------

    def anomaly_query(self, params: Mapping[str, Any]) -> AnomalyQuery:
        """Parse anomaly filters shared by the route, ``get_anomalies`` and replay."""
        model_ids = opt_list(params, "model_ids")
        return AnomalyQuery(
            severity=opt_choice(params, "severity", SEVERITIES),
            min_severity=opt_choice(params, "min_severity", SEVERITIES),
            model_id=opt_str(params, "model_id"),
            model_ids=tuple(model_ids) if model_ids else None,
            after_sequence=opt_int(params, "after_sequence", low=0, high=MAX_SEQUENCE),
            limit=opt_int(params, "limit", low=1, high=MAX_ANOMALY_LIMIT) or 100)

    def check_after_sequence(self, after_sequence: int | None) -> tuple[int, int]:
        """``(first, last)`` sequence; 410 when ``after_sequence`` was pruned."""
        first, last = self.anomaly_log.bounds()
        if after_sequence is not None and after_sequence + 1 < first:
            raise ApiError("sequence_expired",
                           f"sequence {after_sequence + 1} was pruned; the oldest retained "
                           f"is {first}", after_sequence=after_sequence,
                           first_sequence=first, last_sequence=last)
        return first, last

    def anomalies(self, params: Mapping[str, Any]) -> dict[str, Any]:
        """``GET /api/anomalies``."""
        query = self.anomaly_query(params)
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

    def filter_time_range(self) -> tuple[float, float] | None:
        """The filter's ``time_range`` in seconds (it is stored in milliseconds)."""
        time_range = self._filter.get("time_range")
        return (time_range[0] / 1000.0, time_range[1] / 1000.0) if time_range else None

    def set_filter(self, body: Any) -> dict[str, Any]:
        """Validate and store the filter; ``{}`` clears it."""
        filt = validate_filter(body)
        if filt:
            self.view.put("filter", filt)
        else:
            self.view.delete("filter")
        self._filter = filt
        return {"status": "ok", "filter": filt}

    def get_theme(self) -> dict[str, Any]:
        """The stored theme (thermal by default)."""
        return self.view.get("theme") or dict(DEFAULT_THEME)

    def set_theme(self, body: Any) -> dict[str, Any]:
        """Validate and store the theme."""
        theme = validate_theme(body)
        self.view.put("theme", theme)
        return {"status": "ok", **theme}

    def get_layout(self) -> dict[str, Any]:
        """The stored layout (``{}`` when none)."""
        return self.view.get("layout") or {}

    def set_layout(self, body: Any) -> dict[str, Any]:
        """Validate and store the layout (replacing the previous one)."""
        layout = validate_layout(body)
        self.view.put("layout", layout)
        return {"status": "ok", "layout": layout}

    # ---- exports ---------------------------------------------------------------------

    async def export(self, body: Any, deadline: Deadline) -> dict[str, Any]:
        """Write a server-side export: checked and snapshotted here, computed and
        written by a worker (class ``exports``)."""
        if not isinstance(body, dict):
            raise invalid("the body must be a JSON object")
        filename = safe_name(body.get("filename"))
        fmt = body.get("format", "csv")
        fmt = fmt.lower() if isinstance(fmt, str) else fmt
        if fmt not in FORMATS:
            raise invalid(f"unknown export format {fmt!r}; use {list(FORMATS)}",
                          field="format", format=fmt, allowed=list(FORMATS))
        target = self.config.exports_path / filename
        if target.exists() and target.is_dir() != (fmt == "tensorboard"):
            raise ApiError("conflict", f"{filename!r} already exists as a "
                           f"{'directory' if target.is_dir() else 'file'}", filename=filename)
        query = self.correlation_query(body)
        matrix_data = self.store.snapshot(select_windows(self.store, query),
                                          values=query.granularity == "unit")
        series_data: list[tuple[LayerWindow, Float32Array]] = []
        if fmt == "tensorboard":
            filt = self._filter
            series_data = [(w.snapshot(values=False), w.frames(1)[2][0].copy())
                           for w in self.store.select(
                               opt_list(body, "model_ids") or filt.get("model_ids"),
                               opt_list(body, "layer_ids") or filt.get("layer_ids"),
                               strict_models=False, strict_layers=False)]
        root = self.config.exports_path

        def job() -> dict[str, Any]:
            matrix = self.correlations.get(matrix_data, query)
            layers = []
            start, end = matrix.metadata["start_time"], matrix.metadata["end_time"]
            for w, latest in series_data:
                check_deadline()
                ts, steps, activity = w.series()
                keep = time_mask(ts, start, end)  # the same time range as the matrix
                layers.append((w, ts[keep], steps[keep], activity[keep], latest))
            return write_export(root, ExportRequest(filename, fmt, matrix, layers))
        return await self.offload(deadline, job, EXPORTS)

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

    def add_task(self, task: asyncio.Task[None]) -> None:
        """Own a task so that shutdown cancels it."""
        self._tasks.append(task)

    async def _correlation_update(self) -> None:
        """Push the filter's correlation, over at most ``--max-push-labels`` labels.

        A filter (or a store) selecting more series than that would make every push
        a multi-megabyte message to every subscriber; the push then covers the
        first ones and ``metadata.truncated`` says how many labels were left out.
        """
        query = self.correlation_query({}, max_labels=self.config.max_matrix_labels)
        windows = self.store.select(query.model_ids, query.layer_ids, False, False)
        limit = self.config.max_push_labels
        kept: list[LayerWindow] = []
        labels = 0
        for w in windows:
            size = w.units if query.granularity == "unit" else 1
            if labels + size > limit:
                break
            kept.append(w)
            labels += size
        total = sum(w.units for w in windows) if query.granularity == "unit" else len(windows)
        snapshot = self.store.snapshot(kept, values=query.granularity == "unit")
        result = await self.offload(self.deadline(),
                                    lambda: self.correlations.get(snapshot, query))
        payload = result.to_json()
        if total > labels:
            payload["metadata"]["truncated"] = {"labels_total": total, "labels_sent": labels,
                                                "limit": limit, "flag": "--max-push-labels"}
        self.hub.publish_update("correlation_update", "correlations", payload)

    async def _temporal_update(self) -> None:
        filt = self._filter
        windows = self.store.select(filt.get("model_ids"), filt.get("layer_ids"), False, False)
        snapshot = self.store.snapshot(windows, values=False)
        time_range = self.filter_time_range()
        payload = await self.offload(self.deadline(), lambda: temporal.temporal_update(
            snapshot, filt.get("model_ids"), filt.get("layer_ids"), time_range))
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
