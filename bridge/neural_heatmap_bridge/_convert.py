"""The bridge's JSON -> protobuf conversions of whole answers (and filters/layouts back).

The upstream speaks the seed's JSON (float seconds, severity words, nested dicts); the protos
speak Timestamps, enums, Tensors and typed metadata maps. Handlers stay thin by calling only
these functions, so a change of wire shape is a change here. The parts they build on have their
own modules: enum tables and binary layouts in the contract package (``neural_heatmap_contract``:
``enums``, ``media``), ``_scalars`` (timestamps, metadata values), ``_tensors`` (arrays and
matrices), ``_matrix_wire`` (the hand-written matrix answer), ``_anomaly_cache``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
from google.protobuf import timestamp_pb2
from neural_heatmap_contract.enums import ANOMALY_TYPE, EXPORT_FORMAT, PATTERN_TYPE, SEVERITY, THEME
from neural_heatmap_contract.media import PayloadError
from neural_heatmap_contract.v1 import (
    analytics_pb2,
    common_pb2,
    export_pb2,
    metadata_pb2,
    models_pb2,
    updates_pb2,
    view_pb2,
)

from ._scalars import (
    TIMESTAMP_MAX_S,
    JSONDict,
    fill_metadata,
    float_or,
    location,
    metadata_map,
    opt_float,
    timestamp,
)
from ._tensors import correlation_from_json, matrix_json, tensor


def _name(value: Any) -> str:
    """An enum word as the upstream sent it ("" when absent or null)."""
    return "" if value is None else str(value)


# ---------------------------------------------------------------- temporal
def temporal_pattern(doc: Mapping[str, Any]) -> analytics_pb2.TemporalPattern:
    """A seed TemporalPattern dict -> TemporalPattern (model/layer lifted from metadata).

    The kind's name is kept as sent (``pattern_type_name``) so one outside the enum is not lost.
    """
    meta = doc.get("metadata") or {}
    name = _name(doc.get("pattern_type"))
    out = analytics_pb2.TemporalPattern(
        pattern_type=PATTERN_TYPE.get(name, 0),
        pattern_type_name=name,
        confidence=float_or(doc.get("confidence")),
        model_id=str(meta.get("model_id") or doc.get("model_id") or ""),
        layer_id=str(meta.get("layer_id") or doc.get("layer_id") or ""),
    )
    fill_metadata(out.metadata, meta)
    for name in ("frequency", "amplitude", "phase"):
        if doc.get(name) is not None:
            setattr(out, name, float(doc[name]))
    for name in ("start_time", "end_time"):
        if doc.get(name) is not None:
            getattr(out, name).CopyFrom(timestamp(float(doc[name])))
    if doc.get("unit") is not None:
        out.unit = int(doc["unit"])
        out.location.CopyFrom(location(doc.get("location")) or common_pb2.Location())
    return out


def _unit_statistics(x: Mapping[str, Any]) -> analytics_pb2.UnitStatistics:
    return analytics_pb2.UnitStatistics(
        model_id=str(x.get("model_id") or ""),
        layer_id=str(x.get("layer_id") or ""),
        unit=int(x.get("unit") or 0),
        location=location(x.get("location")),
        samples=int(x.get("samples") or 0),
        mean=float_or(x.get("mean")),
        std=float_or(x.get("std")),
        min=float_or(x.get("min")),
        max=float_or(x.get("max")),
        trend_slope=float_or(x.get("trend_slope")),
        trend_r_squared=float_or(x.get("trend_r_squared")),
        dominant_frequency=float_or(x.get("dominant_frequency")),
        periodicity_strength=float_or(x.get("periodicity_strength")),
        periodic=bool(x.get("periodic")),
        state_changes=int(x.get("state_changes") or 0),
    )


def _oscillating_unit(x: Mapping[str, Any]) -> analytics_pb2.OscillatingUnit:
    return analytics_pb2.OscillatingUnit(
        model_id=str(x.get("model_id") or ""),
        layer_id=str(x.get("layer_id") or ""),
        unit=int(x.get("unit") or 0),
        location=location(x.get("location")),
        frequency=float_or(x.get("frequency")),
        periodicity_strength=float_or(x.get("periodicity_strength")),
        amplitude=float_or(x.get("amplitude")),
    )


def _objects(doc: Mapping[str, Any], key: str) -> list[Mapping[str, Any]]:
    """The objects of a JSON list member (none when it is absent or not a list)."""
    items = doc.get(key)
    return [x for x in items if isinstance(x, Mapping)] if isinstance(items, list) else []


def temporal_statistics(doc: Mapping[str, Any]) -> analytics_pb2.TemporalStatistics:
    """``GET /api/temporal/stats`` -> TemporalStatistics; anything unmodelled goes to ``raw``."""
    trends = doc.get("trends") if isinstance(doc.get("trends"), Mapping) else {}
    periodicity = doc.get("periodicity") if isinstance(doc.get("periodicity"), Mapping) else {}
    layers = doc.get("layers") if isinstance(doc.get("layers"), list) else []
    assert isinstance(trends, Mapping) and isinstance(periodicity, Mapping)
    assert isinstance(layers, list)
    out = analytics_pb2.TemporalStatistics(
        model_id=str(doc.get("model_id") or ""),
        layers=[
            analytics_pb2.LayerStatistics(
                model_id=str(x.get("model_id") or ""),
                layer_id=str(x.get("layer_id") or ""),
                samples=int(x.get("samples") or 0),
                mean=float_or(x.get("mean")),
                std=float_or(x.get("std")),
                min=float_or(x.get("min")),
                max=float_or(x.get("max")),
                trend_slope=float_or(x.get("trend_slope")),
                dominant_frequency=float_or(x.get("dominant_frequency")),
                periodicity_strength=float_or(x.get("periodicity_strength")),
                state_changes=int(x.get("state_changes") or 0),
            )
            for x in layers
            if isinstance(x, Mapping)
        ],
        increasing_trends=int(trends.get("increasing") or 0),
        decreasing_trends=int(trends.get("decreasing") or 0),
        flat_trends=int(trends.get("flat") or 0),
        periodic_layers=int(periodicity.get("periodic_layers") or 0),
        units=[_unit_statistics(x) for x in _objects(doc, "units")],
        oscillating_units=[_oscillating_unit(x) for x in _objects(doc, "oscillating_units")],
    )
    modelled = ("layers", "units", "oscillating_units")
    fill_metadata(out.raw, {k: v for k, v in doc.items() if k not in modelled})
    return out


# ---------------------------------------------------------------- layer health
def _stuck_unit(x: Mapping[str, Any]) -> analytics_pb2.StuckUnit:
    out = analytics_pb2.StuckUnit(
        unit=int(x.get("unit") or 0),
        location=location(x.get("location")),
        since=timestamp(opt_float(x.get("since"))),
        frames=int(x.get("frames") or 0),
        since_window_start=bool(x.get("since_window_start")),
        value=float_or(x.get("value")),
    )
    if x.get("since_step") is not None:
        out.since_step = int(x["since_step"])
    return out


def _unit_spike(x: Mapping[str, Any]) -> analytics_pb2.UnitSpike:
    out = analytics_pb2.UnitSpike(
        unit=int(x.get("unit") or 0),
        location=location(x.get("location")),
        score=float_or(x.get("score")),
        value=float_or(x.get("value")),
        median=float_or(x.get("median")),
        timestamp=timestamp(opt_float(x.get("timestamp"))),
    )
    if x.get("step") is not None:
        out.step = int(x["step"])
    return out


def layer_health(doc: Mapping[str, Any]) -> analytics_pb2.LayerHealth:
    """One layer of ``GET /api/layers/health`` -> LayerHealth."""
    out = analytics_pb2.LayerHealth(
        model_id=str(doc.get("model_id") or ""),
        layer_id=str(doc.get("layer_id") or ""),
        units=int(doc.get("units") or 0),
        frames=int(doc.get("frames") or 0),
        dead_units=[_stuck_unit(x) for x in _objects(doc, "dead_units")],
        dead_count=int(doc.get("dead_count") or 0),
        saturated_units=[_stuck_unit(x) for x in _objects(doc, "saturated_units")],
        saturated_count=int(doc.get("saturated_count") or 0),
        top_spikes=[_unit_spike(x) for x in _objects(doc, "top_spikes")],
    )
    criteria = doc.get("criteria")
    fill_metadata(out.criteria, criteria if isinstance(criteria, Mapping) else None)
    return out


# ---------------------------------------------------------------- anomalies
def anomaly(doc: Mapping[str, Any]) -> analytics_pb2.Anomaly:
    """A seed Anomaly dict (plus our ``sequence``) -> Anomaly.

    The kind's name is kept as sent (``anomaly_type_name``) so one outside the enum is not lost.
    """
    name = _name(doc.get("anomaly_type"))
    out = analytics_pb2.Anomaly(
        sequence=int(doc.get("sequence") or 0),
        anomaly_type=ANOMALY_TYPE.get(name, 0),
        anomaly_type_name=name,
        severity=SEVERITY.get(str(doc.get("severity")), 0),
        timestamp=timestamp(opt_float(doc.get("timestamp"))),
        layer=str(doc.get("layer") or ""),
        model_id=str(doc.get("model_id") or ""),
        score=float_or(doc.get("score")),
        description=str(doc.get("description") or ""),
    )
    fill_metadata(out.metadata, doc.get("metadata"))
    loc = location(doc.get("location"))
    if loc is not None:
        out.location.CopyFrom(loc)
    return out


def anomaly_update(
    anomalies: Iterable[analytics_pb2.Anomaly], when: float | None = None
) -> updates_pb2.AnomalyUpdate:
    """Wrap anomalies (ascending sequence) with the severity/description of the worst one."""
    items = list(anomalies)
    worst = max(items, key=lambda a: a.severity, default=None)
    update = updates_pb2.AnomalyUpdate(anomalies=items)
    if when is not None:
        update.timestamp.CopyFrom(timestamp(when))
    elif items:
        update.timestamp.CopyFrom(items[-1].timestamp)
    if worst is not None:
        update.severity = worst.severity
        update.description = worst.description
    return update


# ---------------------------------------------------------------- live updates
def heatmap_update(doc: Mapping[str, Any]) -> updates_pb2.HeatmapUpdate:
    """A ``heatmap_update`` payload -> HeatmapUpdate (values as float32 bytes)."""
    values = np.asarray(doc.get("values") or [], dtype="<f4")
    out = updates_pb2.HeatmapUpdate(
        timestamp=timestamp(opt_float(doc.get("timestamp"))),
        model_id=str(doc.get("model_id") or ""),
        layer=str(doc.get("layer") or ""),
        intensity=float_or(doc.get("intensity")),
        step=int(doc["step"]) if doc.get("step") is not None else -1,
        width=int(doc.get("width") or 0),
        height=int(doc.get("height") or 0),
        values=tensor(values),
    )
    loc = location(doc.get("location"))
    if loc is not None:
        out.location.CopyFrom(loc)
    return out


def correlation_update(doc: Mapping[str, Any]) -> updates_pb2.CorrelationUpdate:
    """A ``correlation_update`` payload -> CorrelationUpdate."""
    update = updates_pb2.CorrelationUpdate()
    matrix = correlation_from_json(doc, update.matrix)
    update.timestamp.CopyFrom(matrix.timestamp)
    return update


def _maps(items: Any) -> list[metadata_pb2.MetadataMap]:
    return [metadata_map(x if isinstance(x, Mapping) else {"value": x}) for x in items or []]


def temporal_update(doc: Mapping[str, Any]) -> updates_pb2.TemporalUpdate:
    """A ``temporal_update`` payload -> TemporalUpdate."""
    return updates_pb2.TemporalUpdate(
        timestamp=timestamp(opt_float(doc.get("timestamp"))),
        patterns=[temporal_pattern(p) for p in doc.get("patterns") or []],
        trends=_maps(doc.get("trends")),
        state_changes=_maps(doc.get("state_changes")),
    )


# ---------------------------------------------------------------- discovery
def model(doc: Mapping[str, Any]) -> models_pb2.Model:
    """A ``GET /api/models`` entry -> Model."""
    out = models_pb2.Model(
        model_id=str(doc.get("model_id") or ""),
        frames=int(doc.get("frames") or 0),
        layers=[
            models_pb2.Layer(
                layer_id=str(layer.get("layer_id") or ""),
                units=int(layer.get("units") or 0),
                width=int(layer.get("width") or 0),
                height=int(layer.get("height") or 0),
                frames=int(layer.get("frames") or 0),
                units_detail=[
                    models_pb2.Unit(
                        index=int(u.get("index") or 0),
                        location=common_pb2.Location(
                            x=float_or(u.get("x")), y=float_or(u.get("y"))
                        ),
                    )
                    for u in layer.get("units_detail") or []
                ],
            )
            for layer in doc.get("layers") or []
        ],
    )
    for name in ("first_timestamp", "last_timestamp"):
        if doc.get(name) is not None:
            getattr(out, name).CopyFrom(timestamp(float(doc[name])))
    return out


# ---------------------------------------------------------------- view state
# The seed's [start_ms, end_ms] has no open end: an unset end is sent as the last
# millisecond a Timestamp can hold, and read back as unset.
_FAR_FUTURE_MS = (TIMESTAMP_MAX_S + 1) * 1000.0 - 1.0


def _ms(ts: timestamp_pb2.Timestamp) -> float:
    return ts.seconds * 1000.0 + ts.nanos / 1e6


def filter_to_json(flt: view_pb2.Filter) -> JSONDict:
    """Filter -> the seed's ``POST /api/filter`` body (time range in milliseconds)."""
    body: JSONDict = {}
    if flt.model_ids:
        body["model_ids"] = list(flt.model_ids)
    if flt.layer_ids:
        body["layer_ids"] = list(flt.layer_ids)
    if flt.HasField("intensity_range"):
        body["intensity_range"] = [flt.intensity_range.min, flt.intensity_range.max]
    if flt.HasField("spatial_bounds"):
        b = flt.spatial_bounds
        body["spatial_bounds"] = {
            "min_x": b.min_x,
            "min_y": b.min_y,
            "max_x": b.max_x,
            "max_y": b.max_y,
        }
    if flt.HasField("time_range"):
        tr = flt.time_range
        # The seed's [start_ms, end_ms] has no open end: an unset bound becomes far away.
        body["time_range"] = [
            _ms(tr.start) if tr.HasField("start") else 0.0,
            _ms(tr.end) if tr.HasField("end") else _FAR_FUTURE_MS,
        ]
    return body


