"""The server's operations, shared by the HTTP routes, the WebSocket and the source.

``ServerState`` owns the activation store, the anomaly detector, the durable
anomaly log, the view state and the WebSocket hub. Each public method is one
operation of the API taking already-decoded parameters (a mapping of query
values or WebSocket ``data``), so both transports behave identically.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Mapping
from typing import Any

import numpy as np
from aiohttp import web

from . import temporal
from .alignment import time_mask
from .anomalies import SEVERITIES, SEVERITY_RANK, AnomalyDetector
from .compare import compare_models
from .config import ServerConfig
from .correlation import CorrelationCache, CorrelationQuery, CorrelationResult
from .errors import ApiError, invalid
from .exports import FORMATS, ExportRequest, list_exports, safe_name, write_export
from .hub import Hub
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
from .store import ActivationStore, FrameBatch, LayerWindow, frame_activity
from .view_state import (
    DEFAULT_THEME,
    validate_filter,
    validate_layout,
    validate_theme,
    visible_units,
)
from .wire import dumps, finite_list

log = logging.getLogger(__name__)

MAX_ANOMALY_LIMIT = 10000
REPLAY_CHUNK = 100


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
        self._tasks: list[asyncio.Task[None]] = []

    # ---- ingestion -------------------------------------------------------------------

    def ingest(self, batches: list[FrameBatch]) -> int:
        """Store validated batches, detect and log anomalies, push updates.

        Returns:
            The number of frames accepted.
        """
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

    def models(self, include_units: bool) -> dict[str, Any]:
        """``GET /api/models``."""
        out = []
        for model_id, layers in self.store.models.items():
            layer_docs = []
            for w in layers.values():
                width, height = w.canvas
                doc: dict[str, Any] = {"layer_id": w.layer_id, "units": w.units, "width": width,
                                       "height": height, "frames": w.total_frames,
                                       "window_frames": w.count}
                if include_units:
                    doc["units_detail"] = [{"index": i, **unit_location(i, w.units)}
                                           for i in range(w.units)]
                layer_docs.append(doc)
            out.append({
                "model_id": model_id, "frames": sum(w.total_frames for w in layers.values()),
                "first_timestamp": min(w.first_timestamp for w in layers.values()),
                "last_timestamp": max(w.last_timestamp for w in layers.values()),
                "layers": layer_docs})
        return {"models": out}

    # ---- analytics -------------------------------------------------------------------

    def correlation(self, params: Mapping[str, Any]) -> CorrelationResult:
        """Correlation; absent parameters fall back to the stored filter."""
        filt = self._filter
        model_ids, layer_ids = opt_list(params, "model_ids"), opt_list(params, "layer_ids")
        start, end = opt_float(params, "start_time"), opt_float(params, "end_time")
        time_range = self.filter_time_range()
        if start is None and end is None and time_range:
            start, end = time_range
        query = CorrelationQuery(
            model_ids=model_ids or filt.get("model_ids"),
            layer_ids=layer_ids or filt.get("layer_ids"),
            granularity=opt_str(params, "granularity") or "layer",
            start_time=start, end_time=end,
            strict_models=model_ids is not None, strict_layers=layer_ids is not None)
        return self.correlations.get(self.store, query)

    def temporal_patterns(self, params: Mapping[str, Any]) -> list[dict[str, Any]]:
        """``GET /api/temporal``."""
        kinds = temporal.parse_pattern_types(opt_list(params, "pattern_types"))
        return temporal.temporal_patterns(
            self.store, opt_str(params, "model_id"), opt_str(params, "layer_id"),
            self.filter_time_range(), opt_float(params, "time_window"), kinds)

    def temporal_stats(self, params: Mapping[str, Any]) -> dict[str, Any]:
        """``GET /api/temporal/stats``."""
        return temporal.temporal_stats(self.store, opt_str(params, "model_id"),
                                       self.filter_time_range())

    def compare(self, body: Any) -> dict[str, Any]:
        """``POST /api/compare``."""
        if not isinstance(body, dict):
            raise invalid("the body must be a JSON object")
        model_ids = opt_list(body, "model_ids") or []
        metrics = opt_list(body, "metrics")
        return compare_models(self.store, model_ids, metrics)

    # ---- anomalies -------------------------------------------------------------------

    def anomaly_query(self, params: Mapping[str, Any]) -> AnomalyQuery:
        """Parse anomaly filters shared by the route, ``get_anomalies`` and replay."""
        model_ids = opt_list(params, "model_ids")
        return AnomalyQuery(
            severity=opt_choice(params, "severity", SEVERITIES),
            min_severity=opt_choice(params, "min_severity", SEVERITIES),
            model_id=opt_str(params, "model_id"),
            model_ids=tuple(model_ids) if model_ids else None,
            after_sequence=opt_int(params, "after_sequence", low=0),
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

    async def export(self, body: Any) -> dict[str, Any]:
        """Write a server-side export; the data is gathered here, files in a thread."""
        if not isinstance(body, dict):
            raise invalid("the body must be a JSON object")
        filename = safe_name(body.get("filename"))
        fmt = body.get("format", "csv")
        fmt = fmt.lower() if isinstance(fmt, str) else fmt
        if fmt not in FORMATS:
            raise invalid(f"unknown export format {fmt!r}; use {list(FORMATS)}",
                          format=fmt, allowed=list(FORMATS))
        target = self.config.exports_path / filename
        if target.exists() and target.is_dir() != (fmt == "tensorboard"):
            raise ApiError("conflict", f"{filename!r} already exists as a "
                           f"{'directory' if target.is_dir() else 'file'}", filename=filename)
        matrix = self.correlation(body)
        layers = []
        if fmt == "tensorboard":
            filt = self._filter
            start, end = matrix.metadata["start_time"], matrix.metadata["end_time"]
            for w in self.store.select(opt_list(body, "model_ids") or filt.get("model_ids"),
                                       opt_list(body, "layer_ids") or filt.get("layer_ids"),
                                       strict_models=False, strict_layers=False):
                ts, steps, activity = w.series()
                keep = time_mask(ts, start, end)  # the same time range as the matrix
                ts, steps, activity = ts[keep], steps[keep], activity[keep]
                _, _, latest = w.frames(1)
                layers.append((w, ts, steps, activity, latest[0].copy()))
        request = ExportRequest(filename, fmt, matrix, layers)
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(None, write_export, self.config.exports_path, request)

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

    def _correlation_update(self) -> None:
        result = self.correlation({})
        self.hub.publish_update("correlation_update", "correlations", result.to_json())

    def _temporal_update(self) -> None:
        filt = self._filter
        payload = temporal.temporal_update(self.store, filt.get("model_ids"),
                                           filt.get("layer_ids"), self.filter_time_range())
        self.hub.publish_update("temporal_update", "temporal", payload)

    async def _periodic(self, interval: float, attr: str, push: Any) -> None:
        while True:
            await asyncio.sleep(interval)
            if self.hub.has_subscribers(attr):
                try:
                    push()
                except ApiError as exc:
                    log.warning("periodic %s update skipped: %s", attr, exc.message)
                except Exception:
                    log.exception("periodic %s update failed", attr)

    async def close(self) -> None:
        """Stop background work, close sockets and the database."""
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self.hub.close_all()
        self.anomaly_log.close()


STATE = web.AppKey("state", ServerState)
