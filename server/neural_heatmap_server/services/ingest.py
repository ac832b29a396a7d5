"""Ingestion: validated frame batches stored, their anomalies detected, heatmaps pushed.

Why a service: every frame, from HTTP, the WebSocket or the built-in source,
takes the same steps in the same order (limits checked for the whole call, then
stored, detected, fanned out, and the version counters moved even when a step
fails), and that order is what caches and subscribers rely on. Recording the
anomalies belongs to the anomaly log (``record_anomalies``); which units a
heatmap shows to the stored view filter (``stored_filter``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from ..anomalies import AnomalyDetector
from ..errors import invalid
from ..hub import Hub
from ..layout_canvas import unit_location
from ..metrics import ServerMetrics
from ..store import ActivationStore, FrameBatch, LayerWindow, frame_activity
from ..versions import Versions
from ..view_state import visible_units
from ..wire import dumps, finite_list


class IngestService:
    """Stores frames and tells everyone who follows them.

    Args:
        store: The activation store.
        detector: The anomaly detector (its cooldown state lives as long as the server).
        max_new_layers: ``--max-new-layers``, the most new layers one call may create.
        record_anomalies: Makes found anomalies durable and publishes them.
        stored_filter: The stored view filter, read for every heatmap push.
        hub: The WebSocket fan-out.
        versions: The version counters (``frames`` moves with every stored batch).
        metrics: Counts the ingested frames.
    """

    def __init__(self, store: ActivationStore, detector: AnomalyDetector, max_new_layers: int,
                 record_anomalies: Callable[[list[dict[str, Any]]], None],
                 stored_filter: Callable[[], dict[str, Any]], hub: Hub, versions: Versions,
                 metrics: ServerMetrics) -> None:
        self._store = store
        self._detector = detector
        self._max_new_layers = max_new_layers
        self._record_anomalies = record_anomalies
        self._stored_filter = stored_filter
        self._hub = hub
        self._versions = versions
        self._metrics = metrics

    def accept(self, batches: list[FrameBatch]) -> int:
        """Store validated batches, detect and log anomalies, push updates.

        Returns:
            The number of frames accepted.
        """
        batches = [b for b in batches if len(b.timestamps)]  # an empty body creates nothing
        self._check_new_layers(batches)
        self._store.validate(list(enumerate(batches)))
        found: list[dict[str, Any]] = []
        try:
            for batch in batches:
                window = self._store.append(batch)
                found.extend(self._detector.detect(batch))
                self._push_heatmap(window, batch)
            if found:
                self._record_anomalies(found)
        finally:  # whatever was stored must reach the caches, even if a step failed
            if batches:
                self._versions.frames = self._store.version
                self._hub.publish_versions(self._versions.message())
        frames = sum(len(b.timestamps) for b in batches)
        self._metrics.ingest_frames.inc(frames)
        return frames

    def _check_new_layers(self, batches: list[FrameBatch]) -> None:
        """At most ``--max-new-layers`` new windows per ingest call (400 beyond).

        Each new window preallocates ``--window x units`` floats and adds a label
        to every later correlation push, so one call naming thousands of fresh
        one-unit layers would amplify into megabytes per subscriber per push.
        """
        new = {(b.model_id, b.layer_id) for b in batches
               if self._store.layer_or_none(b.model_id, b.layer_id) is None}
        limit = self._max_new_layers
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
        filt = self._stored_filter()
        targets = self._hub.wants_heatmap(batch.model_id, batch.layer_id,
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
        self._hub.heatmap_sent(batch.model_id, batch.layer_id)
        for conn in targets:
            conn.offer_update(f"heatmap:{batch.model_id}/{batch.layer_id}", text)