def filter_from_json(doc: Mapping[str, Any]) -> view_pb2.Filter:
    """The server's filter object -> Filter."""
    out = view_pb2.Filter(
        model_ids=[str(x) for x in doc.get("model_ids") or []],
        layer_ids=[str(x) for x in doc.get("layer_ids") or []],
    )
    ir = doc.get("intensity_range")
    if isinstance(ir, list | tuple) and len(ir) == 2:
        out.intensity_range.CopyFrom(
            view_pb2.IntensityRange(min=float_or(ir[0]), max=float_or(ir[1]))
        )
    sb = doc.get("spatial_bounds")
    if isinstance(sb, Mapping):
        out.spatial_bounds.CopyFrom(
            view_pb2.SpatialBounds(
                min_x=float_or(sb.get("min_x")),
                min_y=float_or(sb.get("min_y")),
                max_x=float_or(sb.get("max_x")),
                max_y=float_or(sb.get("max_y")),
            )
        )
    tr = doc.get("time_range")
    if isinstance(tr, list | tuple) and len(tr) == 2:
        out.time_range.SetInParent()
        if tr[0] is not None:
            out.time_range.start.CopyFrom(timestamp(float(tr[0]) / 1000.0))
        if tr[1] is not None and float(tr[1]) < _FAR_FUTURE_MS:
            out.time_range.end.CopyFrom(timestamp(float(tr[1]) / 1000.0))
    return out


