"""Every JSON <-> protobuf conversion of the bridge, in one place.

The upstream speaks the seed's JSON (float seconds, severity words, nested
dicts); the protos speak Timestamps, enums, Tensors and Structs. Handlers stay
thin by calling only these functions, so a change of wire shape is a change
here.
"""

from __future__ import annotations

import json
import math
import struct as _struct
from collections import OrderedDict
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
from google.protobuf import struct_pb2, timestamp_pb2
from neural_heatmap.v1 import (
    analytics_pb2,
    common_pb2,
    export_pb2,
    models_pb2,
    tensor_pb2,
    updates_pb2,
    view_pb2,
)

JSONDict = dict[str, Any]
MATRIX_MEDIA_TYPE = "application/vnd.neural-heatmap.matrix"
FRAMES_MEDIA_TYPE = "application/vnd.neural-heatmap.frames"


class PayloadError(ValueError):
    """The upstream's JSON does not have the shape the contract promises."""


# ---------------------------------------------------------------- enums (word <-> number)
SEVERITY: dict[str, Any] = {
    "low": common_pb2.SEVERITY_LOW,
    "medium": common_pb2.SEVERITY_MEDIUM,
    "high": common_pb2.SEVERITY_HIGH,
    "critical": common_pb2.SEVERITY_CRITICAL,
}
PATTERN_TYPE: dict[str, Any] = {
    "periodic": analytics_pb2.PATTERN_TYPE_PERIODIC,
    "trend": analytics_pb2.PATTERN_TYPE_TREND,
    "state_change": analytics_pb2.PATTERN_TYPE_STATE_CHANGE,
}
ANOMALY_TYPE: dict[str, Any] = {
    "non_finite": analytics_pb2.ANOMALY_TYPE_NON_FINITE,
    "exploding": analytics_pb2.ANOMALY_TYPE_EXPLODING,
    "dead_units": analytics_pb2.ANOMALY_TYPE_DEAD_UNITS,
    "saturation": analytics_pb2.ANOMALY_TYPE_SATURATION,
    "spike": analytics_pb2.ANOMALY_TYPE_SPIKE,
}
THEME: dict[str, Any] = {
    "thermal": view_pb2.THEME_THERMAL,
    "plasma": view_pb2.THEME_PLASMA,
    "holographic": view_pb2.THEME_HOLOGRAPHIC,
    "contour": view_pb2.THEME_CONTOUR,
    "custom": view_pb2.THEME_CUSTOM,
}
EXPORT_FORMAT: dict[str, Any] = {
    "csv": export_pb2.EXPORT_FORMAT_CSV,
    "json": export_pb2.EXPORT_FORMAT_JSON,
    "tensorboard": export_pb2.EXPORT_FORMAT_TENSORBOARD,
    "parquet": export_pb2.EXPORT_FORMAT_PARQUET,
}
GRANULARITY: dict[str, Any] = {
    "layer": analytics_pb2.GRANULARITY_LAYER,
    "unit": analytics_pb2.GRANULARITY_UNIT,
}


def word(table: Mapping[str, int], number: int) -> str:
    """The JSON word of an enum value ("" for UNSPECIFIED or unknown)."""
    for key, value in table.items():
        if value == number:
            return key
    return ""


# ---------------------------------------------------------------- scalars
# google.protobuf.Timestamp's range: 0001-01-01T00:00:00Z .. 9999-12-31T23:59:59.999999999Z.
TIMESTAMP_MIN_S = -62_135_596_800
TIMESTAMP_MAX_S = 253_402_300_799


def timestamp(seconds: float | None) -> timestamp_pb2.Timestamp:
    """Float seconds since the epoch -> Timestamp (unset for None or non-finite).

    Values beyond the Timestamp range are clamped to its ends: the upstream may
    hold such times (its JSON numbers have no range), and an answer that cannot
    be converted would turn every later read into an INTERNAL error.
    """
    ts = timestamp_pb2.Timestamp()
    if seconds is not None and math.isfinite(seconds):
        if seconds < TIMESTAMP_MIN_S:
            ts.seconds = TIMESTAMP_MIN_S
        elif seconds >= TIMESTAMP_MAX_S + 1:
            ts.seconds, ts.nanos = TIMESTAMP_MAX_S, 999_999_999
        else:
            ts.FromNanoseconds(round(seconds * 1e9))
    return ts


