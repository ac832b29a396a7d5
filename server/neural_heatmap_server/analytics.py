"""The analytics operations: discovery, correlation, temporal patterns, comparison, pushes.

Each ``plan_*`` method checks its request and snapshots the data it needs on
the event loop (so a 400/404 costs no worker), and returns the job the worker
pool runs. What a request selects is decided in ``queries``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
from neural_heatmap_contract.limits import MAX_RENDER_PANELS

from . import layer_health, queries, render, temporal
from .compare import check_compare, compare_models
from .config import ServerConfig
from .correlation import CorrelationCache, CorrelationQuery, CorrelationResult, select_windows
from .errors import invalid
from .layout_canvas import unit_location
from .params import opt_list
from .store import ActivationStore, LayerWindow
from .unit_selection import check_selection, unit_selection
from .unit_temporal import snapshot_units, unit_patterns, unit_stats
from .view_state import CLEAR_HINT, hidden_notice, visible_units
from .workers import check_deadline

MAX_UNITS_DETAIL = 1 << 20  # unit locations one /api/models?include_units=true may list


class Analytics:
    """Read-only questions about the store, answered in worker jobs.

    Args:
        store: The activation store.
        correlations: The correlation cache shared by queries, pushes and exports.
        config: Limits (``--max-matrix-labels``, ``--max-push-labels``, ...).
        stored_filter: Returns the stored view filter (read only when a request asks).
    """

    def __init__(self, store: ActivationStore, correlations: CorrelationCache,
                 config: ServerConfig, stored_filter: Callable[[], Mapping[str, Any]]) -> None:
        self.store = store
        self.correlations = correlations
        self.config = config
        self.stored_filter = stored_filter

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

    def view(self, params: Mapping[str, Any]) -> Mapping[str, Any]:
        """The filter this request sees (``queries.view_filter``)."""
        return queries.view_filter(params, self.stored_filter())

    def correlation_query(self, params: Mapping[str, Any]) -> CorrelationQuery:
        """A correlation request, with the filter it asked for."""
        return queries.correlation_query(params, self.view(params),
                                         self.config.max_matrix_labels)

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

    def plan_render(self, params: Mapping[str, Any], stored_theme: Mapping[str, Any]
                    ) -> tuple[Callable[[], bytes], render.RenderOptions, str | None]:
        """``GET /api/render``: options and data taken now, the image drawn in the job.

        The correlation kind selects as ``/api/correlation`` does. The heatmap kind
        selects layers the same way and shows each layer's newest frame in the time
        range on its canvas grid (``layout_canvas``), the units the stored filter
        hides (``visible_units``) in grey: the live view as the UI shows it.

        The third value is None when the image shows something, else why it does not
        (``empty_notice``): the answer carries it, so a blank image is never a mystery.

        Raises:
            ApiError: 400 for bad options or more than ``MAX_RENDER_PANELS`` layers,
                404 for unknown models/layers named explicitly.
        """
        options = render.render_options(params, stored_theme)
        query = self.correlation_query(params)
        windows = self.store.select(query.model_ids, query.layer_ids, query.strict_models,
                                    query.strict_layers)
        if options.kind == "correlation":
            correlate = self.plan_correlation(params)

            def draw_matrix() -> bytes:
                result = correlate()
                return render.render_correlation(result.matrix, result.labels, options)
            return draw_matrix, options, None if windows else self.empty_notice(params)
        if len(windows) > MAX_RENDER_PANELS:
            raise invalid(f"the heatmap would show {len(windows)} layers, more than the limit "
                          f"of {MAX_RENDER_PANELS} panels (MAX_RENDER_PANELS); choose layers",
                          layers=len(windows), limit=MAX_RENDER_PANELS,
                          constraint=f"layers <= {MAX_RENDER_PANELS}")
        masks = self.stored_filter()
        panels = []
        masked_all = bool(windows)
        for w in windows:
            values = w.newest_values(query.start_time, query.end_time)
            width, height = w.canvas
            grid = np.full(width * height, np.nan)
            if values is not None:
                shown = visible_units(values, dict(masks))
                grid[:w.units] = values if shown is None else np.where(shown, values, np.nan)
                masked_all &= shown is not None and not shown.any()
            else:
                masked_all = False
            panels.append(render.Panel(f"{w.model_id}/{w.layer_id}",
                                       grid.reshape(height, width)))
        notice = self.empty_notice(params) if not windows else None
        if masked_all:
            notice = (f"the view filter's intensity_range/spatial_bounds hide every unit of "
                      f"the {len(windows)} layers drawn; {CLEAR_HINT}")
        return (lambda: render.render_heatmap(panels, options)), options, notice

    def empty_notice(self, params: Mapping[str, Any]) -> str:
        """Why a selection came out empty: the view filter when it is the cause
        (``hidden_notice``), else that no model has sent frames yet."""
        known = {m: list(layers) for m, layers in self.store.models.items()}
        if not known:
            return "no model has sent frames yet; nothing to draw"
        notice = hidden_notice(self.view(params), known)
        return notice or "the selection matches no layer"

    def plan_temporal_patterns(self, params: Mapping[str, Any]
                               ) -> Callable[[], list[dict[str, Any]]]:
        """``GET /api/temporal``: parameters checked now, patterns found in the job.

        With ``granularity=unit`` every selected unit's own series is analysed
        (``unit_temporal``); only the chosen columns are copied.
        """
        kinds = temporal.parse_pattern_types(opt_list(params, "pattern_types"))
        model_id, layer_id = queries.one_model_and_layer(params)
        time_window = queries.time_window(params)
        selection = unit_selection(params)
        windows = self.store.select([model_id] if model_id else None,
                                    [layer_id] if layer_id else None)
        time_range = queries.filter_time_range(self.view(params))
        if selection is not None:
            check_selection(windows, selection, self.config.max_matrix_labels)
            series = snapshot_units(windows, selection)
            return lambda: unit_patterns(series, time_range, time_window, kinds)
        snapshot = self.store.snapshot(windows, values=False)
        return lambda: temporal.temporal_patterns(snapshot, model_id, layer_id, time_range,
                                                  time_window, kinds)

    def plan_temporal_stats(self, params: Mapping[str, Any]) -> Callable[[], dict[str, Any]]:
        """``GET /api/temporal/stats``: per layer, and with ``granularity=unit`` also per
        selected unit with the units that oscillate."""
        model_id, layer_id = queries.one_model_and_layer(params)
        selection = unit_selection(params)
        windows = self.store.select([model_id] if model_id else None,
                                    [layer_id] if layer_id else None)
        time_range = queries.filter_time_range(self.view(params))
        series = None
        if selection is not None:
            check_selection(windows, selection, self.config.max_matrix_labels)
            series = snapshot_units(windows, selection)
        snapshot = self.store.snapshot(windows, values=False)

        def job() -> dict[str, Any]:
            doc = temporal.temporal_stats(snapshot, model_id, time_range)
            if series is not None:
                doc.update(granularity="unit", **unit_stats(series, time_range))
                doc["periodicity"]["periodic_units"] = len(doc["oscillating_units"])
            return doc
        return job

    def plan_layer_health(self, params: Mapping[str, Any]) -> Callable[[], dict[str, Any]]:
        """``GET /api/layers/health``: layers chosen and copied now, judged in the job."""
        model_id, layer_id, top_k = layer_health.health_query(params)
        windows = self.store.select([model_id] if model_id else None,
                                    [layer_id] if layer_id else None)
        layer_health.check_size(windows, self.config.max_matrix_labels)
        snapshot = self.store.snapshot(windows)
        return lambda: layer_health.store_health(snapshot, top_k)

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

    # ---- the periodic pushes show the stored filter: they are the UI's live view -----

    def plan_correlation_push(self) -> tuple[Callable[[], CorrelationResult], dict[str, Any]]:
        """The filter's correlation over at most ``--max-push-labels`` labels.

        A filter (or a store) selecting more series than that would make every push
        a multi-megabyte message to every subscriber; the push then covers the
        first ones, and the returned ``truncated`` document (empty when nothing
        was left out) says how many labels were.
        """
        query = queries.correlation_query({}, self.stored_filter(),
                                          self.config.max_matrix_labels)
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
        truncated: dict[str, Any] = {}
        if total > labels:
            truncated = {"labels_total": total, "labels_sent": labels, "limit": limit,
                         "flag": "--max-push-labels"}
        return (lambda: self.correlations.get(snapshot, query)), truncated

    def plan_temporal_push(self) -> Callable[[], dict[str, Any]]:
        """The filter's layers' temporal update."""
        filt = self.stored_filter()
        windows = self.store.select(filt.get("model_ids"), filt.get("layer_ids"), False, False)
        snapshot = self.store.snapshot(windows, values=False)
        time_range = queries.filter_time_range(filt)
        return lambda: temporal.temporal_update(snapshot, filt.get("model_ids"),
                                                filt.get("layer_ids"), time_range)