def theme_from_json(doc: Mapping[str, Any]) -> view_pb2.ThemeSettings:
    """``{"theme", "custom_colors"}`` -> ThemeSettings."""
    return view_pb2.ThemeSettings(
        theme=THEME.get(str(doc.get("theme")), 0),
        custom_colors=[str(c) for c in doc.get("custom_colors") or []],
    )


def layout_to_json(layout: view_pb2.Layout) -> JSONDict:
    """Layout -> the seed's ``POST /api/layout`` body."""
    return {
        "panel_positions": {k: {"x": v.x, "y": v.y} for k, v in layout.panel_positions.items()},
        "panel_sizes": {
            k: {"width": v.width, "height": v.height} for k, v in layout.panel_sizes.items()
        },
        "visibility": dict(layout.visibility),
        "z_order": list(layout.z_order),
    }


def layout_from_json(doc: Mapping[str, Any]) -> view_pb2.Layout:
    """The server's layout object -> Layout."""
    out = view_pb2.Layout(z_order=[str(x) for x in doc.get("z_order") or []])
    for k, v in (doc.get("panel_positions") or {}).items():
        out.panel_positions[k].CopyFrom(
            view_pb2.PanelPosition(x=float_or(v.get("x")), y=float_or(v.get("y")))
        )
    for k, v in (doc.get("panel_sizes") or {}).items():
        out.panel_sizes[k].CopyFrom(
            view_pb2.PanelSize(width=float_or(v.get("width")), height=float_or(v.get("height")))
        )
    for k, v in (doc.get("visibility") or {}).items():
        out.visibility[k] = bool(v)
    return out