def seconds(ts: timestamp_pb2.Timestamp) -> float:
    """Timestamp -> float seconds since the epoch."""
    return ts.seconds + ts.nanos / 1e9


def to_struct(doc: Mapping[str, Any] | None) -> struct_pb2.Struct:
    """A JSON object -> Struct (numbers become doubles, as JSON has it)."""
    out = struct_pb2.Struct()
    if doc:
        out.update(dict(doc))
    return out


def from_struct(value: struct_pb2.Struct) -> JSONDict:
    """Struct -> JSON object."""
    from google.protobuf import json_format

    doc = json_format.MessageToDict(value)
    return doc if isinstance(doc, dict) else {}


def _float(value: Any, default: float = 0.0) -> float:
    return default if value is None else float(value)


def _opt_float(value: Any) -> float | None:
    return None if value is None else float(value)


def location(doc: Any) -> common_pb2.Location | None:
    """``{"x", "y"}`` -> Location (None when absent)."""
    if not isinstance(doc, Mapping):
        return None
    return common_pb2.Location(x=_float(doc.get("x")), y=_float(doc.get("y")))


# ---------------------------------------------------------------- tensors
def tensor(array: np.ndarray[Any, Any]) -> tensor_pb2.Tensor:
    """A float32/float64 numpy array -> Tensor of little-endian raw bytes."""
    if array.dtype == np.float64:
        dtype, arr = tensor_pb2.DATA_TYPE_FLOAT64, np.ascontiguousarray(array, "<f8")
    else:
        dtype, arr = tensor_pb2.DATA_TYPE_FLOAT32, np.ascontiguousarray(array, "<f4")
    return tensor_pb2.Tensor(shape=list(arr.shape), dtype=dtype, data=arr.tobytes())


def matrix_json(rows: Any, dtype: str) -> tensor_pb2.Tensor:
    """A JSON list of rows (possibly empty) -> square Tensor."""
    arr = np.asarray(rows if rows else [], dtype=dtype)
    if arr.size == 0:
        arr = arr.reshape(0, 0)
    if arr.ndim != 2:
        raise PayloadError(f"matrix must be 2-D, got shape {arr.shape}")
    return tensor(arr)


# ---------------------------------------------------------------- correlation
# upb copies a message passed to a constructor or to CopyFrom by encoding and
# decoding it: ~13 ms for a 2048 x 2048 float32 matrix, each time. The matrix
# functions below therefore fill the caller's message in place (``out``), so the
# float bytes are copied once, from the upstream's answer into the message.
def _fill_tensor(out: tensor_pb2.Tensor, shape: list[int], dtype: Any, data: bytes) -> None:
    out.shape.extend(shape)
    out.dtype = dtype
    out.data = data


def _fill_correlation(
    out: analytics_pb2.CorrelationMatrix, labels: Any, when: Any, metadata: Any
) -> None:
    out.labels.extend(str(x) for x in labels or [])
    stamp = timestamp(_opt_float(when))
    if stamp.seconds or stamp.nanos:
        out.timestamp.seconds, out.timestamp.nanos = stamp.seconds, stamp.nanos
    else:
        out.timestamp.SetInParent()
    out.metadata.SetInParent()
    if metadata:
        out.metadata.update(dict(metadata))


def correlation_from_json(
    doc: Mapping[str, Any], out: analytics_pb2.CorrelationMatrix | None = None
) -> analytics_pb2.CorrelationMatrix:
    """The seed's ``{matrix, labels, timestamp, metadata}`` -> CorrelationMatrix (float32).

    Fills ``out`` in place when given (see above), else a new message.
    """
    if "matrix" not in doc:
        raise PayloadError("no 'matrix' in correlation answer")
    out = analytics_pb2.CorrelationMatrix() if out is None else out
    arr = np.asarray(doc["matrix"] or [], dtype="<f4")
    if arr.size == 0:
        arr = arr.reshape(0, 0)
    if arr.ndim != 2:
        raise PayloadError(f"matrix must be 2-D, got shape {arr.shape}")
    _fill_tensor(out.matrix, list(arr.shape), tensor_pb2.DATA_TYPE_FLOAT32, arr.tobytes())
    _fill_correlation(out, doc.get("labels"), doc.get("timestamp"), doc.get("metadata"))
    return out


def _binary_matrix_header(body: bytes) -> tuple[dict[str, Any], list[int], int]:
    """Check a binary matrix answer and return its header, shape and where the floats start.

    Layout: ``uint32 LE header_length`` + JSON header + ``n*n`` float32 LE bytes.
    """
    if len(body) < 4:
        raise PayloadError("binary matrix shorter than its header length")
    (hlen,) = _struct.unpack_from("<I", body, 0)
    try:
        header = json.loads(body[4 : 4 + hlen])
    except ValueError as exc:
        raise PayloadError(f"binary matrix header is not JSON: {exc}") from exc
    if not isinstance(header, dict):
        raise PayloadError(f"binary matrix header is not an object: {header!r}")
    shape = [int(n) for n in header.get("shape", [])]
    if header.get("dtype", "float32") != "float32" or len(shape) != 2:
        raise PayloadError(f"unexpected matrix header {header!r}")
    start, expected = 4 + hlen, shape[0] * shape[1] * 4
    if len(body) - start != expected:
        got = len(body) - start
        raise PayloadError(f"matrix body has {got} bytes, shape {shape} needs {expected}")
    return header, shape, start


def correlation_from_binary(
    body: bytes, out: analytics_pb2.CorrelationMatrix | None = None
) -> analytics_pb2.CorrelationMatrix:
    """The binary matrix answer -> CorrelationMatrix, the float bytes copied as they are.

    Layout: ``uint32 LE header_length`` + JSON header + ``n*n`` float32 LE bytes.
    Fills ``out`` in place when given (see above), else a new message.
    """
    header, shape, start = _binary_matrix_header(body)
    out = analytics_pb2.CorrelationMatrix() if out is None else out
    _fill_tensor(out.matrix, shape, tensor_pb2.DATA_TYPE_FLOAT32, body[start:])
    _fill_correlation(out, header.get("labels"), header.get("timestamp"), header.get("metadata"))
    return out


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        low, n = n & 0x7F, n >> 7
        if n:
            out.append(low | 0x80)
        else:
            out.append(low)
            return bytes(out)


def _len_field(number: int, length: int) -> bytes:
    """Tag (wire type 2, length-delimited) and length of a field, without its payload."""
    return _varint(number << 3 | 2) + _varint(length)


_RESPONSE_MATRIX = 1  # GetCorrelationMatrixResponse.matrix
_MATRIX_TENSOR = analytics_pb2.CorrelationMatrix.DESCRIPTOR.fields_by_name["matrix"].number
_TENSOR_DATA = tensor_pb2.Tensor.DESCRIPTOR.fields_by_name["data"].number


def correlation_response_wire(body: bytes, head: Any) -> bytes:
    """A binary matrix answer -> the serialized ``GetCorrelationMatrixResponse``.

    ``head`` is an empty ``GetCorrelationMatrixResponse`` (passed in to keep this
    module free of the service protos). Everything but the float bytes is filled
    into it and serialized; the bytes follow as a second occurrence of
    ``matrix.matrix`` holding only ``data``, which protobuf parsers merge into the
    first (singular message fields merge). So the floats are copied once, from
    the upstream's answer into the wire bytes, instead of into a message and
    again by its serializer (~15 ms for 2048 x 2048).
    """
    header, shape, start = _binary_matrix_header(body)
    size = len(body) - start
    _fill_tensor(head.matrix.matrix, shape, tensor_pb2.DATA_TYPE_FLOAT32, b"")
    _fill_correlation(
        head.matrix, header.get("labels"), header.get("timestamp"), header.get("metadata")
    )
    if not size:
        return bytes(head.SerializeToString())
    tensor = _len_field(_TENSOR_DATA, size)
    matrix = _len_field(_MATRIX_TENSOR, len(tensor) + size)
    response = _len_field(_RESPONSE_MATRIX, len(matrix) + len(tensor) + size)
    return b"".join(
        (head.SerializeToString(), response, matrix, tensor, memoryview(body)[start:])
    )


def serialize_message_or_wire(message: Any) -> bytes:
    """A response serializer that passes already-serialized answers through."""
    if isinstance(message, bytes):
        return message
    return bytes(message.SerializeToString())