# ---------------------------------------------------------------- compare and export
def comparison(doc: Mapping[str, Any]) -> analytics_pb2.ModelComparison:
    """``POST /api/compare`` answer -> ModelComparison (similarity as float64 Tensor)."""
    if "similarity_matrix" not in doc:
        raise PayloadError("no 'similarity_matrix' in compare answer")
    known = {"model_ids", "similarity_matrix", "metrics", "per_metric", "layer_similarity", "steps"}
    per_metric = doc.get("per_metric") or {}
    out = analytics_pb2.ModelComparison(
        model_ids=[str(x) for x in doc.get("model_ids") or []],
        similarity_matrix=matrix_json(doc["similarity_matrix"], "<f8"),
        metrics=[
            analytics_pb2.MetricComparison(
                metric=name, values={str(k): float_or(v) for k, v in values.items()}
            )
            for name, values in per_metric.items()
            if isinstance(values, Mapping)
        ],
        layer_similarity=[
            analytics_pb2.LayerSimilarity(
                model_a=str(x.get("model_a") or ""),
                layer_a=str(x.get("layer_a") or ""),
                model_b=str(x.get("model_b") or ""),
                layer_b=str(x.get("layer_b") or ""),
                cka=float_or(x.get("cka")),
            )
            for x in doc.get("layer_similarity") or []
        ],
        steps=int(doc.get("steps") or 0),
    )
    notes = {k: v for k, v in doc.items() if k not in known}
    fill_metadata(out.metadata, notes | {"metrics": list(doc.get("metrics") or [])})
    return out