# ---------------------------------------------------------------- temporal
def temporal_pattern(doc: Mapping[str, Any]) -> analytics_pb2.TemporalPattern:
    """A seed TemporalPattern dict -> TemporalPattern (model/layer lifted from metadata)."""
    meta = doc.get("metadata") or {}
    out = analytics_pb2.TemporalPattern(
        pattern_type=PATTERN_TYPE.get(str(doc.get("pattern_type")), 0),
        confidence=_float(doc.get("confidence")),
        metadata=to_struct(meta),
        model_id=str(meta.get("model_id") or doc.get("model_id") or ""),
        layer_id=str(meta.get("layer_id") or doc.get("layer_id") or ""),
    )
    for name in ("frequency", "amplitude", "phase"):
        if doc.get(name) is not None:
            setattr(out, name, float(doc[name]))
    for name in ("start_time", "end_time"):
        if doc.get(name) is not None:
            getattr(out, name).CopyFrom(timestamp(float(doc[name])))
    return out


def temporal_statistics(doc: Mapping[str, Any]) -> analytics_pb2.TemporalStatistics:
    """``GET /api/temporal/stats`` -> TemporalStatistics; anything unmodelled goes to ``raw``."""
    trends = doc.get("trends") if isinstance(doc.get("trends"), Mapping) else {}
    periodicity = doc.get("periodicity") if isinstance(doc.get("periodicity"), Mapping) else {}
    layers = doc.get("layers") if isinstance(doc.get("layers"), list) else []
    assert isinstance(trends, Mapping) and isinstance(periodicity, Mapping)
    assert isinstance(layers, list)
    return analytics_pb2.TemporalStatistics(
        model_id=str(doc.get("model_id") or ""),
        layers=[
            analytics_pb2.LayerStatistics(
                model_id=str(x.get("model_id") or ""),
                layer_id=str(x.get("layer_id") or ""),
                samples=int(x.get("samples") or 0),
                mean=_float(x.get("mean")),
                std=_float(x.get("std")),
                min=_float(x.get("min")),
                max=_float(x.get("max")),
                trend_slope=_float(x.get("trend_slope")),
                dominant_frequency=_float(x.get("dominant_frequency")),
                periodicity_strength=_float(x.get("periodicity_strength")),
                state_changes=int(x.get("state_changes") or 0),
            )
            for x in layers
            if isinstance(x, Mapping)
        ],
        increasing_trends=int(trends.get("increasing") or 0),
        decreasing_trends=int(trends.get("decreasing") or 0),
        flat_trends=int(trends.get("flat") or 0),
        periodic_layers=int(periodicity.get("periodic_layers") or 0),
        raw=to_struct({k: v for k, v in doc.items() if k != "layers"}),
    )


# ---------------------------------------------------------------- anomalies
def anomaly(doc: Mapping[str, Any]) -> analytics_pb2.Anomaly:
    """A seed Anomaly dict (plus our ``sequence``) -> Anomaly."""
    out = analytics_pb2.Anomaly(
        sequence=int(doc.get("sequence") or 0),
        anomaly_type=ANOMALY_TYPE.get(str(doc.get("anomaly_type")), 0),
        severity=SEVERITY.get(str(doc.get("severity")), 0),
        timestamp=timestamp(_opt_float(doc.get("timestamp"))),
        layer=str(doc.get("layer") or ""),
        model_id=str(doc.get("model_id") or ""),
        score=_float(doc.get("score")),
        description=str(doc.get("description") or ""),
        metadata=to_struct(doc.get("metadata")),
    )
    loc = location(doc.get("location"))
    if loc is not None:
        out.location.CopyFrom(loc)
    return out


class AnomalyCache:
    """A bounded LRU of converted ``Anomaly`` messages, keyed by ``sequence``.

    An anomaly in the server's log never changes once it has its sequence, so
    converting it again on every ``GetAnomalies`` page (~10 us each, most of
    the bridge's own work per call) is wasted. The bridge talks to one upstream
    for its whole life, so the sequence is enough of a key; still, each entry
    keeps a cheap fingerprint of the JSON it came from (timestamp, type,
    severity, model, layer) and a mismatch (the server's data dir was wiped and
    sequences started over) drops the whole cache. Anomalies without a
    sequence (seed-only upstreams answer 0) are converted every time.

    The cached messages are shared: callers must copy them into their answer
    (protobuf does when a message is added to a repeated field) and never
    modify them.

    Args:
        size: Most entries kept; 0 turns the cache off.
    """

    def __init__(self, size: int) -> None:
        self.size = size
        self.hits = 0
        self.misses = 0
        self.resets = 0
        self._items: OrderedDict[int, tuple[tuple[Any, ...], analytics_pb2.Anomaly]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._items)

    def clear(self) -> None:
        """Forget every entry."""
        self._items.clear()

    def get(self, doc: Mapping[str, Any]) -> analytics_pb2.Anomaly:
        """The converted ``doc``: from the cache when it holds the same anomaly."""
        seq = doc.get("sequence")
        if not self.size or not seq or not isinstance(seq, int):
            return anomaly(doc)
        fingerprint = (
            doc.get("timestamp"),
            doc.get("anomaly_type"),
            doc.get("severity"),
            doc.get("model_id"),
            doc.get("layer"),
        )
        items = self._items
        hit = items.get(seq)
        if hit is not None:
            if hit[0] == fingerprint:
                items.move_to_end(seq)
                self.hits += 1
                return hit[1]
            # Same sequence, different anomaly: a new log behind the same address.
            self.resets += 1
            items.clear()
        self.misses += 1
        msg = anomaly(doc)
        items[seq] = (fingerprint, msg)
        if len(items) > self.size:
            items.popitem(last=False)
        return msg

    def convert(self, docs: Iterable[Mapping[str, Any]] | None) -> list[analytics_pb2.Anomaly]:
        """``get`` for each anomaly of a page, in order."""
        return [self.get(d) for d in docs or ()]


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
        timestamp=timestamp(_opt_float(doc.get("timestamp"))),
        model_id=str(doc.get("model_id") or ""),
        layer=str(doc.get("layer") or ""),
        intensity=_float(doc.get("intensity")),
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


def _structs(items: Any) -> list[struct_pb2.Struct]:
    return [to_struct(x if isinstance(x, Mapping) else {"value": x}) for x in items or []]


def temporal_update(doc: Mapping[str, Any]) -> updates_pb2.TemporalUpdate:
    """A ``temporal_update`` payload -> TemporalUpdate."""
    return updates_pb2.TemporalUpdate(
        timestamp=timestamp(_opt_float(doc.get("timestamp"))),
        patterns=[temporal_pattern(p) for p in doc.get("patterns") or []],
        trends=_structs(doc.get("trends")),
        state_changes=_structs(doc.get("state_changes")),
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
                        location=common_pb2.Location(x=_float(u.get("x")), y=_float(u.get("y"))),
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
        out.intensity_range.CopyFrom(view_pb2.IntensityRange(min=_float(ir[0]), max=_float(ir[1])))
    sb = doc.get("spatial_bounds")
    if isinstance(sb, Mapping):
        out.spatial_bounds.CopyFrom(
            view_pb2.SpatialBounds(
                min_x=_float(sb.get("min_x")),
                min_y=_float(sb.get("min_y")),
                max_x=_float(sb.get("max_x")),
                max_y=_float(sb.get("max_y")),
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
            view_pb2.PanelPosition(x=_float(v.get("x")), y=_float(v.get("y")))
        )
    for k, v in (doc.get("panel_sizes") or {}).items():
        out.panel_sizes[k].CopyFrom(
            view_pb2.PanelSize(width=_float(v.get("width")), height=_float(v.get("height")))
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
    return analytics_pb2.ModelComparison(
        model_ids=[str(x) for x in doc.get("model_ids") or []],
        similarity_matrix=matrix_json(doc["similarity_matrix"], "<f8"),
        metrics=[
            analytics_pb2.MetricComparison(
                metric=name, values={str(k): _float(v) for k, v in values.items()}
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
                cka=_float(x.get("cka")),
            )
            for x in doc.get("layer_similarity") or []
        ],
        steps=int(doc.get("steps") or 0),
        metadata=to_struct(
            {k: v for k, v in doc.items() if k not in known}
            | {"metrics": list(doc.get("metrics") or [])}
        ),
    )


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