def exported_file(doc: Mapping[str, Any]) -> export_pb2.ExportedFile:
    """``{"name", "size"}`` -> ExportedFile."""
    return export_pb2.ExportedFile(name=str(doc.get("name") or ""), size=int(doc.get("size") or 0))


def export_result(doc: Mapping[str, Any], requested: Any) -> export_pb2.ExportResult:
    """``POST /api/export/correlation`` answer -> ExportResult (format echoed when absent)."""
    fmt = EXPORT_FORMAT.get(str(doc.get("format")), requested)
    return export_pb2.ExportResult(
        filename=str(doc.get("filename") or ""),
        format=fmt,
        files=[exported_file(f) for f in doc.get("files") or [] if isinstance(f, Mapping)],
        bytes=int(doc.get("bytes") or 0),
    )


MAX_WARNINGS = 10
"""Warnings an answer carries at most; the server says one or two."""
MAX_WARNING_CHARS = 1000
"""Characters kept of one warning: the upstream's text is bounded before it is passed on."""


def warnings_from_json(value: Any) -> list[str]:
    """An answer's ``warnings`` (a list of sentences) as strings, bounded; anything else
    (an upstream without them) is none."""
    if not isinstance(value, list):
        return []
    return [str(w)[:MAX_WARNING_CHARS] for w in value[:MAX_WARNINGS] if w]


def warning_from_header(value: str | None) -> list[str]:
    """``X-Render-Warning`` (one JSON string) as a warnings list; a header that is not
    JSON is taken as the text itself."""
    if not value:
        return []
    try:
        text = json.loads(value)
    except ValueError:
        text = value
    return warnings_from_json([text])


def warnings_from_header(value: str | None) -> list[str]:
    """``X-Filter-Warnings`` (a JSON list of sentences) as a warnings list; a header that
    is not JSON is taken as one sentence."""
    if not value:
        return []
    try:
        doc = json.loads(value)
    except ValueError:
        doc = [value]
    return warnings_from_json(doc if isinstance(doc, list) else [doc])
